"""National code tables of the real-estate registration database standard (dictionary annex).

Tables are versioned and overridable per province: :data:`NATIONAL_2024` is the national edition
bdcert ships; a province derives its own with :meth:`CodeTables.override`, e.g.
``NATIONAL_2024.override("sichuan-2024", qllx={"23": "某新权利"})``. Codes are strings, exactly as
they appear on the wire (``"4"``, ``"102"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = [
    "CERTIFICATE_KINDS",
    "NATIONAL_2024",
    "PROOF_MATTERS",
    "CodeTables",
]

DJLX = {  # 登记类型
    "100": "首次登记",
    "200": "转移登记",
    "300": "变更登记",
    "400": "注销登记",
    "500": "更正登记",
    "600": "异议登记",
    "700": "预告登记",
    "800": "查封登记",
    "900": "其它登记",
}

QLLX = {  # 权利类型
    "1": "集体土地所有权",
    "2": "国家土地所有权",
    "3": "国有建设用地使用权",
    "4": "国有建设用地使用权/房屋（构筑物）所有权",
    "5": "宅基地使用权",
    "6": "宅基地使用权/房屋（构筑物）所有权",
    "7": "集体建设用地使用权",
    "8": "集体建设用地使用权/房屋（构筑物）所有权",
    "9": "土地承包经营权",
    "10": "土地承包经营权/森林、林木所有权",
    "11": "林地使用权",
    "12": "林地使用权/森林、林木使用权",
    "13": "草原使用权",
    "14": "水域滩涂养殖权",
    "15": "海域使用权",
    "16": "海域使用权/构（建）筑物所有权",
    "17": "无居民海岛使用权",
    "18": "无居民海岛使用权/构（建）筑物所有权",
    "19": "地役权",
    "20": "取水权",
    "21": "探矿权",
    "22": "采矿权",
    "99": "其它",
}

QLXZ = {  # 权利性质
    "100": "国有土地",
    "101": "划拨",
    "102": "出让",
    "103": "作价出资（入股）",
    "104": "国有土地租赁",
    "105": "授权经营",
    "106": "家庭承包",
    "107": "其它方式承包",
    "200": "集体土地",
    "201": "家庭承包",
    "202": "其它方式承包",
    "203": "批准拨用",
    "204": "入股",
    "205": "联营",
}

GYFS = {"0": "单独所有", "1": "共同共有", "2": "按份共有", "3": "其它共有"}  # 共有方式

ZJZL = {  # 证件种类
    "1": "身份证",
    "2": "港澳台身份证",
    "3": "护照",
    "4": "户口簿",
    "5": "军官证",
    "6": "组织机构代码",
    "7": "营业执照",
    "99": "其它",
}

CFLX = {"1": "查封", "2": "轮候查封", "3": "预查封", "4": "轮候预查封"}  # 查封类型

#: 证明权利或事项 for which rule article 5 issues a registration proof (不动产登记证明).
PROOF_MATTERS = ("抵押权", "地役权", "预告登记", "异议登记", "居住权")

#: Wire names of the two certificate kinds (rule article 3).
CERTIFICATE_KINDS = ("property_certificate", "registration_proof")


def _frozen(table: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(table))


@attrs.define(frozen=True)
class CodeTables:
    """One edition of the code tables.

    :ivar edition: a name for this edition, recorded with every registration it validated.
    Each table maps a code (``str``) to its Chinese name.
    """

    edition: str
    djlx: Mapping[str, str] = attrs.field(converter=_frozen)
    qllx: Mapping[str, str] = attrs.field(converter=_frozen)
    qlxz: Mapping[str, str] = attrs.field(converter=_frozen)
    gyfs: Mapping[str, str] = attrs.field(converter=_frozen)
    zjzl: Mapping[str, str] = attrs.field(converter=_frozen)
    cflx: Mapping[str, str] = attrs.field(converter=_frozen)

    def override(self, edition: str, **tables: Mapping[str, str | None]) -> CodeTables:
        """A new edition with codes added or replaced; a value of ``None`` removes a code.

        :param edition: name of the new edition, e.g. ``"sichuan-2024"``.
        :param tables: table name (``djlx``, ``qllx``, ``qlxz``, ``gyfs``, ``zjzl``, ``cflx``) to
            the codes to change.
        :raises ValueError: for an unknown table name.
        """
        changes: dict[str, Mapping[str, str]] = {}
        for name, delta in tables.items():
            if name not in {"djlx", "qllx", "qlxz", "gyfs", "zjzl", "cflx"}:
                raise ValueError(f"unknown code table {name!r}")
            merged = dict(getattr(self, name))
            for code, label in delta.items():
                if label is None:
                    merged.pop(code, None)
                else:
                    merged[str(code)] = label
            changes[name] = merged
        return attrs.evolve(self, edition=edition, **changes)


NATIONAL_2024 = CodeTables(
    edition="national-2024",
    djlx=DJLX,
    qllx=QLLX,
    qlxz=QLXZ,
    gyfs=GYFS,
    zjzl=ZJZL,
    cflx=CFLX,
)
