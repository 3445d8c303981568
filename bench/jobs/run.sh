#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/jobs: the job queue between `certo server` and its gateways, on SQLite and on
# PostgreSQL (a throw-away cluster from tests/pg/pgctl.sh): the queue itself
# (bench/jobs/bench.py) and end to end through `certo gateway run` daemons installing on
# PEM endpoints (bench/jobs/agents.py).
#
# Usage: bench/jobs/run.sh [path/to/certo]
#        Without an argument a release build in build-bench/ is configured if needed and
#        brought up to date first.
# Env:   BENCH_JOBS=10000 BENCH_WORKERS=8 BENCH_HELD=300 BENCH_INSTALLS=200
#        BENCH_PG=1 (0 skips PostgreSQL)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CERTO_BIN=${1:-}
if [ -z "$CERTO_BIN" ]; then
  [ -f "$ROOT/build-bench/build.ninja" ] ||
    cmake -S "$ROOT" -B "$ROOT/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCERTO_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build-bench" >/dev/null
  CERTO_BIN=$ROOT/build-bench/bin/certo
fi
export CERTO=$(cd "$(dirname "$CERTO_BIN")" && pwd)/$(basename "$CERTO_BIN")
export CERTO_CONTAINER=0 PYTHONDONTWRITEBYTECODE=1
PG_DIR=
cleanup() { if [ -n "$PG_DIR" ]; then bash "$ROOT/tests/pg/pgctl.sh" stop "$PG_DIR" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; fi; }
trap cleanup EXIT INT TERM

echo "bench/jobs: $(nproc) cores shared by the server, PostgreSQL and the Python pollers"
BENCH_LABEL=sqlite python3 "$HERE/bench.py"
BENCH_LABEL=sqlite python3 "$HERE/agents.py"
if [ "${BENCH_PG:-1}" != 0 ]; then
  PG_DIR=$(mktemp -d /tmp/certo-bench-jobs-pg-XXXXXX)
  chmod 0711 "$PG_DIR"
  bash "$ROOT/tests/pg/pgctl.sh" start "$PG_DIR" >/dev/null
  CERTO_TEST_PG_URL_FILE=$PG_DIR/url BENCH_LABEL=postgresql python3 "$HERE/bench.py"
  CERTO_TEST_PG_URL_FILE=$PG_DIR/url BENCH_LABEL=postgresql python3 "$HERE/agents.py"
fi
