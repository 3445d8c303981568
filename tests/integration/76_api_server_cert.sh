#!/usr/bin/env bash
# The REST API's server certificate and trust store over real HTTPS: tests/integration/api/test_server_cert.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/api/test_server_cert.py"
