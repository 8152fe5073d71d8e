"""The cost model's dependencies point one way: the steps of an analysis do arithmetic on
what they are handed; only the entry points read result files, profiles and the catalog."""

from __future__ import annotations

import ast
from pathlib import Path

import localeval.cost

COST = Path(localeval.cost.__file__).parent

# Functions that read files, and the modules of the cost package allowed to call them.
READERS = {
    "read_runs": {"analyze"},
    "read_result": set(),
    "read_measurements": {"inputs"},
    "read_samples": {"compare"},
    "load_catalog": {"analyze"},
    "list_profiles": {"analyze"},
    "get_profile": {"options"},
    "load_profile_file": {"options"},
    "load_reference_points": {"compare"},
}


def imported_names(module: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_entry_points_read_files() -> None:
    for module in sorted(COST.glob("*.py")):
        names = imported_names(module)
        for reader, allowed in READERS.items():
            if reader in names:
                assert module.stem in allowed, f"cost/{module.name} imports {reader}"


def test_no_step_imports_the_entry_points() -> None:
    for module in sorted(COST.glob("*.py")):
        if module.stem != "analyze":
            assert "localeval.cost.analyze" not in imported_names(module), module.name
