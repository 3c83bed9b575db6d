#!/usr/bin/env bash
# The service's load run (not a test): bdcert serve --workers 2 on a fresh PostgreSQL schema,
# locust headless on loopback for DURATION (default 60s) with USERS callers (default 8);
# writes throughput, p50/p99 latency and errors per operation to a new file,
# benchmarks/load/results/run-<UTC time>.md (--update-results: the committed RESULTS.md).
#
#   benchmarks/load/run.sh                     # PostgreSQL at $BDCERT_TEST_POSTGRES_URL
#   DURATION=30s USERS=4 benchmarks/load/run.sh
#   benchmarks/load/run.sh --update-results    # overwrite benchmarks/load/RESULTS.md
#
# Needs bdcert[service,postgres,load] (locust) and a PostgreSQL server; checks both first.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export BDCERT_TEST_POSTGRES_URL=${BDCERT_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
if ! "$PYTHON" -c 'import locust' 2>/dev/null; then
    echo "run.sh: locust is not installed for $PYTHON. Install the load extra:" >&2
    echo "    .venv/bin/pip install -e '.[load]'" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import os, sqlalchemy
sqlalchemy.create_engine(os.environ["BDCERT_TEST_POSTGRES_URL"]).connect().close()' 2>/dev/null; then
    echo "run.sh: cannot connect to PostgreSQL at \$BDCERT_TEST_POSTGRES_URL =" >&2
    echo "    $BDCERT_TEST_POSTGRES_URL" >&2
    echo "start a server there (database 'test'), or set BDCERT_TEST_POSTGRES_URL to one" >&2
    exit 2
fi
export PYTHONPATH="sdk:plugins:adapters:conformance:.${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m benchmarks.load.run "$@"
