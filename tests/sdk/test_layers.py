"""Guard test (issue 8): the SDK's modules import only downward, share no private names, form no
import cycle, and stay small.

Layers, lowest first: values (errors, model, records) -> primitives (codes, identifiers,
validation, face, pki, wire) -> contracts (protocols, hookspecs, plugins, config, access,
fonts) -> gm/ (national primitives) -> render/ -> sealing/ -> verify/ -> audit/ -> lifecycle/
-> tools (demo_pki). A module may import its own layer (when acyclic) and every layer below.
Every import counts: module-level, function-local and ``if TYPE_CHECKING:``. Old import paths
kept by re-export (:data:`SHIMS`) sit at the layer of what they re-export and hold no code.

``KNOWN_VIOLATIONS``, ``KNOWN_PRIVATE_IMPORTS`` and ``KNOWN_LARGE_MODULES`` are empty; the test
fails when something appears in them, and when a listed entry is gone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "sdk"
PACKAGE = SDK / "bdcert"

#: Layer order, lowest first. ``bdcert`` itself (its ``__init__``) re-exports from every layer.
ORDER = (
    "values",
    "primitives",
    "contracts",
    "gm",
    "render",
    "sealing",
    "verify",
    "audit",
    "lifecycle",
    "tools",
    "package",
)
#: First component under ``bdcert`` -> layer. Old top-level modules that became (or become)
#: re-export shims sit at the layer of what they re-export.
LAYER_OF = {
    "_version": "values",
    "errors": "values",
    "model": "values",
    "records": "values",
    "codes": "primitives",
    "bounds": "primitives",
    "identifiers": "primitives",
    "validation": "primitives",
    "face": "primitives",
    "pki": "primitives",
    "wire": "primitives",
    "protocols": "contracts",
    "hookspecs": "contracts",
    "plugins": "contracts",
    "config": "contracts",
    "access": "contracts",
    "fonts": "contracts",  # font configuration ([fonts] in bdcert.toml, checked by config)
    "gm": "gm",
    "render": "render",
    "sealing": "sealing",
    "pades": "sealing",
    "verify": "verify",
    "signatures": "verify",
    "audit": "audit",
    "lifecycle": "lifecycle",
    "holders": "lifecycle",
    "sharing": "lifecycle",
    # Tools: a throwaway PKI (P-256 and SM2) for demos and tests, made with gm/ and cryptography.
    "demo_pki": "tools",
    "demo_ca": "tools",
}

#: Old import paths kept working by re-export after issue 8 moved their code up a layer. Each is
#: layered with what it re-exports and may hold nothing but a docstring, imports and ``__all__``
#: (:func:`test_shims_only_re_export`). The top-level ``pades``, ``signatures``, ``holders`` and
#: ``sharing`` shims are layered by :data:`LAYER_OF`.
SHIMS: dict[str, str] = {
    "bdcert.gm.ofd": "render",  # -> bdcert.render.ofd
    "bdcert.gm.ofd_seal": "verify",  # -> bdcert.sealing.ofd, bdcert.verify.ofd
    "bdcert.gm.pdf_sm2": "verify",  # -> bdcert.sealing.pdf_sm2, bdcert.verify.pdf_sm2
    "bdcert.pades": "sealing",
    "bdcert.signatures": "verify",
    "bdcert.holders": "lifecycle",
    "bdcert.sharing": "lifecycle",
}

#: (importer, imported) edges that go upward. Empty: keep it so.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()

#: (importer, imported module, name): underscore names crossing modules. Empty: keep it so.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()

#: Modules over :data:`MAX_LINES`. Empty: keep it so.
KNOWN_LARGE_MODULES: set[str] = set()

MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SDK).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def layer(module: str) -> str:
    if module in SHIMS:
        return SHIMS[module]
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] not in LAYER_OF:
        raise AssertionError(f"{module} is in no layer: add it to LAYER_OF in {__file__}")
    return LAYER_OF[parts[1]]


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if MODULES[importer].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(importer: str) -> Iterator[tuple[str, str | None]]:
    """(imported sdk module, name imported from it or None) for every import in ``importer``."""
    tree = ast.parse(MODULES[importer].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bdcert":
                    yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(importer, node)
            if source.split(".")[0] != "bdcert":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:  # from bdcert.lifecycle import intake: the module
                    yield submodule, None
                else:
                    yield source, alias.name


def edges() -> set[tuple[str, str]]:
    return {
        (importer, imported)
        for importer in MODULES
        for imported, _ in imports(importer)
        if imported != importer and imported in MODULES
    }


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_imports_go_only_downward() -> None:
    upward = {(a, b) for a, b in edges() if ORDER.index(layer(b)) > ORDER.index(layer(a))}
    assert sorted(upward - KNOWN_VIOLATIONS) == [], "new upward imports"
    assert sorted(KNOWN_VIOLATIONS - upward) == [], "fixed: remove them from KNOWN_VIOLATIONS"


def test_no_private_name_crosses_a_module() -> None:
    found = {
        (importer, imported, name)
        for importer in MODULES
        for imported, name in imports(importer)
        if name is not None and _private(name) and imported != importer
    }
    assert sorted(found - KNOWN_PRIVATE_IMPORTS) == [], "give the shared code a public name"
    assert sorted(KNOWN_PRIVATE_IMPORTS - found) == [], "fixed: remove from KNOWN_PRIVATE_IMPORTS"


def test_no_import_cycle() -> None:
    """Among the edges that are not known violations (each cycle today runs through one)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a, b in edges() - KNOWN_VIOLATIONS:
        graph[a].add(b)
    cycles = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    if module in KNOWN_LARGE_MODULES:
        assert lines > MAX_LINES, f"{module} is {lines} lines: remove it from KNOWN_LARGE_MODULES"
    else:
        assert lines <= MAX_LINES, f"{module} is {lines} lines (at most {MAX_LINES}): split it"


def test_the_allowlists_name_real_modules() -> None:
    named = {m for pair in KNOWN_VIOLATIONS for m in pair} | KNOWN_LARGE_MODULES
    named |= {m for a, b, _ in KNOWN_PRIVATE_IMPORTS for m in (a, b)}
    assert sorted(named - set(MODULES)) == []


@pytest.mark.parametrize("module", sorted(SHIMS))
def test_shims_only_re_export(module: str) -> None:
    """A legacy path holds no code of its own: a docstring, imports and ``__all__``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
        raise AssertionError(f"{module} line {node.lineno}: a shim only re-exports")
