"""The function-length check of `make test`: no function or method of the project's own code is
longer than MAX_LINES lines (from its `def` line, decorators excepted, to its last line), outside
migrations (generated) and the tests, and outside the exceptions listed here with their reason.

Run it with `python -m tests.support.function_length [paths…]` (default: the repository); it
prints each function over the limit and exits 1 if there is any. ruff's C901/PLR0915 count
branches and statements, not lines, so they would let a long linear function through.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 80
ROOT = Path(__file__).resolve().parents[2]
# Directories never checked: generated code, the tests (a narrative test may walk a long flow),
# and what is not ours.
SKIPPED_PARTS = frozenset({"migrations", "tests", ".venv", "var", "node_modules", "staticfiles", ".git"})
# "path/from/the/root.py:Qualified.name": why it may be longer. Keep this empty where possible.
EXCEPTIONS: dict[str, str] = {}


def python_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        candidates = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for candidate in candidates:
            relative = candidate.resolve().relative_to(ROOT) if candidate.resolve().is_relative_to(ROOT) else candidate
            if not SKIPPED_PARTS & set(relative.parts[:-1]):
                yield candidate


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """Every function and method with its qualified name (`Class.method`, `outer.inner`)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, prefix + node.name + ".")
        else:
            yield from functions(node, prefix)


def too_long(paths: list[Path]) -> list[str]:
    """`path:line: name is N lines` for every function over MAX_LINES that is not an exception."""
    found = []
    for path in python_files(paths):
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        for name, node in functions(ast.parse(path.read_text(), filename=str(path))):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES and f"{shown}:{name}" not in EXCEPTIONS:
                found.append(f"{shown}:{node.lineno}: {name} is {lines} lines (at most {MAX_LINES})")
    return found


def main(argv: list[str]) -> int:
    found = too_long([Path(arg) for arg in argv] or [ROOT])
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} function(s) over {MAX_LINES} lines: split them into named steps", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
