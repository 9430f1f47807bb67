"""The "no private names" import contract (tests/support/import_contracts.py) sees each way of
reaching a private name; `make test` runs every contract with lint-imports."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.import_contracts import NoPrivateNamesContract

KNOWN = {"mcpserver", "mcpserver.tokens", "mcpserver.db"}


def violations(tmp_path: Path, monkeypatch, source: str) -> list[str]:
    (tmp_path / "uses_private.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("uses_private", None)
    return NoPrivateNamesContract.module_violations("uses_private", ("mcpserver",), KNOWN)


def test_public_names_pass(tmp_path: Path, monkeypatch) -> None:
    source = (
        "from mcpserver import tokens\nfrom mcpserver.tokens import lookup_sql\nprint(tokens.lookup_sql, lookup_sql)\n"
    )
    assert violations(tmp_path, monkeypatch, source) == []


def test_each_way_to_a_private_name_is_found(tmp_path: Path, monkeypatch) -> None:
    source = (
        "from mcpserver import tokens\n"
        "from mcpserver.tokens import _compiled\n"
        "import mcpserver.db as database\n"
        "print(tokens._compiled, database._executor, _compiled)\n"
    )
    assert violations(tmp_path, monkeypatch, source) == [
        "uses_private:2 imports the private name mcpserver.tokens._compiled",
        "uses_private:4 uses the private name tokens._compiled",
        "uses_private:4 uses the private name database._executor",
    ]
