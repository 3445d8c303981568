#!/usr/bin/env bash
# Issue 8 end to end: a server, two enrolled gateways (one with a real nginx on loopback),
# delegation, discovery, inventory, install, restart and jobs through the CLI, the key flow
# through the REST API, and tenancy: tests/integration/e2e/test_e2e.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
: "${CERTO_FIXTURES:?CERTO_FIXTURES must point to tests/fixtures}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/e2e/test_e2e.py"
