from __future__ import annotations

import subprocess
import sys

import bdcert


def test_all_is_sorted_and_importable() -> None:
    def group(name: str) -> tuple[int, str]:  # isort style, as ruff's RUF022 keeps it
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert bdcert.__all__ == sorted(bdcert.__all__, key=group)
    for name in bdcert.__all__:
        assert getattr(bdcert, name) is not None, name


def test_version_is_lazy_and_importing_loads_no_heavy_modules() -> None:
    code = (
        "import sys, bdcert; heavy = [m for m in ('pyhanko', 'fpdf', 'sqlalchemy') "
        "if m in sys.modules]; print(heavy, bdcert.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, version = out.stdout.rsplit(" ", 1)
    assert heavy == "[]"
    assert version.strip()[0].isdigit()
