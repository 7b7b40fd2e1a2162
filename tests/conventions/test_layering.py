"""Layering, checked on the source: `dag` uses `dag_io` only through its public package (no
submodule imports, no private names), and no module of `dag` opens a database connection or
writes SQL: every serving-database read and write goes through the resources; `contracts`
imports neither `dag` nor `dag_io`."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG = sorted((ROOT / "dag").glob("*.py"))
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT INTO|UPDATE \S+ SET|DELETE FROM|"
    r"(CREATE|DROP|ALTER) (TABLE|INDEX|EXTENSION|SCHEMA|VIEW)|TRUNCATE|COPY \S+ FROM)\b",
    re.S,
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
    return out


@pytest.mark.parametrize("path", DAG, ids=lambda p: p.name)
def test_dag_uses_dag_io_only_through_its_package(path: Path) -> None:
    bad = [
        name
        for name in _imports(path)
        if name.startswith("dag_io.") and (name.count(".") > 1 or name.split(".")[1][0] == "_")
    ]
    assert bad == [], f"{path.name} imports dag_io internals: {bad}"


@pytest.mark.parametrize("path", DAG, ids=lambda p: p.name)
def test_dag_opens_no_connection_and_writes_no_sql(path: Path) -> None:
    source = path.read_text()
    assert "get_connection(" not in source and ".cursor(" not in source, path.name
    strings = [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert [s for s in strings if SQL.search(s)] == [], f"{path.name} holds SQL text"


def test_contracts_import_neither_dag_nor_dag_io() -> None:
    for path in sorted((ROOT / "contracts").glob("*.py")):
        bad = [n for n in _imports(path) if n.split(".")[0] in ("dag", "dag_io")]
        assert bad == [], f"{path.name}: {bad}"
