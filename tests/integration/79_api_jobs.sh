#!/usr/bin/env bash
# The REST API's jobs between the server and its gateways over real HTTPS: tests/integration/api/test_jobs.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/api/test_jobs.py"
