"""The modules of src/gibo import each other without a circle, and none is longer than 500 lines.

The graph is read from the source (AST), with every import: at the top of a module and inside functions
alike, since a lazy import that closes a circle still ties the two modules together. `from gibo import x`
names the module `gibo.x` where that is a module; importing a submodule also runs its packages'
`__init__`, which is not counted as an edge (it is how packages work, not a choice of the module).
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "gibo"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict:
    """{module name: path} of every module of the package."""
    return {module_name(path): path for path in sorted((SRC / PACKAGE).rglob("*.py"))}


def imported(name: str, path: Path, known: set) -> set:
    """The package's modules that module `name` (at `path`) imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b`: the module a.b where b is one, else the module a
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import gibo.x.y` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict:
    """{module: the package's modules it imports}."""
    paths = modules()
    return {name: imported(name, path, set(paths)) for name, path in paths.items()}


def cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_top_level_and_function_level_imports():
    graph = import_graph()
    assert "gibo.model" in graph["gibo.acquisition_function"]  # at the top
    assert "gibo.optimizers" in graph["gibo.build"]  # inside a function
    assert "gibo.optimizers.gibo" in graph["gibo.optimizers"]  # a package's re-exports


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_no_module_longer_than_500_lines():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
