"""The layout rules of the code base, read from the source with ``ast`` (nothing is imported).

(a) Imports between top-level folders go one way: ``dualsim -> scenarios -> runner -> models ->
    agents``, each of them may import ``analysis``, ``analysis`` imports none of them, and
    nothing imports ``benchmarks``; there is no circle. Imports under ``if TYPE_CHECKING:``
    are not edges (Mesa's idiom for type hints).
(b) No function-level import of a project module: only optional heavy dependencies are
    imported lazily (:data:`LAZY_ALLOWED`).
(c) ``os.replace`` occurs in ``runner/io.py`` only (the one atomic writer).
(d) The stepping loop -- ``.step()`` called on a model inside a ``for``/``while`` loop or a
    comprehension -- occurs in ``runner.arms.run_arm`` only. A model stepping itself
    (``self.step()``, ``super().step()``) is the model's own method, not a run loop.
(e) Every module assigns ``__all__`` at module level (its public names).

Every check is a pure function of source texts; each has a unit test feeding it a synthetic bad
module, so that it can be seen to fail.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# rank in the one-way chain: a folder may import folders of lower or equal rank
RANKS = {"agents": 0, "models": 1, "runner": 2, "scenarios": 3, "dualsim": 4}
SHARED = "analysis"  # importable by every ranked folder; imports none of them
FREE = "benchmarks"  # may import anything; nothing imports it
PACKAGES = (*RANKS, SHARED, FREE)
LAZY_ALLOWED = (
    "matplotlib",
    "tqdm",
    "dask",
    "distributed",
    "solara",
    "playwright",
    "nbclient",
    "ipywidgets",
    "mesa.visualization",
    "torch",
)
ATOMIC_WRITER = "runner/io.py"
STEPPING_LOOP = ("runner/arms.py", "run_arm")
LOOPS = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


# --------------------------------------------------------------------------- reading sources
def project_sources(root: Path = ROOT) -> dict[str, str]:
    """``{relative path: source}`` of every Python file of the project's top-level folders."""
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            out[path.relative_to(root).as_posix()] = path.read_text()
    return out


@functools.cache
def parse(source: str, path: str) -> ast.Module:
    """The syntax tree of a source, parsed once per session (the checks only read trees)."""
    return ast.parse(source, path)


def module_name(path: str) -> str:
    """``runner/sweep/grid.py`` -> ``runner.sweep.grid``; ``runner/__init__.py`` -> ``runner``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it sits inside a function, skipping ``if TYPE_CHECKING:``
    bodies (their ``else`` branch is code)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                yield sub, in_function
                yield from _walk(sub, in_function)
            continue
        yield child, in_function
        yield from _walk(child, in_function or isinstance(child, FUNCTIONS))


def imports(path: str, source: str) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` of every runtime import of a file
    (relative imports resolved against ``path``).

    Examples
    --------
    >>> src = "from . import b\\nif TYPE_CHECKING:\\n    import c\\ndef f():\\n    import d.e"
    >>> list(imports("pkg/a.py", src))
    [('pkg', 1, False), ('d.e', 5, True)]
    """
    package = module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    for node, in_function in _walk(parse(source, path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, in_function
        elif isinstance(node, ast.ImportFrom):
            head = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                head = ".".join([*base, *([node.module] if node.module else [])])
            yield head, node.lineno, in_function


def _top(module: str) -> str:
    return module.split(".")[0]


# --------------------------------------------------------------------------- (a) folder graph
def folder_edges(sources: Mapping[str, str]) -> dict[tuple[str, str], list[str]]:
    """``{(importer folder, imported folder): ["path:line", ...]}`` between distinct top-level
    project folders (runtime imports only)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path, source in sources.items():
        src = path.split("/")[0]
        for module, line, _ in imports(path, source):
            dst = _top(module)
            if dst in PACKAGES and dst != src:
                edges.setdefault((src, dst), []).append(f"{path}:{line}")
    return edges


def direction_violations(edges: Mapping[tuple[str, str], list[str]]) -> list[str]:
    """Edges against ``dualsim -> scenarios -> runner -> models -> agents`` (+ analysis).

    Examples
    --------
    >>> direction_violations({("runner", "models"): ["x"], ("models", "runner"): ["m.py:3"]})
    ['models -> runner (m.py:3)']
    """
    bad = []
    for (src, dst), where in sorted(edges.items()):
        if src == FREE:
            ok = True
        elif dst == FREE:
            ok = False
        elif src == SHARED:
            ok = False
        elif dst == SHARED:
            ok = True
        else:
            ok = RANKS[dst] <= RANKS[src]
        if not ok:
            bad.append(f"{src} -> {dst} ({', '.join(where[:3])})")
    return bad


def cycles(edges: Mapping[tuple[str, str], list[str]]) -> list[list[str]]:
    """The circles of the folder graph (each as a closed path, smallest folder first).

    Examples
    --------
    >>> cycles({("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("c", "d"): []})
    [['a', 'b', 'c', 'a']]
    """
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    found: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0]:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return [[*c, c[0]] for c in sorted(found)]


# --------------------------------------------------------------------------- (b) lazy imports
def lazy_import_violations(sources: Mapping[str, str]) -> list[str]:
    """Function-level imports of anything but the optional heavy dependencies.

    Examples
    --------
    >>> src = "def f():\\n    import matplotlib.pyplot\\n    from runner import io\\n"
    >>> lazy_import_violations({"scenarios/x.py": src})
    ['scenarios/x.py:3 imports runner inside a function']
    """
    bad = []
    for path, source in sources.items():
        for module, line, in_function in imports(path, source):
            if in_function and not any(
                module == ok or module.startswith(ok + ".") for ok in LAZY_ALLOWED
            ):
                bad.append(f"{path}:{line} imports {module} inside a function")
    return bad


# --------------------------------------------------------------------------- (c) os.replace
def os_replace_sites(sources: Mapping[str, str]) -> list[str]:
    """Every ``os.replace`` (attribute or ``from os import replace``) as ``path:line``.

    Examples
    --------
    >>> os_replace_sites({"a.py": "import os\\nos.replace('x', 'y')", "b.py": "x = 'os.replace'"})
    ['a.py:2']
    """
    sites = []
    for path, source in sources.items():
        for node in ast.walk(parse(source, path)):
            hit = (
                isinstance(node, ast.Attribute)
                and node.attr == "replace"
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(a.name == "replace" for a in node.names)
            )
            if hit:
                sites.append(f"{path}:{node.lineno}")
    return sites


# --------------------------------------------------------------------------- (d) stepping loop
def _is_model_step(node: ast.AST, loop_names: set[str]) -> bool:
    """``X.step()`` with no arguments on a receiver the loop does not rebind: not ``self``,
    not ``super()``, and not a loop variable (``for c in controllers: c.step()`` steps each
    element once, as a model's own step does with its controllers)."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "step"
        and not node.args
        and not node.keywords
    ):
        return False
    target = node.func.value
    while isinstance(target, ast.Attribute | ast.Subscript):
        target = target.value
    if isinstance(target, ast.Call):
        return not (isinstance(target.func, ast.Name) and target.func.id == "super")
    return not (isinstance(target, ast.Name) and (target.id == "self" or target.id in loop_names))


def _loop_names(loop: ast.AST) -> set[str]:
    """The names a ``for`` loop or a comprehension binds."""
    targets = [loop.target] if isinstance(loop, ast.For | ast.AsyncFor) else []
    targets += [g.target for g in getattr(loop, "generators", [])]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def stepping_loops(sources: Mapping[str, str]) -> list[tuple[str, str, int]]:
    """``(path, enclosing function, line)`` of every model ``.step()`` call inside a loop of
    the same function (a nested function body starts afresh).

    Examples
    --------
    >>> src = '''
    ... def run(m, n):
    ...     for _ in range(n):
    ...         m.step()
    ... def once(m, controllers):
    ...     m.step()
    ...     for c in controllers:
    ...         c.step()
    ... class M:
    ...     def run(self):
    ...         while True:
    ...             self.step()
    ... '''
    >>> stepping_loops({"x.py": src})
    [('x.py', 'run', 4)]
    """
    found = []

    def visit(node: ast.AST, function: str, loops: list[set[str]], path: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, FUNCTIONS):
                visit(child, getattr(child, "name", "<lambda>"), [], path)
                continue
            if loops and _is_model_step(child, set().union(*loops)):
                found.append((path, function, child.lineno))
            inner = [*loops, _loop_names(child)] if isinstance(child, LOOPS) else loops
            visit(child, function, inner, path)

    for path, source in sources.items():
        visit(parse(source, path), "<module>", [], path)
    return sorted(found)


# --------------------------------------------------------------------------- (e) __all__
def modules_without_all(sources: Mapping[str, str]) -> list[str]:
    """The files that do not assign ``__all__`` at module level.

    Examples
    --------
    >>> modules_without_all({"a.py": "__all__ = ['f']", "b.py": "def f():\\n    __all__ = []"})
    ['b.py']
    """
    bad = []
    for path, source in sources.items():
        targets = [
            t
            for node in parse(source, path).body
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        ]
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            bad.append(path)
    return bad


# --------------------------------------------------------------------------- the checks
@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return project_sources()


def test_folders_import_one_way_without_circles(sources: dict[str, str]) -> None:
    edges = folder_edges(sources)
    assert cycles(edges) == []
    assert direction_violations(edges) == []


def test_no_function_level_imports_of_project_modules(sources: dict[str, str]) -> None:
    assert lazy_import_violations(sources) == []


def test_os_replace_only_in_the_atomic_writer(sources: dict[str, str]) -> None:
    tests = {
        p.relative_to(ROOT).as_posix(): p.read_text()
        for p in sorted((ROOT / "tests").rglob("*.py"))
    }
    sites = os_replace_sites({**sources, **tests})
    assert sites and {s.split(":")[0] for s in sites} == {ATOMIC_WRITER}


def test_one_stepping_loop(sources: dict[str, str]) -> None:
    loops = stepping_loops(sources)
    assert {(path, function) for path, function, _ in loops} == {STEPPING_LOOP}


def test_every_module_declares_all(sources: dict[str, str]) -> None:
    assert len(sources) > 100 and modules_without_all(sources) == []


# --------------------------------------------------------------------------- the checks can fail
def test_direction_and_circle_checks_fail_on_a_bad_graph() -> None:
    bad = {
        "models/x.py": "from runner.io import atomic_write\n",
        "runner/y.py": "import models\nfrom scenarios import CATALOGUE\n",
        "scenarios/z.py": "from runner import run_arm\n",
        "analysis/w.py": "import models.config\n",
        "agents/v.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import models\n",
        "dualsim/u.py": "from benchmarks import bench\n",
    }
    edges = folder_edges(bad)
    assert ("agents", "models") not in edges  # type hints only
    assert cycles(edges) == [["models", "runner", "models"], ["runner", "scenarios", "runner"]]
    assert [v.split(" (")[0] for v in direction_violations(edges)] == [
        "analysis -> models",
        "dualsim -> benchmarks",
        "models -> runner",
        "runner -> scenarios",
    ]


def test_relative_imports_stay_inside_their_folder() -> None:
    src = "from ..ensemble import Ensemble\nfrom . import sibling\nfrom runner import io\n"
    assert folder_edges({"models/sub/x.py": src}) == {("models", "runner"): ["models/sub/x.py:3"]}
    assert [m for m, _, _ in imports("models/sub/x.py", src)][:2] == [
        "models.ensemble",
        "models.sub",
    ]


def test_lazy_import_check_fails_on_a_function_level_project_import() -> None:
    src = (
        "import numpy\n"
        "def f():\n"
        "    from tqdm.auto import tqdm\n"
        "    import mesa.visualization\n"
        "    from models.config import SystemConfig\n"
        "class A:\n"
        "    def g(self):\n"
        "        import mesa\n"
    )
    assert lazy_import_violations({"runner/x.py": src}) == [
        "runner/x.py:5 imports models.config inside a function",
        "runner/x.py:8 imports mesa inside a function",
    ]


def test_os_replace_check_finds_every_spelling() -> None:
    src = "import os\nfrom os import replace\ndef f(a, b):\n    os.replace(a, b)\n"
    assert os_replace_sites({"runner/checkpoint.py": src}) == [
        "runner/checkpoint.py:2",
        "runner/checkpoint.py:4",
    ]


def test_stepping_loop_check_fails_on_a_second_loop() -> None:
    src = (
        "def burn(model, n):\n"
        "    while model.steps < n:\n"
        "        model.step()\n"
        "def many(model, n):\n"
        "    return [model.ensemble.step() for _ in range(n)]\n"
        "def one(model):\n"
        "    model.step()\n"
        "    model.step(2)\n"
    )
    assert stepping_loops({"scenarios/x.py": src}) == [
        ("scenarios/x.py", "burn", 3),
        ("scenarios/x.py", "many", 5),
    ]
