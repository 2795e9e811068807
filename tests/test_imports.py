"""Dependencies run one way (issue 17), read from the source's import statements.

- The emulator is a package of its own: it imports nothing of viva.
- The product (every viva module but the harness and the command line) never imports the
  emulator, the harness (viva/harness/: simulated candidates, the emulator as the model's
  stand-in) or the command line.
- No module imports itself through others: no cycle.

Imports under `if TYPE_CHECKING:` are left out: they never run.
"""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("viva", "emulator")
HARNESS = ("viva.harness", "viva.commands", "viva.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project's modules that path imports (a `from package import name` of a submodule counts as it)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return {name for name in found if name in known and name != this}


def import_graph() -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    known = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, known) for p in paths}


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_emulator_imports_nothing_of_viva():
    graph = import_graph()
    wrong = {m: sorted(i for i in imports if within(i, ["viva"])) for m, imports in graph.items()
             if within(m, ["emulator"])}
    assert {m: i for m, i in wrong.items() if i} == {}


def test_the_product_never_imports_the_emulator_or_the_harness():
    graph = import_graph()
    product = [m for m in graph if within(m, ["viva"]) and not within(m, HARNESS)]
    assert len(product) > 30  # the pipeline, the processors, the record, the transports...
    wrong = {m: sorted(i for i in graph[m] if within(i, ["emulator", *HARNESS])) for m in product}
    assert {m: i for m, i in wrong.items() if i} == {}


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_the_reader_sees_the_imports_it_must_judge(tmp_path, monkeypatch):
    """The checks above fail on what they look for: a cycle, a relative import, a lazy import inside a
    function; and they skip imports that never run."""
    package = tmp_path / "viva"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from viva import b\n")
    (package / "b.py").write_text("def f():\n    from .c import thing\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import viva.d\n"
                                  "import viva.a\n")
    (package / "d.py").write_text("import emulator.server\n")
    monkeypatch.setattr("tests.test_imports.ROOT", tmp_path)
    monkeypatch.setattr("tests.test_imports.PACKAGES", ("viva",))
    graph = import_graph()
    assert graph == {"viva": set(), "viva.a": {"viva", "viva.b"}, "viva.b": {"viva.c"}, "viva.c": {"viva.a"},
                     "viva.d": set()}
    assert cycles(graph) == [["viva.a", "viva.b", "viva.c"]]
