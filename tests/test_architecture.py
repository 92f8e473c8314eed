"""The package's layers, checked: a module may import only from its own layer or the layers below it
(docs/architecture.md draws them). Read from the source with ``ast``, so a lazy import inside a function and an
import under ``TYPE_CHECKING`` count as much as one at the top: a cycle hidden in a function is still a cycle.

Adding a module to a new top-level package of ``aggregator`` fails ``test_every_module_has_a_layer`` until the
package is given a layer here, which is the moment to decide where it belongs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aggregator"

# Lowest first. A layer may import itself and every layer listed before it, except where EXCLUDED says no.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("aggregator.config", "aggregator.errors", "aggregator.domain", "aggregator.models",
                    "aggregator.db")),
    ("topics", ("aggregator.topics",)),
    ("trials", ("aggregator.trials",)),
    ("store", ("aggregator.store",)),
    ("poll", ("aggregator.poll",)),
    ("mail", ("aggregator.mail",)),
    ("context", ("aggregator.context",)),
    ("web", ("aggregator.web",)),
    ("cli", ("aggregator.cli",)),
    ("app", ("aggregator", "aggregator.demo")),
]
# Siblings that must stay apart although one is listed below the other: the email side never polls, and the
# topic matcher (compiled with mypyc) and the trial logic know nothing of each other.
EXCLUDED: set[tuple[str, str]] = {("mail", "poll"), ("trials", "topics")}

RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if prefix == "aggregator" and module != "aggregator":
                    continue  # the app factory is the package's __init__ only
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), name)
    return best[1] if best else None


def imports_of(path: Path) -> set[str]:
    """Every aggregator module that ``path`` imports, resolved to absolute dotted names."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "aggregator")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "aggregator":
                continue
            for alias in node.names:  # `from pkg import module` imports the module
                candidate = f"{target}.{alias.name}"
                is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").exists()
                found.add(candidate if is_module else target)
    found.discard(own)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_the_layer_table_is_read() -> None:
    """The check can fail: an upward import is reported (a known edge, reversed, must break the rules)."""
    assert not allowed("store", "web")
    assert not allowed("poll", "cli")
    assert allowed("web", "store")
    assert not allowed("mail", "poll")


def allowed(importer: str, imported: str) -> bool:
    if (importer, imported) in EXCLUDED:
        return False
    return RANK[imported] <= RANK[importer]


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        for target in targets:
            if target in MODULES and not allowed(layer_of(module) or "", layer_of(target) or ""):
                wrong.append(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})")
    assert wrong == []


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, lazy ones included (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in MODULES or _package_init_of(node, target):
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(cycle) for cycle in cycles)


def _package_init_of(importer: str, target: str) -> bool:
    """A package's ``__init__`` re-exporting its own submodules is not a cycle with them."""
    return importer.startswith(target + ".") and MODULES[target].name == "__init__.py"


@pytest.mark.parametrize("package", sorted({m.split(".")[1] for m in MODULES if m.count(".") >= 1
                                            and MODULES[m].name == "__init__.py" and m.count(".") == 1}))
def test_every_package_says_what_it_holds(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[f"aggregator.{package}"].read_text(encoding="utf-8")))
    assert doc and len(doc) > 40, f"aggregator/{package}/__init__.py needs a docstring saying what it holds"
