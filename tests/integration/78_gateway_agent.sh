#!/usr/bin/env bash
# The gateway joining a server (issue 8, gateway side): enroll, sync, status and the job
# loop against a real certo server on loopback: tests/integration/agent/test_agent.py.
set -euo pipefail
: "${CERTO:?CERTO must point to the certo binary}"
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$(dirname "$0")/agent/test_agent.py"
