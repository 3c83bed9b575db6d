#!/usr/bin/env bash
# The service's load run (not a test): bdcert serve --workers 2 on a fresh PostgreSQL schema,
# locust headless on loopback for DURATION (default 60s) with USERS callers (default 8);
# writes throughput, p50/p99 latency and errors per operation to benchmarks/load/RESULTS.md.
#
#   benchmarks/load/run.sh                     # PostgreSQL at $BDCERT_TEST_POSTGRES_URL
#   DURATION=30s USERS=4 benchmarks/load/run.sh
#
# Needs bdcert[service,postgres,load] (locust) and a PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
export PYTHONPATH="sdk:plugins:adapters:conformance:.${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m benchmarks.load.run "$@"
