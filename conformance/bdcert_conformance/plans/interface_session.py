"""The interface plan's session with a system under test: HTTP clients for the target and the
province, every exchange recorded (for the schema check), and the run's scenario as memoized
steps, so that each check can run alone (``--only``) and a full run pushes each entry once.

Every step generates fresh entries for the target's authority, shaped like real ones so that a
system cannot tell the kit's pushes from a registry's and behave differently for them: 业务号
``{djjg}-{year}-{9 random digits}``, random 不动产单元号 (GB/T 37346) in the authority's area, a
random holder with a valid 居民身份证号码 (GB 11643, born in the county), a street address, a real
court's name for a 查封, dated now (China time); the plan can run again and again against a
long-lived system. The 业务号 pushed are listed in the report (P-101's evidence).
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import httpx

__all__ = ["Exchange", "InterfaceSession", "Pushed"]

T = TypeVar("T")
CHINA = timezone(timedelta(hours=8))
#: Default ``[service] max_request_bytes`` of the provincial interface (one JSON body).
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
#: The longest response body the kit reads (setting ``max_response_bytes``).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ForeignLocation(ValueError):
    """The system pointed the kit at another origin (a ``Location``): not followed."""


class ResponseTooLarge(ValueError):
    """A response body over ``max_response_bytes`` or slower than ``deadline``."""


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "晓明建华秀英志强丽娟海燕俊杰文静子涵雨欣浩然思远国平玉兰"
_ROADS = ("东大街", "人民南路", "蜀都大道", "建设路", "春熙路", "光华大道", "红星路", "顺城大街")
_COURTS = (
    "成都市锦江区人民法院",
    "成都市中级人民法院",
    "绵阳市涪城区人民法院",
    "四川省高级人民法院",
)


def id_number(region: str, born: datetime, sequence: int) -> str:
    """A 居民身份证号码 (GB 11643-1999): region (6 digits), birth date, sequence (3 digits),
    ISO 7064 MOD 11-2 check character."""
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    return body + "10X98765432"[total % 11]


_BANK = {"mc": "蜀川银行股份有限公司成都分行", "zjzl": "7", "zjh": "91510100MA6C3N5T7Q"}


@attrs.define
class Exchange:
    """One HTTP exchange the plan made: ``system`` (``target`` / ``province``), the method, the
    URL path as sent (percent-encoded), the status, the response's media type and JSON body
    (None when not JSON), and the step that made it."""

    system: str
    method: str
    path: str
    status: int
    media_type: str
    body: Any
    step: str


@attrs.define
class Pushed:
    """An entry the plan pushed and the system's answer."""

    entry: dict[str, Any]
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def numbers(self) -> list[str]:
        value = self.body.get("numbers") if isinstance(self.body, dict) else None
        return [str(n) for n in value] if isinstance(value, list) else []

    @property
    def ywh(self) -> str:
        return str(self.entry.get("ywh", ""))


def cert_path(number: str, suffix: str = "") -> str:
    """``/certificates/{number}{suffix}`` with the number percent-encoded (UTF-8)."""
    return f"/certificates/{quote(number, safe='')}{suffix}"


def tampered(pdf: bytes) -> bytes:
    """``pdf`` with one byte changed a third of the way in (inside the sealed byte range)."""
    data = bytearray(pdf)
    data[len(data) // 3] ^= 0x01
    return bytes(data)


class InterfaceSession:
    """The plan's connection to a system (``options.target``) and the province
    (``options.province``), with the scenario's steps.

    :param transport: an httpx transport for the target (the self-test's broken
        implementations rewrite requests and responses there); None: the network.
    :param province_transport: the same for the province.
    """

    def __init__(
        self,
        options: Any,
        *,
        transport: httpx.BaseTransport | None = None,
        province_transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = dict(options.settings)
        self.options = options
        self.tokens = dict(options.tokens)
        self.settings = settings
        self.api_prefix = settings.get("api_prefix", "/api/v1")
        self.run_id = settings.get("run_id") or (
            datetime.now(CHINA).strftime("%m%d%H%M%S") + secrets.token_hex(3)
        )
        self.max_request_bytes = int(settings.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES))
        timeout = float(settings.get("timeout", "120"))
        self.target = str(options.target).rstrip("/")
        self.client = httpx.Client(base_url=self.target, transport=transport, timeout=timeout)
        self.province_client = (
            httpx.Client(
                base_url=str(options.province).rstrip("/"),
                transport=province_transport,
                timeout=timeout,
            )
            if options.province
            else None
        )
        self.exchanges: list[Exchange] = []
        self.memoized: dict[str, Any] = {}
        self._random = random.Random(secrets.randbits(64))
        self._ywh: dict[str, str] = {}
        r = self._random
        born = datetime(1950, 1, 1) + timedelta(days=r.randrange(50 * 365))
        self.holder = {
            "mc": r.choice(_SURNAMES) + "".join(r.choice(_GIVEN) for _ in range(r.choice((1, 2)))),
            "zjzl": "1",
            "zjh": id_number(self.county_of(settings), born, r.randrange(1, 1000)),
        }

    def close(self) -> None:
        self.client.close()
        if self.province_client is not None:
            self.province_client.close()

    # --- HTTP --------------------------------------------------------------------------------

    def call(
        self,
        role: str | None,
        method: str,
        path: str,
        *,
        step: str,
        province: bool = False,
        absolute: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """``method`` ``api_prefix + path`` (``path`` alone when ``absolute``: a ``Location``)
        as ``role`` (its bearer token; None: anonymous), recorded as an :class:`Exchange`."""
        client = self.province_client if province else self.client
        if client is None:
            raise RuntimeError("no --province URL was given")
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        url = path if absolute else self.api_prefix + path
        if absolute:
            url = self._same_origin(client, path)
        response = self._send(client, client.build_request(method, url, headers=headers, **kwargs))
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        body: Any = None
        if media_type.endswith("json"):
            try:
                body = response.json()
            except ValueError:
                body = None
        self.exchanges.append(
            Exchange(
                "province" if province else "target",
                method.upper(),
                urlsplit(str(response.request.url)).path,
                response.status_code,
                media_type,
                body,
                step,
            )
        )
        return response

    @staticmethod
    def _same_origin(client: httpx.Client, location: str) -> str:
        """``location`` (a ``Location`` the system answered) resolved against the system's
        base URL; one on another scheme, host or port is not followed: the request would carry
        the role's bearer token to a host that is not the system (and let the system make the
        kit reach any host for it).

        :raises ForeignLocation: ``location`` is not on the system's origin.
        """
        base = client.base_url
        url = base.join(location)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise ForeignLocation(
                f"the system answered Location {location[:200]!r}, outside its own origin "
                f"{base.scheme}://{base.netloc.decode()}: not followed (it would receive the "
                "bearer token)"
            )
        return str(url)

    def _send(self, client: httpx.Client, request: httpx.Request) -> httpx.Response:
        """``request`` sent, its body read up to ``max_response_bytes`` (after content
        decoding) within ``deadline`` seconds in all: a system answering an endless or a
        dripping body cannot exhaust the kit's memory or hang the run.

        :raises ResponseTooLarge: the body is longer or takes longer than allowed.
        """
        limit = int(self.settings.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES))
        deadline = time.monotonic() + float(
            str(self.settings.get("deadline") or self.settings.get("timeout") or "120")
        )
        response = client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ResponseTooLarge(
                        f"{request.method} {request.url.path}: the response body exceeds "
                        f"{limit} bytes (setting max_response_bytes)"
                    )
                if time.monotonic() > deadline:
                    raise ResponseTooLarge(
                        f"{request.method} {request.url.path}: the response body took longer "
                        "than the deadline (setting deadline, seconds)"
                    )
                chunks.append(chunk)
        finally:
            response.close()
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in {"content-encoding", "content-length", "transfer-encoding"}
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=response.extensions,
        )

    def once(self, name: str, make: Callable[[], T]) -> T:
        """``make()`` the first time ``name`` is asked for, its value after."""
        if name not in self.memoized:
            self.memoized[name] = make()
        value: T = self.memoized[name]
        return value

    def credential_problems(self) -> list[str]:
        """What is wrong with the run's targets and tokens before any check runs: the target or
        the province cannot be reached, or refuses a role's token (``GET /whoami``), or
        ``other_clerk`` is a clerk of the clerk's own authority. A broken credential would
        otherwise read as a dozen failures of the system."""
        problems: list[str] = []
        who: dict[str, Any] = {}
        for role, province in (("clerk", False), ("other_clerk", False), ("province", True)):
            if role not in self.tokens:
                continue
            where = "--province" if province else "--target"
            try:
                response = self.call(role, "GET", "/whoami", step="credentials", province=province)
            except httpx.HTTPError as exc:
                problems.append(f"{where}: cannot reach it: {type(exc).__name__}: {exc}")
                break
            if response.status_code in (401, 403):
                problems.append(
                    f"--token {role}: {where} refuses it ({response.status_code} on GET /whoami)"
                )
            elif response.status_code == 200:
                body = response.json() if "json" in response.headers.get("content-type", "") else {}
                who[role] = body if isinstance(body, dict) else {}
        clerk, other = who.get("clerk", {}), who.get("other_clerk", {})
        if clerk.get("authority") and clerk.get("authority") == other.get("authority"):
            problems.append(
                f"--token other_clerk: a clerk of {clerk['authority']}, the clerk's own "
                "authority; it must be a clerk of another authority"
            )
        return problems

    # --- the run's entries -------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """The target's authority (登记机构 ``djjg``): setting ``authority``, else the clerk's
        (``GET /whoami``)."""

        def find() -> str:
            if "authority" in self.settings:
                return str(self.settings["authority"])
            who = self.call("clerk", "GET", "/whoami", step="whoami").json()
            return str(who["authority"])

        return self.once("authority", find)

    @property
    def county(self) -> str:
        """The county code (6 digits) the run's unit numbers lie in: setting ``county``, else
        the authority's code with its last two digits ``04`` when it ends in ``00`` (a city's
        district), else the code itself."""
        if "county" in self.settings:
            return str(self.settings["county"])
        code = self.authority
        return code[:4] + "04" if code.endswith("00") else code

    @staticmethod
    def county_of(settings: Mapping[str, Any]) -> str:
        """The county for holders' ID numbers before the authority is known (``county`` or
        ``authority`` setting; else Chengdu's Jinjiang district)."""
        if "county" in settings:
            return str(settings["county"])
        code = str(settings.get("authority") or "510104")
        return code[:4] + "04" if code.endswith("00") else code

    def unit(self) -> str:
        """A fresh 不动产单元号 (GB/T 37346: county, district, sub-district, GB, parcel, F,
        fixture unit) in the run's county."""
        r = self._random
        return (
            f"{self.county}{r.randrange(10**6):06d}GB{r.randrange(10**5):05d}"
            f"F{r.randrange(1, 10**8):08d}"
        )

    def ywh(self, tag: str) -> str:
        """The 业务号 of the run's entry ``tag``: ``{djjg}-{year}-{9 random digits}``, drawn once
        per tag."""
        if tag not in self._ywh:
            year = datetime.now(CHINA).year
            self._ywh[tag] = f"{self.authority}-{year}-{self._random.randrange(10**9):09d}"
        return self._ywh[tag]

    def address(self) -> str:
        r = self._random
        return (
            f"{r.choice(_ROADS)}{r.randrange(1, 400)}号{r.randrange(1, 20)}栋{r.randrange(1, 5)}"
            f"单元{r.randrange(1, 33)}层{r.randrange(1, 5)}号"
        )

    def now(self) -> str:
        return datetime.now(CHINA).isoformat(timespec="seconds")

    def property_entry(self, tag: str, unit: str | None = None, **extra: Any) -> dict[str, Any]:
        """A 国有建设用地使用权/房屋所有权 (qllx 4) first registration (djlx 100): a property
        certificate (rule article 5)."""
        entry = {
            "ywh": self.ywh(tag),
            "djjg": self.authority,
            "djlx": "100",
            "qllx": "4",
            "dbsj": self.now(),
            "bdcdyh": [unit or self.unit()],
            "zl": self.address(),
            "qlr": [dict(self.holder)],
            "gyfs": "0",
            "qlxz": "102",
            "yt": "城镇住宅用地/住宅",
            "mj": {"td": 21.37, "fw": 89.12},
        }
        entry.update(extra)
        return entry

    def proof_entry(self, tag: str) -> dict[str, Any]:
        """A 抵押权 registration: a registration proof (rule article 6)."""
        return {
            "ywh": self.ywh(tag),
            "djjg": self.authority,
            "djlx": "100",
            "zmsx": "抵押权",
            "dbsj": self.now(),
            "bdcdyh": [self.unit()],
            "zl": self.address(),
            "qlr": [dict(_BANK)],
            "ywr": [dict(self.holder)],
            "qt": "抵押方式：一般抵押",
        }

    def push(self, entry: Any, *, step: str, role: str = "clerk", **kwargs: Any) -> Pushed:
        """``POST /entries`` (JSON) as ``role``."""
        if "content" not in kwargs:
            kwargs["content"] = json.dumps(entry, ensure_ascii=False).encode("utf-8")
            kwargs["headers"] = {"Content-Type": "application/json"}
        response = self.call(role, "POST", "/entries", step=step, **kwargs)
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        return Pushed(
            entry if isinstance(entry, dict) else {},
            response.status_code,
            body,
            dict(response.headers),
        )

    # --- the scenario's steps (each once) ----------------------------------------------------

    def start(self) -> str:
        """The change feed's cursor before the run changed anything (its last page's
        ``next``), read from setting ``feed_after`` (a cursor of an earlier run; default the
        feed's start) on."""

        def read() -> str:
            cursor: str | None = self.settings.get("feed_after") or None
            while True:
                params = {"limit": 1000} | ({"after": cursor} if cursor else {})
                page = self.call("clerk", "GET", "/feed", step="feed", params=params).json()
                if not page["events"]:
                    return str(page.get("next") or cursor or "")
                cursor = str(page["next"])

        return self.once("start", read)

    def issued(self, tag: str) -> Pushed:
        """Property entry ``tag`` pushed (once)."""
        self.start()
        return self.once(f"issued:{tag}", lambda: self.push(self.property_entry(tag), step=tag))

    def proof(self) -> Pushed:
        self.start()
        return self.once("issued:P", lambda: self.push(self.proof_entry("P"), step="P"))

    def first_number(self, tag: str) -> str:
        numbers = self.issued(tag).numbers
        if not numbers:
            raise RuntimeError(f"entry {self.ywh(tag)} was not issued: {self.issued(tag).body}")
        return numbers[0]

    def replay(self) -> Pushed:
        """Entry A pushed again, unchanged."""
        first = self.issued("A")
        return self.once("replay", lambda: self.push(first.entry, step="replay"))

    def conflict(self) -> Pushed:
        """Entry A's 业务号 pushed with another 坐落 (zl)."""
        first = self.issued("A")
        changed = dict(first.entry, zl=str(first.entry["zl"]) + "附1号")
        return self.once("conflict", lambda: self.push(changed, step="conflict"))

    def _then(
        self, first: str, second: str, entry: Callable[[Pushed, str], dict[str, Any]]
    ) -> tuple[Pushed, Pushed]:
        """Property entry ``first`` issued, then ``entry(first's push, its number)`` pushed as
        step ``second`` (once)."""
        before = self.issued(first)
        after = self.once(
            second, lambda: self.push(entry(before, self.first_number(first)), step=second)
        )
        return before, after

    def _on_unit(self, tag: str, before: Pushed, djlx: str) -> dict[str, Any]:
        return {
            "ywh": self.ywh(tag),
            "djjg": self.authority,
            "djlx": djlx,
            "dbsj": self.now(),
            "bdcdyh": list(before.entry["bdcdyh"]),
            "zl": before.entry["zl"],
        }

    def supersession(self) -> tuple[Pushed, Pushed]:
        """S1 issued, then S2: a 转移登记 (djlx 200) of S1's unit naming S1 in ``yzh``."""
        return self._then(
            "S1",
            "S2",
            lambda s1, number: self.property_entry(
                "S2", unit=s1.entry["bdcdyh"][0], djlx="200", yzh=[{"zh": number, "lx": "电子"}]
            ),
        )

    def cancellation(self) -> tuple[Pushed, Pushed]:
        """C1 issued, then its 注销 (djlx 400, ``zxyy``, ``yzh``)."""
        return self._then(
            "C1",
            "C2",
            lambda c1, number: (
                self._on_unit("C2", c1, "400")
                | {
                    "qllx": "4",
                    "qlr": [dict(self.holder)],
                    "zxyy": "房屋灭失",
                    "yzh": [{"zh": number, "lx": "电子"}],
                }
            ),
        )

    def seizure(self) -> tuple[Pushed, Pushed]:
        """R1 issued, then a 查封 (djlx 800) of its unit."""
        return self._then(
            "R1",
            "R2",
            lambda r1, number: (
                self._on_unit("R2", r1, "800")
                | {
                    "cfjg": self._random.choice(_COURTS),
                    "cfwh": f"（{datetime.now(CHINA).year}）川{self.county[2:]}执保"
                    f"{self._random.randrange(1, 3000)}号",
                    "cflx": "1",
                }
            ),
        )

    def status(self, number: str, *, step: str) -> tuple[int, Any]:
        response = self.call("clerk", "GET", cert_path(number, "/status"), step=step)
        return response.status_code, (response.json() if response.status_code == 200 else None)

    def metadata(self, number: str, *, step: str) -> dict[str, Any]:
        response = self.call("clerk", "GET", cert_path(number), step=step)
        response.raise_for_status()
        value: dict[str, Any] = response.json()
        return value

    def pdf(self, number: str) -> bytes:
        def download() -> bytes:
            response = self.call("clerk", "GET", cert_path(number, "/pdf"), step="pdf")
            response.raise_for_status()
            return response.content

        return self.once(f"pdf:{number}", download)

    def feed_events(self, *, limit: int = 1000, step: str = "feed") -> list[dict[str, Any]]:
        """Every feed event after :meth:`start`, page by page (``limit`` per page)."""
        cursor = self.start()
        events: list[dict[str, Any]] = []
        for _ in range(10_000):
            params = {"limit": limit} | ({"after": cursor} if cursor else {})
            page = self.call("clerk", "GET", "/feed", step=step, params=params).json()
            if not page["events"]:
                return events
            events += page["events"]
            cursor = str(page["next"])
        raise RuntimeError("the feed did not end after 10,000 pages")

    def deposit_body(self, pushed: Pushed, pdf: bytes) -> dict[str, Any]:
        """The JSON deposit (归集) of ``pushed``'s first certificate as the target issued it."""
        number = pushed.numbers[0]
        meta = self.metadata(number, step="deposit")
        token = str(meta.get("verification_url", "")).rstrip("/").rsplit("/", 1)[-1]
        return {
            "number": number,
            "licence_id": meta["licence_id"],
            "kind": meta["kind"],
            "token": token,
            "entry": pushed.entry,
            "issued_at": meta["issued_at"],
            "pdf": base64.b64encode(pdf).decode("ascii"),
        }

    def _deposit(
        self, step: str, pushed: Callable[[], Pushed], change: Callable[[bytes], bytes]
    ) -> tuple[dict[str, Any], httpx.Response]:
        def send() -> tuple[dict[str, Any], httpx.Response]:
            p = pushed()
            body = self.deposit_body(p, change(self.pdf(p.numbers[0])))
            response = self.call(
                "province", "POST", "/collection", step=step, province=True, json=body
            )
            return body, response

        return self.once(step, send)

    def deposit(self) -> tuple[dict[str, Any], httpx.Response]:
        """Entry A's certificate, downloaded from the target, deposited at the province."""
        return self._deposit("deposit", lambda: self.issued("A"), lambda pdf: pdf)

    def deposit_tampered(self) -> tuple[dict[str, Any], httpx.Response]:
        """The registration proof P's certificate with one byte changed, deposited."""
        return self._deposit("deposit-tampered", self.proof, tampered)

    def information(self, fields: Mapping[str, str], *, step: str) -> httpx.Response:
        return self.call("clerk", "POST", "/checks/information", step=step, json=dict(fields))

    def file_check(self, data: bytes, *, step: str) -> httpx.Response:
        return self.call(
            "clerk",
            "POST",
            "/checks/file",
            step=step,
            content=data,
            headers={"Content-Type": "application/pdf"},
        )

    def unknown_number(self) -> str:
        """A well-formed certificate number no system issued: entry A's with year 1999 and
        sequence 9999999."""
        import re

        number = self.first_number("A")
        number = re.sub(r"\((\d{4})\)", "(1999)", number, count=1)
        return re.sub(r"第\d+号", "第9999999号", number)

    def everything(self) -> None:
        """Run every step (the schema and feed checks look at all of them)."""
        self.issued("A")
        self.proof()
        self.replay()
        self.conflict()
        self.supersession()
        self.cancellation()
        self.seizure()
