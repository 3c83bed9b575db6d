"""The certificate renderer, checked with tools that share no code with it (poppler, zbar).

Faces are built by hand so these tests depend on nothing but ``bdcert.render`` and
``bdcert.fonts``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bdcert.errors import ConfigurationError, MissingGlyph, RenderError
from bdcert.fonts import (
    DEFAULT_FALLBACK_PATHS,
    DEFAULT_REGULAR_PATH,
    FontConfig,
    FontSpec,
    default_font_config,
    font_config_from_settings,
)
from bdcert.model import AttachedPlan, Authority, CertificateKind, FaceItem
from bdcert.render import PAGE_FURNITURE_RE, SEAL_SIZE_MM, RenderedCertificate, Renderer
from bdcert.render.layout import SEAL_ABOVE_NAME_MM, wrap_text

AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB1C7A3X2H",
    division_code="510100",
)
URL = "https://bdc.example.gov.cn/v/Jq3mX0c9vR2-hZ_8pTn4sYw6LkAeB1dF"
PROPERTY_ID = "1.2.156.3005.2.11100000MB03271699001.12510100MB1C7A3X2H.000000001.001.K"
PROOF_ID = "1.2.156.3005.2.11100000MB03271699022.12510100MB1C7A3X2H.000000001.001.3"
A4_PT = (595.28, 841.89)

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("pdftotext", "pdffonts", "pdfinfo", "pdftoppm", "zbarimg"))
    or not DEFAULT_REGULAR_PATH.is_file()
    or not all(p.is_file() for p in DEFAULT_FALLBACK_PATHS),
    reason="needs poppler-utils, zbar-tools, fonts-noto-cjk and fonts-hanazono",
)


def property_face(**overrides: str) -> tuple[FaceItem, ...]:
    items = [
        FaceItem("djjg", "登记机构", AUTHORITY.name),
        FaceItem("fzrq", "登簿日期", "2024年03月05日"),
        FaceItem("qfsj", "签发日期", "2024年03月06日"),
        FaceItem("zh", "证号", "川(2024)成都市不动产权第0000001号"),
        FaceItem("qlr", "权利人", "张三、李四"),
        FaceItem("gyqk", "共有情况", "按份共有：张三占60%，李四占40%"),
        FaceItem("zl", "坐落", "成都市锦江区红星路三段1号3栋2单元1502号"),
        FaceItem(
            "bdcdyh",
            "不动产单元号",
            "510104001001GB00001F00010001\n510104001001GB00001F00010002\n"
            "510104001001GB00001F00010003",
        ),
        FaceItem("qllx", "权利类型", "国有建设用地使用权/房屋（构筑物）所有权"),
        FaceItem("qlxz", "权利性质", "出让/市场化商品房"),
        FaceItem("yt", "用途", "城镇住宅用地/住宅"),
        FaceItem("mj", "面积", "宗地面积21.37㎡ / 房屋建筑面积89.52㎡"),
        FaceItem("syqx", "使用期限", "2003年06月01日起2073年05月31日止"),
        FaceItem(
            "qlqtzk",
            "权利其他状况",
            "专有建筑面积：75.10㎡\n分摊建筑面积：14.42㎡\n房屋结构：钢筋混凝土结构\n"
            "房屋总层数：32层，所在层：15层",
        ),
        FaceItem("fj", "附记", "原证号：川(2019)成都市不动产权第0123456号（纸质，已收回）"),
        FaceItem("ft", "附图", "见附图页"),
    ]
    return tuple(FaceItem(i.key, i.label, overrides.get(i.key, i.value)) for i in items)


def proof_face(**overrides: str) -> tuple[FaceItem, ...]:
    items = [
        FaceItem("djjg", "登记机构", AUTHORITY.name),
        FaceItem("fzrq", "登簿日期", "2024年04月01日"),
        FaceItem("qfsj", "签发日期", "2024年04月01日"),
        FaceItem("zh", "证明号", "川(2024)成都市不动产证明第0000007号"),
        FaceItem("zmsx", "证明权利或事项", "抵押权"),
        FaceItem("qlr", "权利人（申请人）", "中国工商银行股份有限公司成都分行"),
        FaceItem("ywr", "义务人", "张三、李四"),
        FaceItem("zl", "坐落", "成都市武侯区人民南路四段27号"),
        FaceItem("bdcdyh", "不动产单元号", "510107002003GB00012F00020015"),
        FaceItem("qt", "其他", "被担保主债权数额：1,200,000.00元\n债务履行期限：2024年至2044年"),
        FaceItem("fj", "附记", "最高额抵押"),
    ]
    return tuple(FaceItem(i.key, i.label, overrides.get(i.key, i.value)) for i in items)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(default_font_config({}))


def render(
    renderer: Renderer,
    face: Sequence[FaceItem],
    *,
    kind: CertificateKind = CertificateKind.PROPERTY_CERTIFICATE,
    url: str = URL,
    plan: AttachedPlan | None = None,
) -> RenderedCertificate:
    return renderer.render(
        kind=kind,
        face=face,
        verification_url=url,
        authority=AUTHORITY,
        licence_id=PROPERTY_ID if kind is CertificateKind.PROPERTY_CERTIFICATE else PROOF_ID,
        attached_plan=plan,
    )


def write(tmp_path: Path, rendered: RenderedCertificate, name: str = "cert.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(rendered.pdf)
    return path


def run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def squash(text: str) -> str:
    """Page furniture removed, then every whitespace character."""
    return re.sub(r"\s+", "", PAGE_FURNITURE_RE.sub("", text))


def extracted(path: Path) -> str:
    return run("pdftotext", "-enc", "UTF-8", str(path), "-")


def page_count(path: Path) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", run("pdfinfo", str(path)), re.M)
    assert match
    return int(match.group(1))


def plan_png(size: tuple[int, int] = (900, 600)) -> bytes:
    picture = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((50, 50, size[0] - 50, size[1] - 50), outline="black", width=5)
    draw.line((50, 50, size[0] - 50, size[1] - 50), fill="blue", width=4)
    out = BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("kind", "face", "title"),
    [
        (CertificateKind.PROPERTY_CERTIFICATE, property_face(), "不动产权证书"),
        (CertificateKind.REGISTRATION_PROOF, proof_face(), "不动产登记证明"),
    ],
)
def test_pdftotext_finds_title_and_every_value(
    renderer: Renderer,
    tmp_path: Path,
    kind: CertificateKind,
    face: tuple[FaceItem, ...],
    title: str,
) -> None:
    path = write(tmp_path, render(renderer, face, kind=kind))
    text = squash(extracted(path))
    assert title in text
    for item in face:
        assert squash(item.value) in text, item.key
        assert item.label in text, item.key
    licence = PROPERTY_ID if kind is CertificateKind.PROPERTY_CERTIFICATE else PROOF_ID
    assert licence in text


def test_multi_line_value_keeps_its_line_breaks(renderer: Renderer, tmp_path: Path) -> None:
    face = property_face()
    text = extracted(write(tmp_path, render(renderer, face)))
    units = [line.strip() for line in text.splitlines() if line.strip().startswith("5101040")]
    assert units == face[7].value.split("\n")


def test_long_values_continue_onto_following_pages(renderer: Renderer, tmp_path: Path) -> None:
    location = ("成都市锦江区红星路三段" + "".join(f"{i}号附{i}栋" for i in range(700)))[:3000]
    other = "".join(f"第{i}项：房屋结构钢筋混凝土，所在层{i % 32 + 1}层。\n" for i in range(200))[
        :3000
    ]
    face = property_face(zl=location, qlqtzk=other)
    rendered = render(renderer, face)
    path = write(tmp_path, rendered)
    pages = page_count(path)
    assert pages >= 2
    assert len(location) == len(other) == 3000
    text = extracted(path)
    assert len(PAGE_FURNITURE_RE.findall(text)) == pages
    flat = squash(text)
    assert squash(location) in flat
    assert squash(other) in flat
    for item in face:
        assert squash(item.value) in flat, item.key
    assert rendered.seal_page == pages - 1


def test_a_hyphen_never_ends_a_wrapped_line(renderer: Renderer, tmp_path: Path) -> None:
    # pdftotext joins a line ending in "-" to the next one and drops the hyphen; whatever the
    # offset of the hyphen, the renderer must not end a wrapped line with it.
    lines = [  # each line unique (a numbered prefix), so no line matches inside another
        f"{k:02d}" + "甲" * k + "-" + " " * (k % 2) + "乙" * 40 + "-" + "丙" * 30 + "（丁" * 5
        for k in range(20, 50)
    ]
    face = property_face(qlqtzk="\n".join(lines))
    text = squash(extracted(write(tmp_path, render(renderer, face))))
    for line in lines:
        assert squash(line) in text


def test_wide_blanks_do_not_split_a_value(renderer: Renderer, tmp_path: Path) -> None:
    # Printed as they are, the em and ideographic spaces open a gap pdftotext reads as a column
    # boundary, and the next row's label comes out inside the value.
    notes = "第一行\t制表\r\n第二行\u2003\u3000全角空格"
    text = squash(extracted(write(tmp_path, render(renderer, property_face(fj=notes)))))
    assert squash(notes) in text


def test_long_label_stays_in_its_column(renderer: Renderer, tmp_path: Path) -> None:
    label = "权利人（申请人）及其他共有人"
    face = (*property_face(), FaceItem("x", label, "赵六" * 80))
    path = write(tmp_path, render(renderer, face))
    text = squash(extracted(path))
    assert "赵六" * 80 in text and label in text
    (word,) = [w for w in word_boxes(path, 1) if w[0] == label]
    assert word[3] < (22 + 36) / 25.4 * 72  # ends before the value column


def test_every_page_is_a4(renderer: Renderer, tmp_path: Path) -> None:
    face = property_face(zl="成都市" * 1500)
    path = write(tmp_path, render(renderer, face))
    pages = page_count(path)
    assert pages >= 2
    report = run("pdfinfo", "-f", "1", "-l", str(pages), str(path))
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", report)
    assert len(sizes) == pages
    for width, height in sizes:
        assert (float(width), float(height)) == pytest.approx(A4_PT, abs=0.5)


def test_metadata(renderer: Renderer, tmp_path: Path) -> None:
    face = property_face()
    info = run("pdfinfo", "-isodates", str(write(tmp_path, render(renderer, face))))
    assert re.search(r"^Title:\s+川\(2024\)成都市不动产权第0000001号$", info, re.M)
    assert re.search(r"^Creator:\s+bdcert$", info, re.M)
    assert re.search(r"^CreationDate:\s+\S+\+08(:?00)?$", info, re.M), info


# --------------------------------------------------------------------------- fonts


def font_rows(path: Path) -> list[list[str]]:
    lines = run("pdffonts", str(path)).splitlines()[2:]
    return [line.split() for line in lines if line.strip()]


def test_fonts_are_embedded_subsets(renderer: Renderer, tmp_path: Path) -> None:
    rows = font_rows(write(tmp_path, render(renderer, property_face())))
    assert rows
    for row in rows:
        # name, type (two words), encoding, emb, sub, uni, object, generation
        emb, sub, uni = row[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
    assert any("NotoSerifCJKSC" in row[0] for row in rows)
    assert not any("HanaMin" in row[0] for row in rows)  # not needed: not embedded


def test_rare_character_is_drawn_with_a_fallback_font(renderer: Renderer, tmp_path: Path) -> None:
    face = property_face(qlr="张三、李𪚥")  # U+2A6A5, CJK Extension B
    path = write(tmp_path, render(renderer, face))
    assert any("HanaMin" in row[0] for row in font_rows(path))
    assert "李𪚥" in squash(extracted(path))


def test_extension_b_character_only_hanamin_b_has(renderer: Renderer, tmp_path: Path) -> None:
    face = property_face(qlr="王𠀁")  # U+20001: in HanaMinB, not in HanaMinA or Noto
    path = write(tmp_path, render(renderer, face))
    names = [row[0] for row in font_rows(path)]
    assert any(name.endswith("+HanaMinB") for name in names), names
    assert "王𠀁" in squash(extracted(path))


@pytest.mark.parametrize("character", ["\U0010fffd", "\U0002ffff", "\x07"])
def test_character_no_font_has_raises_missing_glyph(renderer: Renderer, character: str) -> None:
    face = property_face(fj=f"附记{character}文字")
    with pytest.raises(MissingGlyph) as caught:
        render(renderer, face)
    assert caught.value.field == "fj"
    assert caught.value.characters == (character,)
    assert f"U+{ord(character):04X}" in str(caught.value)


def test_missing_glyph_reports_every_character_of_the_field(renderer: Renderer) -> None:
    face = proof_face(ywr="张\U0010fffd三\U0002ffff\U0010fffd")
    with pytest.raises(MissingGlyph) as caught:
        render(renderer, face, kind=CertificateKind.REGISTRATION_PROOF)
    assert caught.value.field == "ywr"
    assert caught.value.characters == ("\U0010fffd", "\U0002ffff")


def test_whitespace_needs_no_glyph(renderer: Renderer, tmp_path: Path) -> None:
    face = property_face(fj="第一行\t制表\r\n第二行\u2003全角空格\x0b")
    path = write(tmp_path, render(renderer, face))
    assert squash(face[-2].value) in squash(extracted(path))


# --------------------------------------------------------------------------- QR code


def decode_qr(path: Path, tmp_path: Path) -> str:
    prefix = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(path), str(prefix)],
        check=True,
    )
    (page,) = tmp_path.glob("page*.png")
    return run("zbarimg", "--raw", "-q", str(page)).strip()


@pytest.mark.parametrize("kind", list(CertificateKind))
def test_zbarimg_decodes_exactly_the_url(
    renderer: Renderer, tmp_path: Path, kind: CertificateKind
) -> None:
    face = property_face() if kind is CertificateKind.PROPERTY_CERTIFICATE else proof_face()
    url = URL + "?v=" + kind.value
    path = write(tmp_path, render(renderer, face, kind=kind, url=url))
    assert decode_qr(path, tmp_path) == url


def test_long_url_still_decodes(renderer: Renderer, tmp_path: Path) -> None:
    url = "https://bdc.example.gov.cn/verify/" + "Ab3-_x9Z" * 16
    path = write(tmp_path, render(renderer, property_face(), url=url))
    assert decode_qr(path, tmp_path) == url


@pytest.mark.parametrize("url", ["https://不动产.example/v/abc", "https://x.example/v/é", ""])
def test_non_ascii_or_empty_url_is_refused(renderer: Renderer, url: str) -> None:
    with pytest.raises(ValueError, match="ASCII"):
        render(renderer, property_face(), url=url)


# --------------------------------------------------------------------------- seal


def word_boxes(path: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    """Words of one page (1-based) as (text, xMin, yMin, xMax, yMax), points from the top."""
    html = run("pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(path), "-")
    pattern = (
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    return [
        (m[4], float(m[0]), float(m[1]), float(m[2]), float(m[3]))
        for m in re.findall(pattern, html)
    ]


@pytest.mark.parametrize("with_plan", [False, True])
def test_seal_box_lies_over_the_printed_authority_name(
    renderer: Renderer, tmp_path: Path, with_plan: bool
) -> None:
    plan = AttachedPlan("image/png", plan_png()) if with_plan else None
    rendered = render(renderer, property_face(), plan=plan)
    path = write(tmp_path, rendered)
    pages = page_count(path)
    assert rendered.seal_page == pages - 1
    x1, y1, x2, y2 = rendered.seal_box
    side = SEAL_SIZE_MM / 25.4 * 72
    assert x2 - x1 == pytest.approx(side, abs=0.1)
    assert y2 - y1 == pytest.approx(side, abs=0.1)
    assert 0 < x1 < x2 < A4_PT[0] and 0 < y1 < y2 < A4_PT[1]
    words = word_boxes(path, rendered.seal_page + 1)
    hits = [w for w in words if AUTHORITY.name in w[0]]
    assert hits, words
    _, wx1, wy1, wx2, wy2 = hits[-1]
    # pdftotext measures from the top of the page; seal_box from the bottom.
    cx, cy = (wx1 + wx2) / 2, A4_PT[1] - (wy1 + wy2) / 2
    assert x1 < cx < x2 and y1 < cy < y2
    # Centred on the name, which runs through the clear band under the seal's star.
    below = SEAL_ABOVE_NAME_MM / 25.4 * 72
    assert abs(cx - (x1 + x2) / 2) < 2 and abs((y1 + y2) / 2 - below - cy) < 3
    dates = [w for w in words if "2024年03月06日" in w[0]]
    # The date is under the seal: its word box (which pdftotext measures from the font's
    # ascent, above the glyphs' em box) reaches less than 1 mm into the seal box.
    assert dates and all(A4_PT[1] - w[2] < y1 + 2.8 for w in dates)


def test_seal_picture_is_a_transparent_red_round_png(renderer: Renderer) -> None:
    png = renderer.seal_picture(AUTHORITY)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 80_000
    assert png[25] == 6  # PNG colour type 6: RGBA, the ink's opacity in a real alpha channel
    picture = Image.open(BytesIO(png)).convert("RGBA")
    width, height = picture.size
    assert width == height == round(SEAL_SIZE_MM / 25.4 * 300)
    assert picture.getpixel((2, 2))[3] == 0  # corner: outside the ring, transparent
    assert picture.getpixel((width // 2, height // 2))[3] == 255  # the star's centre
    r, g, b, _ = picture.getpixel((width // 2, height // 2))
    assert r > 180 and g < 60 and b < 60
    ring = picture.getpixel((width // 2, 10))  # the ring at the top
    assert ring[3] > 200
    assert renderer.seal_picture(AUTHORITY) is png  # cached
    rendered = render(renderer, proof_face(), kind=CertificateKind.REGISTRATION_PROOF)
    assert rendered.seal_png == png


def test_seal_is_not_drawn_into_the_pdf(renderer: Renderer, tmp_path: Path) -> None:
    path = write(tmp_path, render(renderer, property_face()))
    listing = run("pdfimages", "-list", str(path)).splitlines()[2:]
    assert listing == []  # QR code is vector, the seal is left to the sealing step


# --------------------------------------------------------------------------- attached plan


def test_attached_plan_gets_its_own_page(renderer: Renderer, tmp_path: Path) -> None:
    plain = write(tmp_path, render(renderer, property_face()), "plain.pdf")
    rendered = render(renderer, property_face(), plan=AttachedPlan("image/png", plan_png()))
    path = write(tmp_path, rendered, "plan.pdf")
    assert page_count(path) == page_count(plain) + 1
    listing = run("pdfimages", "-list", str(path)).splitlines()[2:]
    assert len(listing) == 1
    page, _num, _type, width, height = listing[0].split()[:5]
    assert (int(page), int(width), int(height)) == (page_count(path), 900, 600)
    last = run("pdftotext", "-f", str(page), "-l", str(page), str(path), "-")
    assert "附图" in last


def test_attached_jpeg_and_tall_plan_fit_the_page(renderer: Renderer, tmp_path: Path) -> None:
    picture = Image.new("RGB", (300, 2000), "white")
    out = BytesIO()
    picture.save(out, format="JPEG")
    rendered = render(renderer, property_face(), plan=AttachedPlan("image/jpeg", out.getvalue()))
    path = write(tmp_path, rendered)
    assert page_count(path) == 2
    text = squash(extracted(path))
    assert AUTHORITY.name in text


def test_unreadable_plan_is_a_render_error(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="附图"):
        render(renderer, property_face(), plan=AttachedPlan("image/png", b"not a picture"))


# --------------------------------------------------------------------------- configuration


def test_default_font_config_picks_the_sc_face() -> None:
    config = default_font_config({})
    assert config.regular.path == DEFAULT_REGULAR_PATH
    from fontTools.ttLib import TTFont

    face = TTFont(str(config.regular.path), fontNumber=config.regular.index, lazy=True)
    assert face["name"].getDebugName(1) == "Noto Serif CJK SC"
    assert [s.path for s in config.fallbacks] == list(DEFAULT_FALLBACK_PATHS)


def test_environment_overrides(tmp_path: Path) -> None:
    fallback = str(DEFAULT_FALLBACK_PATHS[1])
    config = default_font_config(
        {"BDCERT_FONT": f"{DEFAULT_REGULAR_PATH}:3", "BDCERT_FALLBACK_FONTS": fallback}
    )
    assert config == FontConfig(FontSpec(DEFAULT_REGULAR_PATH, 3), (FontSpec(fallback),))
    assert default_font_config({"BDCERT_FALLBACK_FONTS": ""}).fallbacks == ()


def test_missing_font_file_names_path_and_package(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ttf"
    with pytest.raises(ConfigurationError, match=re.escape(str(missing))):
        default_font_config({"BDCERT_FONT": str(missing)})
    with pytest.raises(ConfigurationError, match=r"nope\.ttf"):
        font_config_from_settings({"fallbacks": ["nope.ttf"]}, tmp_path)


def test_missing_default_font_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import bdcert.fonts as fonts

    gone = Path("/nonexistent/HanaMinB.ttf")
    monkeypatch.setattr(fonts, "DEFAULT_FALLBACK_PATHS", (gone,))
    monkeypatch.setitem(fonts._PACKAGES, gone, "fonts-hanazono")
    with pytest.raises(ConfigurationError, match="fonts-hanazono") as caught:
        default_font_config({})
    assert str(gone) in str(caught.value)


def test_settings_are_relative_to_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "fonts").mkdir()
    local = tmp_path / "fonts" / "main.ttc"
    local.symlink_to(DEFAULT_REGULAR_PATH)
    config = font_config_from_settings(
        {"regular": "fonts/main.ttc#2", "fallbacks": [str(DEFAULT_FALLBACK_PATHS[0])]}, tmp_path
    )
    assert config.regular == FontSpec(local, 2)
    assert config.fallbacks == (FontSpec(DEFAULT_FALLBACK_PATHS[0]),)
    assert font_config_from_settings({}, tmp_path) == default_font_config()
    with pytest.raises(ConfigurationError):
        font_config_from_settings({"regular": 3}, tmp_path)


def test_without_fallbacks_a_rare_character_is_missing() -> None:
    renderer = Renderer(FontConfig(default_font_config({}).regular, ()))
    with pytest.raises(MissingGlyph) as caught:
        render(renderer, property_face(qlr="李𪚥"))
    assert (caught.value.characters, caught.value.field) == (("𪚥",), "qlr")


# --------------------------------------------------------------------------- the layout engine


def one_mm(ch: str) -> float:
    return 1.0


def test_wrap_text_breaks_at_the_width_and_keeps_line_breaks() -> None:
    # Every character 1 mm wide: at most 4 per line; "\n" and an empty paragraph are kept.
    assert wrap_text("一二三四五六\n\n七", 4.0, one_mm) == ["一二三四", "五六", "", "七"]


def test_wrap_text_follows_the_line_breaking_rules() -> None:
    one = one_mm
    assert wrap_text("一二三-四五", 4.0, one) == ["一二三", "-四五"]  # no line ends with "-"
    assert wrap_text("一二（三四五", 3.0, one) == ["一二", "（三四", "五"]  # nor with "（"
    assert wrap_text("一二三四。五", 4.0, one) == ["一二三", "四。五"]  # "。" starts no line
    assert wrap_text("----------", 4.0, one) == ["----", "----", "--"]  # unless it cannot help


def test_pdf_and_ofd_share_the_layout(renderer: Renderer) -> None:
    # Both formats are laid out by the one PageLayout: the seal lands at the same place.
    from bdcert.render.ofd import write_ofd

    face = property_face(qlqtzk="很长的说明-（附件）" * 200)
    pdf = render(renderer, face)
    ofd = write_ofd(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=face,
        verification_url=URL,
        authority=AUTHORITY,
        licence_id=PROPERTY_ID,
        attached_plan=None,
        fonts=renderer.fonts,
    )
    assert pdf.seal_page == ofd.seal_page > 0
    x, y, w, h = ofd.seal_box_mm
    mm = 25.4 / 72
    x1, y1, x2, y2 = (v * mm for v in pdf.seal_box)
    assert (w, h) == (SEAL_SIZE_MM, SEAL_SIZE_MM)
    assert abs(x - x1) < 0.01 and abs(x + w - x2) < 0.01
    assert abs(y - (297 - y2)) < 0.01 and abs(y + h - (297 - y1)) < 0.01


def test_wrap_text_keeps_designations_whole() -> None:
    one = one_mm
    # A parking space, a unit number and an area are never split, whatever the width.
    assert wrap_text("地下二层B2-118号）", 8.0, one) == ["地下二层", "B2-118号）"]
    assert wrap_text("12栋1506号", 5.0, one) == ["12栋", "1506号"]
    assert wrap_text("面积128.93㎡。", 8.0, one) == ["面积", "128.93㎡。"]
    # Wider than a line: it has to break somewhere.
    assert wrap_text("ABCDEFGH", 4.0, one) == ["ABCD", "EFGH"]


def test_wrap_text_prefers_a_pause_and_keeps_the_rules() -> None:
    one = one_mm
    # A full line breaks after "，" a few characters back rather than mid-phrase.
    assert wrap_text("一二三四，五六七八九十", 7.0, one) == ["一二三四，", "五六七八九十"]
    # Closing punctuation never starts a line (it hangs past the width when nothing else
    # helps), an opening bracket never ends one.
    for width in range(3, 12):
        for line in wrap_text("甲（乙丙）、丁「戊」。己，庚；辛：壬！癸？子", float(width), one)[
            1:
        ]:
            assert line[0] not in "）、」。，；：！？", (width, line)
        for line in wrap_text("甲乙（丙丁）戊「己庚」辛", float(width), one):
            assert line[-1] not in "（「", (width, line)


def ofd_pages_text(package: bytes) -> list[str]:
    """The text of each page of an OFD package, in page order (zipfile and ElementTree)."""
    import zipfile
    from xml.etree import ElementTree as ET

    ns = "{http://www.ofdspec.org/2016}"
    with zipfile.ZipFile(BytesIO(package)) as archive:
        document = ET.fromstring(archive.read("Doc_0/Document.xml"))
        pages = [p.get("BaseLoc", "") for p in document.iter(f"{ns}Page")]
        return [
            "\n".join(
                c.text or ""
                for c in ET.fromstring(archive.read(f"Doc_0/{loc}")).iter(f"{ns}TextCode")
            )
            for loc in pages
        ]


def _seal_page_rest(text: str) -> str:
    """The seal page's text without page furniture, the signature block and whitespace."""
    rest = squash(text)
    for block in (f"登记机构：{AUTHORITY.name}", "签发日期：2024年03月06日"):
        assert block in rest
        rest = rest.replace(block, "", 1)
    return rest


NOTES = "本证书记载的共有情况为按份共有，该不动产已办理转移登记，原权利人已清偿抵押贷款。"


@pytest.mark.parametrize("lines", range(1, 15))
def test_the_signature_block_is_never_alone_on_a_page(
    renderer: Renderer, tmp_path: Path, lines: int
) -> None:
    # 附记 grows a line at a time: somewhere the signature block no longer fits under the
    # rows. The page that carries it must then carry the last lines of the rows as well.
    from bdcert.render.ofd import write_ofd

    notes = "\n".join(f"第{k}条：{NOTES}" for k in range(1, lines + 1))
    face = property_face(fj=notes)
    rendered = render(renderer, face)
    path = write(tmp_path, rendered)
    page = rendered.seal_page + 1
    text = run("pdftotext", "-layout", "-enc", "UTF-8", "-f", str(page), "-l", str(page),
               str(path), "-")  # fmt: skip
    rest = _seal_page_rest(text)
    assert rest, f"the signature block is alone on page {page}"
    if page > 1:  # what is there with it: the end of the rows (附图, 附记 or its last lines)
        assert squash(f"附记{notes}附图见附图页").endswith(rest), rest
    ofd = write_ofd(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=face,
        verification_url=URL,
        authority=AUTHORITY,
        licence_id=PROPERTY_ID,
        attached_plan=None,
        fonts=renderer.fonts,
    )
    assert ofd.seal_page == rendered.seal_page
    assert _seal_page_rest(ofd_pages_text(ofd.package)[ofd.seal_page]) == rest
