#!/usr/bin/env bash
# The REST API's the gateway embedded in certo server over real HTTPS: tests/integration/api/test_local.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/api/test_local.py"
