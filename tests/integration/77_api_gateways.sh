#!/usr/bin/env bash
# The REST API's gateways: enrollment, mutual TLS, sync, delegation over real HTTPS: tests/integration/api/test_gateways.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/api/test_gateways.py"
