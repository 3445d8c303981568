#!/usr/bin/env bash
# The REST API's scale-out: two server processes, one database, three gateways over real HTTPS: tests/integration/api/test_scaleout.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/api/test_scaleout.py"
