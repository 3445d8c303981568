#!/usr/bin/env bash
# Remote administration: `certo --server URL --token-file F ...` against real servers on
# loopback, compared with the offline commands: tests/integration/remote/test_remote.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/remote/test_remote.py"
