"""The load run's driver (``benchmarks/load/run.sh``): workspace, server, locust, RESULTS.md.

1. a demo workspace on a fresh PostgreSQL schema, its callers given API tokens by
   ``bdcert tokens add`` and ``[service] rate_limit = 0`` (the run measures the service, not
   the brake);
2. ``bdcert serve --workers 2`` on a free loopback port;
3. ``locust --headless`` (:mod:`benchmarks.load.locustfile`) for ``$DURATION`` (default 60s)
   with ``$USERS`` callers (default 8);
4. a results file: per operation the requests, throughput, p50 and p99 latency and errors,
   from locust's CSV statistics — ``benchmarks/load/results/run-<UTC time>.md`` (ignored by git),
   or, with ``--update-results``, the committed ``benchmarks/load/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "bdcert_adapters.cli", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    from tests.service.server_process import serve

    parser = argparse.ArgumentParser(prog="benchmarks/load/run.sh")
    parser.add_argument(
        "--update-results",
        action="store_true",
        help="overwrite the committed benchmarks/load/RESULTS.md (default: a new file in results/)",
    )
    args = parser.parse_args(argv)
    now = datetime.datetime.now(datetime.UTC)
    out = (
        HERE / "RESULTS.md"
        if args.update_results
        else HERE / "results" / f"run-{now:%Y%m%dT%H%M%SZ}.md"
    )
    from tests.support import database_url, make_workspace

    duration = os.environ.get("DURATION", "60s")
    users = os.environ.get("USERS", "8")
    with tempfile.TemporaryDirectory(prefix="bdcert-load-") as tmp:
        base = Path(tmp)
        ws = base / "ws"
        with database_url("postgresql", base) as url:
            make_workspace(ws, url)
            registrar = _cli(
                "tokens", "add", "load-registrar", "--role", "registrar",
                "--authority", "510100", "--workspace", str(ws),
            )  # fmt: skip
            platform_token = _cli(
                "tokens", "add", "load-platform", "--role", "platform", "--workspace", str(ws)
            )
            with open(ws / "bdcert.toml", "a", encoding="utf-8") as f:
                f.write("\n[service]\nrate_limit = 0\n")
            with serve(ws, "--workers", "2") as host:
                env = {
                    **os.environ,
                    "BDCERT_LOAD_REGISTRAR": registrar,
                    "BDCERT_LOAD_PLATFORM": platform_token,
                }
                prefix = base / "locust"
                subprocess.run(
                    [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"),
                     "--headless", "--users", users, "--spawn-rate", users,
                     "--run-time", duration, "--host", host, "--csv", str(prefix),
                     "--only-summary", "--stop-timeout", "30"],
                    check=False,
                    env=env,
                    cwd=REPO,
                )  # fmt: skip
                stats = Path(f"{prefix}_stats.csv").read_text(encoding="utf-8")
                rows = list(csv.DictReader(stats.splitlines()))
    write_results(rows, duration, users, out)
    print(out.read_text(encoding="utf-8"))
    print(f"written to {out.relative_to(REPO)}")
    return 0


def write_results(rows: list[dict[str, str]], duration: str, users: str, out: Path) -> None:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    lines = [
        "# Load run of the provincial interface",
        "",
        f"`benchmarks/load/run.sh` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {commit or '?'}: `bdcert serve --workers 2` on PostgreSQL (loopback), "
        f"locust headless, {users} callers in a closed loop (no think time) for {duration}; "
        f"{os.cpu_count()} CPU cores shared with the load generator, Python "
        f"{platform.python_version()}. Every push seals a new certificate (demo software seal).",
        "",
        "| operation | requests | throughput (req/s) | p50 (ms) | p99 (ms) | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = "all" if row["Name"] == "Aggregated" else row["Name"]
        lines.append(
            f"| {name} | {row['Request Count']} | {float(row['Requests/s']):.2f} | "
            f"{row['50%']} | {row['99%']} | {row['Failure Count']} |"
        )
    lines += [
        "",
        "push: `POST /api/v1/entries` (a fresh entry: validate, number, render, seal, file); "
        "verify: `POST /api/v1/verify` of an issued PDF; lookup: `GET /api/v1/lookup?token=` "
        "as the platform. Requests completed within the run time (locust's statistics when the "
        "time is up; calls still in flight then are not counted). Figures from one run on a "
        "shared machine: compare runs, not machines.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
