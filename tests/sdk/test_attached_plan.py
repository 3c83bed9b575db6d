"""附图 (``ft``): pictures up to :data:`~bdcert.validation.MAX_PLAN_BYTES` (4 MiB), checked as
pictures, and placed on the certificate.

The general string bound (10,000 characters) used to cap 附图 at about 7.5 kB of picture. The
pictures are made with Pillow; what the PDF carries is read back with poppler's ``pdfimages``.
"""

from __future__ import annotations

import base64
import copy
import io
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bdcert.codes import NATIONAL_2024
from bdcert.config import load_authorities
from bdcert.errors import RenderError, ValidationError
from bdcert.fonts import default_font_config
from bdcert.model import AttachedPlan
from bdcert.render import Renderer
from bdcert.render.layout import load_plan
from bdcert.validation import MAX_PLAN_BYTES, MAX_PLAN_PIXELS, parse_entry
from tests.support import AUTHORITIES, require_tool


@pytest.fixture(scope="module")
def authorities() -> Any:
    return load_authorities(AUTHORITIES)


@pytest.fixture(scope="module")
def entry(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(next(raw for raw in timeline if "ft" in raw))


def picture(size: tuple[int, int], kind: str = "PNG", mode: str = "RGB") -> bytes:
    """A picture of noise (it does not compress: the file is about as large as its pixels)."""
    rng = random.Random(size[0] * 7919 + size[1])
    image = Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * len(mode)))
    out = io.BytesIO()
    image.save(out, format=kind, quality=95)
    return out.getvalue()


def with_plan(entry: dict[str, Any], data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return dict(entry, ft={"mime": mime, "data": base64.b64encode(data).decode()})


def problems(raw: dict[str, Any], authorities: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    return {p.field: p.message for p in caught.value.problems}


def test_a_plan_of_a_few_megabytes_is_accepted_and_printed(
    entry: dict[str, Any], authorities: Any, tmp_path: Path
) -> None:
    data = picture((1200, 900))
    assert 3_000_000 < len(data) <= MAX_PLAN_BYTES
    parsed = parse_entry(with_plan(entry, data), authorities=authorities, codes=NATIONAL_2024)
    assert parsed.attached_plan == AttachedPlan("image/png", data)
    rendered = Renderer(default_font_config({})).render(
        kind=parsed.produces,
        face=(),
        verification_url="https://bdc.example.gov.cn/v/plan",
        authority=next(iter(authorities.values())),
        licence_id="1.2.156.3005.2.11100000MB03271699001.12510100MB1C7A3X2H.000000001.001.K",
        attached_plan=parsed.attached_plan,
    )
    path = tmp_path / "plan.pdf"
    path.write_bytes(rendered.pdf)
    listing = subprocess.run(
        [require_tool("pdfimages"), "-list", str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert [(row.split()[3], row.split()[4]) for row in listing] == [("1200", "900")]


def test_a_jpeg_plan_is_accepted(entry: dict[str, Any], authorities: Any) -> None:
    data = picture((1000, 800), "JPEG")
    raw = with_plan(entry, data, "image/jpeg")
    parsed = parse_entry(raw, authorities=authorities, codes=NATIONAL_2024)
    assert parsed.attached_plan is not None and parsed.attached_plan.data == data


def test_a_plan_over_4_mib_names_the_field_and_the_limit(
    entry: dict[str, Any], authorities: Any
) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_PLAN_BYTES)
    found = problems(with_plan(entry, data), authorities)
    assert found == {"ft.data": found["ft.data"]}
    assert "4194304 bytes (4 MiB)" in found["ft.data"]
    raw = with_plan(entry, data)
    raw["ft"]["data"] += "A" * 4  # also too long as text, whatever it decodes to
    assert "4 MiB" in problems(raw, authorities)["ft.data"]


def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    entry: dict[str, Any], authorities: Any
) -> None:
    side = int(MAX_PLAN_PIXELS**0.5) + 100  # a few kB of PNG for 25 megapixels and more
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")
    assert len(out.getvalue()) < 100_000
    found = problems(with_plan(entry, out.getvalue()), authorities)
    assert "pixels" in found["ft.data"] and str(MAX_PLAN_PIXELS) in found["ft.data"]
    with pytest.raises(RenderError, match=r"附图 \(ft\) is .* pixels"):
        load_plan(AttachedPlan("image/png", out.getvalue()))


def test_a_truncated_or_mislabelled_picture_is_refused(
    entry: dict[str, Any], authorities: Any
) -> None:
    jpeg = picture((400, 300), "JPEG")
    truncated = problems(with_plan(entry, jpeg[: len(jpeg) // 2], "image/jpeg"), authorities)
    assert "is not a readable JPEG picture" in truncated["ft.data"]
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    found = problems(with_plan(entry, gif.getvalue()), authorities)
    assert "is not a image/png picture" in found["ft.data"]


def test_every_bad_field_is_named_with_the_plan(entry: dict[str, Any], authorities: Any) -> None:
    raw = with_plan(entry, b"\x89PNG\r\n\x1a\n" + bytes(MAX_PLAN_BYTES))
    raw["qllx"] = "77"
    raw["mj"] = {"td": -1}
    assert {"ft.data", "qllx", "mj.td"} <= set(problems(raw, authorities))
    raw["zl"] = "坐" * 10_001  # other strings keep the general bound
    assert "zl" in problems(raw, authorities)
