"""Report import cycles between the modules of clsm_cli, and modules over the size limit.

Every import counts: module-level ones, lazy ones inside functions, and those under
``if TYPE_CHECKING:``, because each is an arrow a reader has to follow. The imports are read with
``ast`` (nothing is imported or run). ``from clsm_cli.a import b`` is an arrow to ``clsm_cli.a.b``
when that is a module, else to ``clsm_cli.a`` (a name from the package's ``__init__``); relative
imports are resolved the same way.

It also checks the package's layers (:data:`LAYER_RULES`): a folder of the package that must not
import another (``models`` never imports ``engine``; ``editing`` never imports ``eval``; ``music``
imports neither ``models`` nor ``engine``), and the time base, which imports nothing of the
package but ``constants`` and ``errors``. Rules name modules or folders of ``clsm_cli``; another
``--package`` is checked against the same rules under its own name.

Prints each cycle as ``a -> b -> a`` (one per strongly connected group of modules, with one
shortest loop through it), each import that breaks a layer rule, and each module over
``--max-lines`` lines; exits 1 when there is any.

Usage: ``python scripts/check_imports.py [--package FOLDER] [--max-lines 500]`` (default: clsm_cli).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

# (importer, forbidden): no module at or under ``importer`` imports one at or under ``forbidden``.
# Names are relative to the package ("models" is clsm_cli.models and everything in it).
LAYER_RULES: tuple[tuple[str, str], ...] = (
    ("models", "engine"),  # the engines load models; models never reach back (sampling.py is below both)
    ("editing", "eval"),  # evaluation measures edits; editing shares only edit_distance.py with it
    ("music", "models"),  # music is data: no model code under it
    ("music", "engine"),
)
# Modules that may import only the listed modules of the package (the bottom floor).
ONLY_IMPORTS: dict[str, tuple[str, ...]] = {
    "timebase": ("constants", "errors"),
}


def module_files(package_folder: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file in the package (``__init__`` names the package)."""
    modules = {}
    for path in sorted(package_folder.rglob("*.py")):
        parts = list(path.relative_to(package_folder.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` (at ``path``) imports anywhere in its text."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_nearest_module(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_base(name, is_package, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _nearest_module(base, modules))
    found.discard("")
    found.discard(name)
    return found


def _absolute_base(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _nearest_module(dotted: str, modules: dict[str, Path]) -> str:
    """The longest prefix of ``dotted`` that is one of the package's modules ('' if none)."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return ""


def strongly_connected_groups(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; only groups of two or more modules (no module imports itself)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def shortest_loop(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A shortest cycle through the group's first module, inside the group (breadth first)."""
    start, members = group[0], set(group)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & members):
            if child == start:
                loop = [node]
                while loop[-1] != start:
                    loop.append(previous[loop[-1]])
                return [start, *reversed(loop[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError("a strongly connected group always has a loop")


def _inside(module: str, area: str) -> bool:
    return module == area or module.startswith(area + ".")


def layer_violations(graph: dict[str, set[str]], package: str) -> list[str]:
    """``"a imports b (rule)"`` for each import that breaks :data:`LAYER_RULES` or :data:`ONLY_IMPORTS`."""
    found = []
    for importer, forbidden in LAYER_RULES:
        importer_name, forbidden_name = f"{package}.{importer}", f"{package}.{forbidden}"
        for module in sorted(graph):
            if _inside(module, importer_name):
                for target in sorted(graph[module]):
                    if _inside(target, forbidden_name):
                        found.append(f"{module} imports {target} ({importer} must not import {forbidden})")
    for leaf, allowed in ONLY_IMPORTS.items():
        module = f"{package}.{leaf}"
        allowed_names = {package} | {f"{package}.{name}" for name in allowed}
        for target in sorted(graph.get(module, ())):
            if target not in allowed_names:
                found.append(f"{module} imports {target} ({leaf} imports only {', '.join(allowed)})")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=REPOSITORY / "clsm_cli", help="the package folder")
    parser.add_argument("--max-lines", type=int, default=500, help="the size limit of one module")
    args = parser.parse_args()
    modules = module_files(args.package)
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    groups = strongly_connected_groups(graph)
    violations = layer_violations(graph, args.package.name)
    oversized = {name: len(path.read_text().splitlines()) for name, path in modules.items()}
    oversized = {name: lines for name, lines in oversized.items() if lines > args.max_lines}

    arrows = sum(len(targets) for targets in graph.values())
    print(f"{len(modules)} modules, {arrows} import arrows (lazy and TYPE_CHECKING imports included)")
    for group in groups:
        print(f"cycle among {len(group)} modules: {' -> '.join(shortest_loop(graph, group))}")
    for violation in violations:
        print(f"layer rule broken: {violation}")
    for name, lines in sorted(oversized.items()):
        print(f"{modules[name].relative_to(args.package.parent)}: {lines} lines (limit {args.max_lines})")
    if not groups and not oversized and not violations:
        print(f"no import cycles; no layer rule broken; no module over {args.max_lines} lines")
    return 1 if groups or oversized or violations else 0


if __name__ == "__main__":
    sys.exit(main())
