"""The function-length check of `make test` (tests/support/function_length.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import function_length
from tests.support.server import ROOT


def source(body_lines: int) -> str:
    return "class Gate:\n    def handle(self):\n" + "        x = 1\n" * (body_lines - 1)


def test_the_project_has_no_function_over_the_limit() -> None:
    assert function_length.too_long([ROOT]) == []


def test_a_function_over_the_limit_fails_the_check(tmp_path) -> None:
    (tmp_path / "fits.py").write_text(source(80))
    (tmp_path / "long.py").write_text(source(81))
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.function_length", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stdout == f"{tmp_path / 'long.py'}:2: Gate.handle is 81 lines (at most 80)\n"
    assert "1 function(s) over 80 lines" in run.stderr


def test_a_listed_exception_passes(tmp_path, monkeypatch) -> None:
    (tmp_path / "long.py").write_text(source(81))
    assert function_length.too_long([tmp_path]) != []
    monkeypatch.setitem(function_length.EXCEPTIONS, f"{tmp_path / 'long.py'}:Gate.handle", "a data table")
    assert function_length.too_long([tmp_path]) == []


def test_migrations_and_tests_are_not_checked(tmp_path) -> None:
    for directory in ("migrations", "tests"):
        (tmp_path / "app" / directory).mkdir(parents=True)
        (tmp_path / "app" / directory / "long.py").write_text(source(200))
    assert function_length.too_long([tmp_path]) == []
