"""Every sample certificate, sealed, as OFD and PDF, checked by software bdcert did not write.

The whole sample timeline (``../shared/data``) is issued once by the command line of an SM2
workspace (``init --demo --algorithm sm2``, ``issue --format both``); then

- every XML part of every OFD is validated against the XML schemas of GB/T 33190-2016
  (``../shared/reference/ofd-xsd``) with lxml (libxml2). The 2016 schema lists only MD5 and SHA1
  as ``CheckMethod``; SM3 (1.2.156.10197.1.401), what national implementations use, is added to
  that one enumeration and nothing else is relaxed. libxml2 does not check that ``xs:ID`` values
  held in element content (``MaxSignId``) are unique; the test does.
- the seal picture stored in each ``Seal.esl`` is decoded with Pillow and laid over the page at
  the ``StampAnnot`` boundary, as OFD readers draw it (above the page): the authority's name and
  the issue date beneath it must not be covered by ink;
- poppler's ``pdftotext -layout`` (PDF) and the pages' TextCode (OFD) tell what is on which page
  and line: the signature block is never alone on a page, designations such as ``B2-118号`` are
  never split, and no line starts with closing punctuation.

Needs the ``gm`` extra, lxml and the shared sample data; without them these tests skip on a
laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import copy
import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from PIL import Image

from tests.support import (
    AUTHORITIES,
    SHARED,
    TIMELINE,
    require_module,
    require_shared,
    require_tool,
    run_tool,
)

require_module("tongsuopy", "tongsuopy (the gm extra)")
require_module("lxml", "lxml (the test extra)")

from lxml import etree  # noqa: E402

XSD_DIR = SHARED / "reference" / "ofd-xsd"
NS = "http://www.ofdspec.org/2016"
XS = "http://www.w3.org/2001/XMLSchema"
OID_SM3 = "1.2.156.10197.1.401"
#: The schema that describes each root element bdcert writes.
SCHEMA_OF = {
    "OFD": "OFD.xsd",
    "Document": "Document.xsd",
    "Page": "Page.xsd",
    "Res": "Res.xsd",
    "Signatures": "Signatures.xsd",
    "Signature": "Signature.xsd",
    "Annotations": "Annotations.xsd",
    "PageAnnot": "Annotation.xsd",
}


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bdcert_adapters.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, bytes]:
    """Every certificate of the sample timeline, sealed: file name -> bytes (.ofd and .pdf)."""
    require_shared()
    base = tmp_path_factory.mktemp("samples")
    ws, out = base / "ws", base / "out"
    init = _cli("init", "--demo", "--algorithm", "sm2", "--workspace", str(ws),
                "--authorities", str(AUTHORITIES))  # fmt: skip
    assert init.returncode == 0, init.stderr
    issue = _cli("issue", str(TIMELINE), "--json", "--format", "both", "--out", str(out),
                 "--workspace", str(ws))  # fmt: skip
    assert issue.returncode == 0, issue.stderr
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert sum(name.endswith(".ofd") for name in files) >= 20
    return files


def sample_ofds(samples: Mapping[str, bytes]) -> Iterator[tuple[str, dict[str, bytes]]]:
    for name, data in samples.items():
        if name.endswith(".ofd"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                yield name, {n: archive.read(n) for n in archive.namelist()}


def _schema(name: str) -> etree.XMLSchema:
    if not XSD_DIR.is_dir():
        pytest.fail(f"the GB/T 33190 schemas are not at {XSD_DIR}", pytrace=False)
    tree = etree.parse(str(XSD_DIR / name))
    for attribute in tree.iter(f"{{{XS}}}attribute"):
        if attribute.get("name") == "CheckMethod":
            (restriction,) = attribute.iter(f"{{{XS}}}restriction")
            extra = copy.deepcopy(restriction[-1])
            extra.set("value", OID_SM3)
            restriction.append(extra)
    return etree.XMLSchema(tree)


@pytest.fixture(scope="module")
def schemas() -> dict[str, etree.XMLSchema]:
    require_shared()  # the schemas are in ../shared/reference/ofd-xsd
    return {root: _schema(name) for root, name in SCHEMA_OF.items()}


def schema_errors(
    files: Mapping[str, bytes], schemas: Mapping[str, etree.XMLSchema], *, at_least: int = 7
) -> list[str]:
    """What the GB/T 33190 schemas say about every XML part of one package."""
    errors: list[str] = []
    checked = 0
    for name, data in files.items():
        if not name.endswith(".xml"):
            continue
        root = etree.fromstring(data)
        local = etree.QName(root).localname
        if local not in schemas:
            errors.append(f"{name}: no schema describes ofd:{local}")
            continue
        schema = schemas[local]
        if not schema.validate(root):
            errors += [f"{name}:{e.line}: {e.message}" for e in schema.error_log]
        ids = [e.text or "" for e in root.iter(q("MaxSignId"))]
        if local in ("Signatures", "Signature"):
            ids += [e.get("ID", "") for e in root.iter() if e.get("ID") is not None]
        errors += [f"{name}: the xs:ID {v!r} is used twice" for v in set(ids) if ids.count(v) > 1]
        checked += 1
    # OFD.xml, Document.xml, two Res, a page (and Signatures.xml, Signature.xml when sealed)
    assert checked >= at_least
    return errors


def test_every_sample_ofd_passes_the_gbt_33190_schema(
    samples: Mapping[str, bytes], schemas: Mapping[str, etree.XMLSchema]
) -> None:
    problems: list[str] = []
    for name, files in sample_ofds(samples):
        assert "Doc_0/Signs/Signatures.xml" in files, name  # sealed
        problems += [f"{name}: {e}" for e in schema_errors(files, schemas)]
    assert problems == []


def test_constructed_ofds_pass_the_gbt_33190_schema(
    schemas: Mapping[str, etree.XMLSchema],
) -> None:
    # What the samples do not exercise: a JPEG 附图, a character only the fallback font has,
    # values running over several pages, a proof.
    from bdcert.model import AttachedPlan, CertificateKind
    from bdcert.render.ofd import write_ofd
    from tests.sdk.test_render import (
        AUTHORITY,
        PROOF_ID,
        PROPERTY_ID,
        URL,
        plan_png,
        proof_face,
        property_face,
    )

    jpeg = io.BytesIO()
    Image.open(io.BytesIO(plan_png())).convert("RGB").save(jpeg, format="JPEG")
    long_notes = "".join(
        f"第{i}项：房屋结构钢筋混凝土，所在层{i % 32 + 1}层。\n" for i in range(90)
    )
    cases = [
        (CertificateKind.PROPERTY_CERTIFICATE, property_face(qlr="张三、李𠀁", qlqtzk=long_notes),
         AttachedPlan("image/jpeg", jpeg.getvalue())),
        (CertificateKind.REGISTRATION_PROOF, proof_face(), None),
    ]  # fmt: skip
    for kind, face, plan in cases:
        out = write_ofd(
            kind=kind,
            face=face,
            verification_url=URL,
            authority=AUTHORITY,
            licence_id=PROPERTY_ID if plan else PROOF_ID,
            attached_plan=plan,
        )
        with zipfile.ZipFile(io.BytesIO(out.package)) as archive:
            files = {n: archive.read(n) for n in archive.namelist()}
        assert schema_errors(files, schemas, at_least=5) == [], kind


def test_the_schema_check_catches_bare_number_ids(
    samples: Mapping[str, bytes], schemas: Mapping[str, etree.XMLSchema]
) -> None:
    # The check above can fail: the IDs bdcert wrote before (bare numbers) are refused.
    _, files = next(sample_ofds(samples))
    listing = files["Doc_0/Signs/Signatures.xml"]
    root = etree.fromstring(listing)
    for entry in root.iter(q("Signature")):
        entry.set("ID", "1")
    files["Doc_0/Signs/Signatures.xml"] = etree.tostring(root)
    errors = schema_errors(files, schemas)
    assert any("'1' is not a valid value of the atomic type 'xs:ID'" in e for e in errors), errors
    max_id = etree.SubElement(root, q("MaxSignId"))
    root.insert(0, max_id)
    max_id.text = "s001"
    for entry in root.iter(q("Signature")):
        entry.set("ID", "s001")
    files["Doc_0/Signs/Signatures.xml"] = etree.tostring(root)
    assert any("used twice" in e for e in schema_errors(files, schemas))


# --------------------------------------------------------------------------- what readers see


def seal_picture(files: Mapping[str, bytes]) -> Image.Image:
    """The PNG inside ``Seal.esl`` (found by its signature and IEND chunk, as readers such as
    easyofd find it), decoded by Pillow."""
    der = files["Doc_0/Signs/Sign_0/Seal.esl"]
    start = der.index(b"\x89PNG\r\n\x1a\n")
    end = der.index(b"IEND", start) + 8
    picture = Image.open(io.BytesIO(der[start:end]))
    assert picture.mode == "RGBA"  # a real alpha channel, not a palette's transparency table
    return picture


def delta_x(spec: str) -> list[float]:
    """A TextCode's DeltaX, ``g N v`` runs expanded (GB/T 33190 §11.3)."""
    out: list[float] = []
    parts = spec.split()
    k = 0
    while k < len(parts):
        if parts[k] == "g":
            out += [float(parts[k + 2])] * int(parts[k + 1])
            k += 3
        else:
            out.append(float(parts[k]))
            k += 1
    return out


def page_files(files: Mapping[str, bytes]) -> list[str]:
    document = etree.fromstring(files["Doc_0/Document.xml"])
    return ["Doc_0/" + (p.get("BaseLoc") or "") for p in document.iter(q("Page"))]


def covered_characters(
    files: Mapping[str, bytes], wanted: tuple[str, ...]
) -> list[tuple[str, float]]:
    """Each character of the text objects on the seal's page that start with one of ``wanted``,
    with the share of its em square the seal's ink (alpha >= 128) covers when the picture is
    drawn at the StampAnnot boundary over the page."""
    signature = etree.fromstring(files["Doc_0/Signs/Sign_0/Signature.xml"])
    (annot,) = signature.iter(q("StampAnnot"))
    sx, sy, sw, sh = map(float, (annot.get("Boundary") or "").split())
    picture = seal_picture(files)
    alpha = picture.getchannel("A").load()
    width, height = picture.size
    document = etree.fromstring(files["Doc_0/Document.xml"])
    ids = [p.get("ID") for p in document.iter(q("Page"))]
    page = etree.fromstring(files[page_files(files)[ids.index(annot.get("PageRef"))]])
    out: list[tuple[str, float]] = []
    steps = 24
    for obj in page.iter(q("TextObject")):
        code = obj.find(q("TextCode"))
        text = code.text or "" if code is not None else ""
        if code is None or not text.startswith(wanted):
            continue
        bx, by, _, _ = map(float, (obj.get("Boundary") or "").split())
        size = float(obj.get("Size") or 0)
        x, baseline = bx + float(code.get("X") or 0), by + float(code.get("Y") or 0)
        for ch, advance in zip(text, [*delta_x(code.get("DeltaX") or ""), size], strict=True):
            inked = 0
            for i in range(steps):
                for j in range(steps):
                    px = (x + size * (i + 0.5) / steps - sx) / sw * width
                    py = (baseline - 0.88 * size + size * (j + 0.5) / steps - sy) / sh * height
                    if 0 <= px < width and 0 <= py < height and alpha[int(px), int(py)] >= 128:
                        inked += 1
            out.append((ch, inked / steps**2))
            x += advance
    return out


def test_the_seal_leaves_the_authority_name_and_issue_date_legible(
    samples: Mapping[str, bytes],
) -> None:
    # OFD readers draw the stamp annotation over the page with no blending: wherever the seal
    # has ink, the text beneath is hidden. No character of the authority's name or of the issue
    # date may be more than a quarter covered (the ring's thin line crosses the name's ends;
    # the star covered 73% of two characters of the name, the motto sat on the date).
    names = tuple(json.loads(AUTHORITIES.read_text(encoding="utf-8"))[i]["mc"] for i in range(3))
    for name, files in sample_ofds(samples):
        picture = seal_picture(files)
        assert picture.getpixel((2, 2))[3] == 0, name  # transparent where there is no ink
        chars = covered_characters(files, (*names, "签发日期"))
        assert len(chars) >= 4 + 15, name  # the name and 签发日期：YYYY年MM月DD日 were found
        worst = max(chars, key=lambda c: c[1])
        assert worst[1] <= 0.25, (name, worst)


SIGNATURE_BLOCK_RE = re.compile(r"登记机构：\S+中心|签发日期：\d{4}年\d{2}月\d{2}日")
FURNITURE_RE = re.compile(r"第\s*\d+\s*页\s*共\s*\d+\s*页")


def other_text(text: str) -> str:
    """A page's text without the signature block, the page footer and whitespace."""
    return re.sub(r"\s+", "", SIGNATURE_BLOCK_RE.sub("", FURNITURE_RE.sub("", text)))


def pdf_pages(data: bytes, directory: Path) -> list[str]:
    path = directory / "cert.pdf"
    path.write_bytes(data)
    text = run_tool(require_tool("pdftotext"), "-layout", "-enc", "UTF-8", path, "-")
    assert text.returncode == 0, text.stderr
    return text.stdout.split("\f")[:-1]


def test_no_sample_has_a_page_with_only_the_signature_block(
    samples: Mapping[str, bytes], tmp_path: Path
) -> None:
    checked = 0
    for name, data in samples.items():
        if name.endswith(".pdf"):
            pages = pdf_pages(data, tmp_path)
        else:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                files = {n: archive.read(n) for n in archive.namelist()}
            pages = [
                "\n".join(c.text or "" for c in etree.fromstring(files[p]).iter(q("TextCode")))
                for p in page_files(files)
            ]
        (seal_page,) = [p for p in pages if "签发日期" in p]
        assert other_text(seal_page), f"{name}: the signature block is alone on its page"
        checked += len(pages) > 1
    assert checked >= 2  # samples run onto a second page (one did with only the block)


def test_sample_lines_break_at_sensible_points(
    samples: Mapping[str, bytes], tmp_path: Path
) -> None:
    # Designations written in the registration entries (a parking space B2-118, unit numbers)
    # are found whole on one line of pdftotext's layout; no line starts with closing
    # punctuation or ends with an opening bracket.
    entries = [
        json.loads(line) for line in TIMELINE.read_text(encoding="utf-8").splitlines() if line
    ]
    designations = {
        found
        for entry in entries
        for key in ("zl", "fj", "qlqtzk")
        for found in re.findall(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+号?", str(entry.get(key) or ""))
    }
    assert "B2-118号" in designations
    seen: set[str] = set()
    for name, data in samples.items():
        if not name.endswith(".pdf"):
            continue
        lines = [line.strip() for page in pdf_pages(data, tmp_path) for line in page.splitlines()]
        flat = "".join(re.sub(r"\s+", "", line) for line in lines)
        for designation in designations:
            if designation in flat:
                assert any(designation in line for line in lines), (name, designation)
                seen.add(designation)
        for line in filter(None, lines):
            assert line[0] not in "、，。；：？！）」』”", (name, line)
            assert line[-1] not in "（「『“", (name, line)
    assert "B2-118号" in seen
