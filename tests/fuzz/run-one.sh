#!/bin/sh
# Runs one libFuzzer harness for a bounded time on a copy of its committed seed corpus.
# Usage: run-one.sh HARNESS SEED_CORPUS_DIR WORK_DIR SECONDS
# Exits non-zero on any crash, leak or sanitizer report; the reproducer is kept in WORK_DIR.
set -eu
harness=$1 seeds=$2 work=$3 secs=$4
rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"
[ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus"/
exec "$harness" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus"
