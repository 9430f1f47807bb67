"""A contract type of our own for import-linter (pyproject.toml, run by `make test`): modules of the
`source_modules` packages use no private name of the project's packages, neither a private module
(`pkg._x`), nor an imported private name (`from pkg.x import _y`), nor an attribute of a module
they imported (`x._y`). import-linter's own contracts see imports only, not attribute access."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class NoPrivateNamesContract(Contract):
    type_name = "no_private_names"

    source_modules = fields.ListField(subfield=fields.ModuleField())
    project_packages = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages = tuple(module.name for module in self.project_packages)  # type: ignore[attr-defined]
        violations = []
        for source in self.source_modules:  # type: ignore[attr-defined]
            for module in sorted({source.name} | graph.find_descendants(source.name)):
                violations += self.module_violations(module, packages, graph.modules)
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    @staticmethod
    def module_violations(module: str, packages: tuple[str, ...], known: set[str]) -> list[str]:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return []
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), filename=spec.origin)

        def ours(name: str) -> bool:
            return name.split(".")[0] in packages

        found, modules = [], set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if ours(alias.name):
                        modules.add(alias.asname or alias.name.split(".")[0])
                        if any(private(part) for part in alias.name.split(".")):
                            found.append(f"{module}:{node.lineno} imports the private module {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and ours(node.module):
                if any(private(part) for part in node.module.split(".")):
                    found.append(f"{module}:{node.lineno} imports from the private module {node.module}")
                for alias in node.names:
                    if private(alias.name):
                        found.append(f"{module}:{node.lineno} imports the private name {node.module}.{alias.name}")
                    elif f"{node.module}.{alias.name}" in known:
                        modules.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and private(node.attr)
            ):
                found.append(f"{module}:{node.lineno} uses the private name {node.value.id}.{node.attr}")
        return found

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(violation, bold=False)
            output.new_line()
