"""Face items of the two certificates (rule articles 5 and 6), as text in print order.

The renderer draws exactly these; the QR code, the authority's seal and the 附图 picture are drawn
beside them. Values are built from the validated entry, never from free text the renderer makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from bdcert.codes import CodeTables
from bdcert.model import (
    CHINA_TZ,
    Authority,
    CertificateKind,
    FaceItem,
    Party,
    RegistrationEntry,
    Term,
)

__all__ = ["china_date", "face_items", "format_area", "format_term"]


def china_date(value: date | datetime) -> str:
    """``2024年03月05日``; an aware datetime is first converted to China time (UTC+08:00)."""
    if isinstance(value, datetime):
        value = value.astimezone(CHINA_TZ).date()
    return f"{value.year}年{value.month:02d}月{value.day:02d}日"


def format_term(term: Term | None) -> str:
    """使用期限: ``2003年06月01日起2073年05月31日止``; empty when there is none."""
    if term is None:
        return ""
    return f"{china_date(term.start)}起{china_date(term.end)}止"


def format_area(value: Decimal) -> str:
    """Square metres with two decimals: ``21.37``."""
    return f"{value.quantize(Decimal('0.01'))}"


def _names(parties: Sequence[Party]) -> str:
    return "、".join(p.name for p in parties)


def _co_ownership(entry: RegistrationEntry, codes: CodeTables) -> str:
    gyfs = entry.co_ownership or "0"
    label = codes.gyfs.get(gyfs, gyfs)
    if gyfs == "0":
        return label
    if gyfs == "2":
        shares = "，".join(f"{p.name}占{p.share}" for p in entry.holders)
        return f"{label}：{shares}"
    return f"{label}：{_names(entry.holders)}"


def face_items(
    entry: RegistrationEntry,
    *,
    kind: CertificateKind,
    number: str,
    holders: Sequence[Party],
    authority: Authority,
    issued_at: datetime,
    codes: CodeTables,
) -> tuple[FaceItem, ...]:
    """Every text face item of ``kind`` for ``entry``.

    :param holders: the holders printed as 权利人 on this certificate (all holders for 共同持证,
        one holder for each certificate under 分别持证).
    :returns: items keyed by wire key (``zh``, ``qlr``, ``zl``, …) with Chinese labels.
    """
    units = "\n".join(entry.unit_numbers)
    common = [
        FaceItem("djjg", "登记机构", authority.name),
        FaceItem("fzrq", "登簿日期", china_date(entry.recorded_at)),
        FaceItem("qfsj", "签发日期", china_date(issued_at)),
        FaceItem(
            "zh", "证号" if kind is CertificateKind.PROPERTY_CERTIFICATE else "证明号", number
        ),
    ]
    if kind is CertificateKind.REGISTRATION_PROOF:
        return (
            *common,
            FaceItem("zmsx", "证明权利或事项", entry.proven_matter or ""),
            FaceItem("qlr", "权利人（申请人）", _names(holders)),
            FaceItem("ywr", "义务人", _names(entry.obligors)),
            FaceItem("zl", "坐落", entry.location),
            FaceItem("bdcdyh", "不动产单元号", units),
            FaceItem("qt", "其他", entry.other),
            FaceItem("fj", "附记", entry.notes),
        )
    areas = entry.areas
    area_parts = []
    if areas is not None and areas.land is not None:
        area_parts.append(f"宗地面积{format_area(areas.land)}㎡")
    if areas is not None and areas.building is not None:
        area_parts.append(f"房屋建筑面积{format_area(areas.building)}㎡")
    right_type = entry.right_type or ""
    nature = entry.right_nature or ""
    return (
        *common,
        FaceItem("qlr", "权利人", _names(holders)),
        FaceItem("gyqk", "共有情况", _co_ownership(entry, codes)),
        FaceItem("zl", "坐落", entry.location),
        FaceItem("bdcdyh", "不动产单元号", units),
        FaceItem("qllx", "权利类型", codes.qllx.get(right_type, right_type)),
        FaceItem("qlxz", "权利性质", codes.qlxz.get(nature, nature)),
        FaceItem("yt", "用途", entry.use or ""),
        FaceItem("mj", "面积", " / ".join(area_parts)),
        FaceItem("syqx", "使用期限", format_term(entry.term)),
        FaceItem("qlqtzk", "权利其他状况", entry.other_status),
        FaceItem("fj", "附记", entry.notes),
        FaceItem("ft", "附图", "见附图页" if entry.attached_plan is not None else "无"),
    )
