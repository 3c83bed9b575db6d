"""The reference city system (issue 11, item 4): a province and a city, each a bdcert deployment
of its own, running as separate processes on loopback, for the interface plan to run against.

``python -m bdcert_conformance.reference_city start DIR`` (or ``conformance/reference-city/start
DIR``) builds, in ``DIR``:

- ``province/`` — a demo workspace (bdcert's bundled authorities 510100 成都, 510700 绵阳,
  513401 西昌, the demo PKI: the province's root, its seal keys, its timestamp authority) with its
  own SQLite register, served by ``bdcert serve`` (the provincial interface: pushes, 归集
  deposits ``POST /api/v1/collection``, the change feed, verification), and the provincial
  e-seal service ``bdcert-seal-service`` over the province's seal keys (rule article 7);
- ``city/`` — the city's workspace: its own SQLite register and configuration, trusting the
  province's root (``[bdcert] trust_roots``), **no seal key of its own**: ``[seal] plugin =
  "remote"`` seals through the province's e-seal service with a token of that service; served
  by its own ``bdcert serve``. The city issues for 510100 and 510700 and deposits its
  certificates at the province; it mirrors 513401 (issued by the province) with ``bdcert city
  sync`` (rule article 12). It notifies every certificate event through bdcert's ``webhook``
  notifier (``[notifiers] plugins = ["log", "webhook"]``, secret in ``BDCERT_WEBHOOK_SECRET``)
  to the city's own event receiver: a small process of this module (``receive``) that checks
  each delivery's signature, answers 204 and appends one line per delivery to
  ``logs/deliveries.jsonl``.

It writes ``DIR/reference-city.json`` (:func:`start`'s return value)::

    {"format": "bdcert-reference-city", "version": 1,
     "target": "http://127.0.0.1:P1",            # the city's bdcert serve
     "province": "http://127.0.0.1:P2",          # the province's bdcert serve
     "seal_service": "http://127.0.0.1:P3",      # the province's e-seal service
     "receiver": "http://127.0.0.1:P4/events",    # the city's webhook receiver
     "authority": "510100", "other_authority": "510700", "mirrored_authority": "513401",
     "tokens": {"clerk": …, "other_clerk": …, "platform": …, "auditor": …, "province": …,
                "province_platform": …, "mirror": …},
     "settings": {"authority": "510100"},
     "workspaces": {"city": "DIR/city", "province": "DIR/province"},
     "province_root": "DIR/province/pki/root.cert.pem",
     "token_names": {"clerk-510100": …, …},      # the city's [identity.tokens] entries' tokens
     "env": {"BDCERT_SEAL_SERVICE_TOKEN": …, "BDCERT_WEBHOOK_SECRET": …},  # what a process
                                                  # opening the city workspace needs
     "pids": {"city": …, "province": …, "seal_service": …, "receiver": …},
     "conformance_args": ["--plan", "interface", "--target", …, "--province", …,
                          "--token", "clerk=…", …, "--set", "authority=510100"]}

and ``DIR/reference-city.env`` with the same as shell variables (``BDCERT_CITY_URL``,
``BDCERT_PROVINCE_URL``, ``BDCERT_SEAL_SERVICE_URL``, ``BDCERT_TOKEN_<ROLE>``,
``BDCERT_SEAL_SERVICE_TOKEN``). Roles: ``clerk`` — a registrar of 510100 on the city;
``other_clerk`` — a registrar of 510700 on the city; ``platform`` and ``auditor`` — the city's;
``province`` — a registrar of 510100 at the province (deposits the city's 510100
certificates); ``province_platform`` — the province's platform (pushes 513401's entries there);
``mirror`` — a registrar of 513401 at the province (what ``bdcert city sync`` reads with).

``certify DIR REPORTDIR`` runs the three plans against the started system as certification runs
(:mod:`bdcert_conformance.reference_city_certify`).

``stop DIR`` ends the four processes (each its own process group: SIGINT, then SIGKILL after
20 s) and leaves the directory. Everything listens on 127.0.0.1 only, on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bdcert_conformance.processes import add_token as _token
from bdcert_conformance.processes import bdcert_cli as _cli
from bdcert_conformance.processes import free_port as _free_port
from bdcert_conformance.processes import source_path

__all__ = [
    "AUTHORITY",
    "MIRRORED",
    "OTHER",
    "conformance_args",
    "load",
    "main",
    "run_options",
    "start",
    "stop",
]

#: The city's own authority, another one it issues for, and the one it mirrors.
AUTHORITY, OTHER, MIRRORED = "510100", "510700", "513401"
STATE = "reference-city.json"
ENV_FILE = "reference-city.env"
#: How long a service may take to answer its health check.
START_TIMEOUT = 90.0


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": source_path(), "PYTHONUNBUFFERED": "1", **extra}
    for name in ("BDCERT_DATABASE_URL", "BDCERT_WORKSPACE", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    return env


#: ``bdcert-seal-service`` run by this interpreter (its console script may not be on PATH).
_SEAL_SERVICE = "from bdcert_adapters.seal_service import main; raise SystemExit(main())"
_SEAL_TABLE = re.compile(r"^\[seal\]\n.*?(?=^\[identity\])", re.S | re.M)


_NOTIFIERS = 'plugins = ["log"]'
WEBHOOK_SECRET_ENV = "BDCERT_WEBHOOK_SECRET"


def _city_workspace(province: Path, city: Path, seal_url: str, receiver_url: str) -> None:
    """The city's workspace: the province's configuration and certificates (its trust list and
    timestamp authority), a register of its own, ``[seal]`` remote, no authority's seal key, a
    ``webhook`` notifier to ``receiver_url``."""
    shutil.copytree(province, city, ignore=shutil.ignore_patterns("bdcert.sqlite3*", "*.log"))
    for key in (city / "pki").glob("5*.key.pem"):
        key.unlink()  # the authorities' seal keys stay at the province's e-seal service
    config = city / "bdcert.toml"
    text = config.read_text("utf-8")
    remote = (
        '[seal]\nplugin = "remote"\n'
        f'url = "{seal_url}"\n'
        'token_env = "BDCERT_SEAL_SERVICE_TOKEN"\n'
        "timeout = 30\n\n"
    )
    text, count = _SEAL_TABLE.subn(remote, text)
    if count != 1:
        raise RuntimeError(f"{config}: no [seal] table before [identity] to replace")
    if f"[notifiers]\n{_NOTIFIERS}\n" not in text:
        raise RuntimeError(f"{config}: no [notifiers] table to add the webhook to")
    text = text.replace(
        f"[notifiers]\n{_NOTIFIERS}\n",
        '[notifiers]\nplugins = ["log", "webhook"]\n\n[notifiers.webhook]\n'
        f'url = "{receiver_url}"\nsecret_env = "{WEBHOOK_SECRET_ENV}"\n'
        "timeout = 5\nretries = 3\nbackoff = 0.5\n",
    )
    config.write_text(text, "utf-8")


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> int:
    """Start ``argv`` in a process group of its own (it outlives this one); its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (stop from another process)
        waited = 0
    if waited == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_ready(url: str, pid: int, log: Path, timeout: float = START_TIMEOUT) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if not _alive(pid):
            raise RuntimeError(f"{url}: the process exited; see {log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in {timeout:.0f} s; see {log}")
        time.sleep(0.2)


def start(directory: Path) -> dict[str, Any]:
    """Build both sides in ``directory`` (emptied first) and start the three processes; the
    state written to ``directory/reference-city.json``.

    :raises RuntimeError: a workspace could not be made or a service did not start (what was
        started is stopped again)."""
    directory = directory.resolve()
    if (directory / STATE).exists():
        stop(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    province, city, logs = directory / "province", directory / "city", directory / "logs"
    logs.mkdir()
    _cli("init", "--demo", "--workspace", str(province))
    seal_port, province_port, city_port = _free_port(), _free_port(), _free_port()
    receiver_port = _free_port()
    seal_url = f"http://127.0.0.1:{seal_port}"
    receiver_url = f"http://127.0.0.1:{receiver_port}/events"
    _city_workspace(province, city, seal_url, receiver_url)
    seal_token = f"city-{AUTHORITY}.{secrets.token_urlsafe(24)}"
    webhook_secret = secrets.token_urlsafe(32)
    token_names = {  # the city's [identity.tokens] entries: the plugins plan checks each
        f"clerk-{AUTHORITY}": _token(city, f"clerk-{AUTHORITY}", "registrar", AUTHORITY),
        f"clerk-{OTHER}": _token(city, f"clerk-{OTHER}", "registrar", OTHER),
        "city-platform": _token(city, "city-platform", "platform"),
        "city-auditor": _token(city, "city-auditor", "auditor"),
    }
    tokens = {
        "clerk": token_names[f"clerk-{AUTHORITY}"],
        "other_clerk": token_names[f"clerk-{OTHER}"],
        "platform": token_names["city-platform"],
        "auditor": token_names["city-auditor"],
        "province": _token(province, f"city-{AUTHORITY}", "registrar", AUTHORITY),
        "province_platform": _token(province, "province-platform", "platform"),
        "mirror": _token(province, f"mirror-{MIRRORED}", "registrar", MIRRORED),
    }
    python = sys.executable
    state: dict[str, Any] = {
        "format": "bdcert-reference-city",
        "version": 1,
        "target": f"http://127.0.0.1:{city_port}",
        "province": f"http://127.0.0.1:{province_port}",
        "seal_service": seal_url,
        "receiver": receiver_url,
        "authority": AUTHORITY,
        "other_authority": OTHER,
        "mirrored_authority": MIRRORED,
        "tokens": tokens,
        "token_names": token_names,
        "settings": {"authority": AUTHORITY},
        "workspaces": {"city": str(city), "province": str(province)},
        "province_root": str(province / "pki" / "root.cert.pem"),
        "env": {"BDCERT_SEAL_SERVICE_TOKEN": seal_token, WEBHOOK_SECRET_ENV: webhook_secret},
        "pids": {},
        "logs": str(logs),
    }
    launches = (
        (
            "receiver",
            [python, "-m", "bdcert_conformance.reference_city", "receive",
             str(logs / "deliveries.jsonl"), "--port", str(receiver_port)],
            _environment(**{WEBHOOK_SECRET_ENV: webhook_secret}),
            receiver_url,
        ),
        (
            "seal_service",
            [python, "-c", _SEAL_SERVICE, "--workspace", str(province), "--port", str(seal_port), "--log-level", "warning"],
            _environment(BDCERT_SEAL_SERVICE_TOKENS=f"city={seal_token}"),
            f"{seal_url}/v1/health",
        ),
        (
            "province",
            [python, "-m", "bdcert_adapters.cli", "serve", "--workspace", str(province),
             "--port", str(province_port)],
            _environment(),
            f"{state['province']}/readyz",
        ),
        (
            "city",
            [python, "-m", "bdcert_adapters.cli", "serve", "--workspace", str(city),
             "--port", str(city_port)],
            _environment(**state["env"]),
            f"{state['target']}/readyz",
        ),
    )  # fmt: skip
    try:
        for name, argv, env, health in launches:
            log = logs / f"{name}.log"
            state["pids"][name] = _spawn(argv, log, env)
            _write(directory, state)  # so that stop finds what was started so far
            _wait_ready(health, state["pids"][name], log)
    except BaseException:
        stop(directory)
        raise
    state["conformance_args"] = conformance_args(state)
    _write(directory, state)
    return state


def conformance_args(state: dict[str, Any]) -> list[str]:
    """``bdcert conformance run`` arguments for the interface plan against this system."""
    args = ["--plan", "interface", "--target", state["target"], "--province", state["province"]]
    for role in ("clerk", "other_clerk", "province"):
        args += ["--token", f"{role}={state['tokens'][role]}"]
    for key, value in state["settings"].items():
        args += ["--set", f"{key}={value}"]
    return args


def run_options(state: dict[str, Any], **more: Any) -> Any:
    """The kit's :class:`~bdcert_conformance.kit.model.RunOptions` of the interface plan
    against this system (what :func:`conformance_args` says on the command line)."""
    from bdcert_conformance.kit.model import RunOptions

    roles = ("clerk", "other_clerk", "province")
    return RunOptions(
        plan="interface",
        target=state["target"],
        province=state["province"],
        tokens={role: state["tokens"][role] for role in roles},
        settings=dict(state["settings"]),
        system="bdcert reference city",
        **more,
    )


def _write(directory: Path, state: dict[str, Any]) -> None:
    (directory / STATE).write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", "utf-8")
    lines = [  # exported: a shell that sources the file passes them to bdcert's processes
        f"BDCERT_CITY_URL={shlex.quote(state['target'])}",
        f"BDCERT_PROVINCE_URL={shlex.quote(state['province'])}",
        f"BDCERT_SEAL_SERVICE_URL={shlex.quote(state['seal_service'])}",
        f"BDCERT_CITY_WORKSPACE={shlex.quote(state['workspaces']['city'])}",
        f"BDCERT_PROVINCE_WORKSPACE={shlex.quote(state['workspaces']['province'])}",
        f"BDCERT_AUTHORITY={state['authority']}",
    ]
    lines += [f"BDCERT_TOKEN_{r.upper()}={shlex.quote(t)}" for r, t in state["tokens"].items()]
    lines += [f"{k}={shlex.quote(v)}" for k, v in state["env"].items()]
    (directory / ENV_FILE).write_text("".join(f"export {line}\n" for line in lines), "utf-8")
    os.chmod(directory / ENV_FILE, 0o600)
    os.chmod(directory / STATE, 0o600)


def load(directory: Path) -> dict[str, Any]:
    """The state :func:`start` wrote. :raises FileNotFoundError: nothing was started there."""
    state: dict[str, Any] = json.loads((directory / STATE).read_text("utf-8"))
    return state


def stop(directory: Path, timeout: float = 20.0) -> list[int]:
    """End the processes :func:`start` started in ``directory`` (SIGINT to each process group,
    SIGKILL after ``timeout``); the pids that were still running."""
    try:
        state = load(directory)
    except FileNotFoundError:
        return []
    running = [pid for pid in state.get("pids", {}).values() if _alive(pid)]
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in running:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    state["pids"] = {}
    _write(directory, state)
    return running


#: The largest event body the receiver reads (bytes); a longer one is answered 413.
_MAX_EVENT = 1 << 20


def receive(log: Path, port: int) -> None:
    """The city's webhook receiver (runs until interrupted): on 127.0.0.1:``port``, ``POST
    /events`` checks the ``X-Bdcert-Signature`` with the secret in ``BDCERT_WEBHOOK_SECRET``,
    answers 204 (401 for a bad signature) and appends ``{"delivery", "event", "number",
    "signature_ok"}`` to ``log`` (JSON Lines); ``GET`` answers 200 (the health check). It logs
    no request line."""
    import http.server

    from bdcert_plugins.notify_webhook import SIGNATURE_HEADER, verify_signature

    secret = os.environ[WEBHOOK_SECRET_ENV].encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_EVENT or self.path != "/events":
                self.send_response(413 if length > _MAX_EVENT else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.rfile.read(length)
            ok = verify_signature(secret, body, self.headers.get(SIGNATURE_HEADER) or "")
            try:
                event = json.loads(body)
            except ValueError:
                event = {}
            line = {
                "delivery": self.headers.get("X-Bdcert-Delivery"),
                "event": event.get("event") if isinstance(event, dict) else None,
                "number": event.get("number") if isinstance(event, dict) else None,
                "signature_ok": ok,
            }
            with open(log, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.send_response(204 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    """``start DIR`` (prints the state file's path and the conformance arguments), ``certify
    DIR REPORTDIR`` (the three plans as certification runs; exit 0 when all passed), ``stop
    DIR``, or ``receive LOG --port P`` (the city's webhook receiver, started by ``start``);
    exit 0, or 1 when the system could not be started or a plan did not pass."""
    parser = argparse.ArgumentParser(prog="reference-city", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("start", "stop", "certify", "receive"))
    parser.add_argument("directory", type=Path, nargs="?", default=Path("reference-city"))
    parser.add_argument("reports", type=Path, nargs="?", help="certify: the reports' directory")
    parser.add_argument("--port", type=int, help="receive: the port to listen on")
    args = parser.parse_args(argv)
    if args.action == "receive":
        receive(args.directory, args.port)
        return 0
    if args.action == "certify":
        from bdcert_conformance.reference_city_certify import main as certify

        return certify(args.directory, args.reports or args.directory / "reports")
    if args.action == "stop":
        stopped = stop(args.directory)
        print(f"stopped {len(stopped)} process(es)")
        return 0
    try:
        state = start(args.directory)
    except RuntimeError as e:
        print(f"reference-city: {e}", file=sys.stderr)
        return 1
    print(f"city      {state['target']}")
    print(f"province  {state['province']}")
    print(f"seal      {state['seal_service']}")
    print(f"receiver  {state['receiver']}")
    print(f"state     {args.directory.resolve() / STATE}")
    print("bdcert conformance run " + shlex.join(state["conformance_args"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
