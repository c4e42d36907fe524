"""The SQL in `sql/`: each file is a relation with its header or a set of named blocks, and every
name the code runs resolves to one of them (and every block is run by some code)."""

import ast
import re
from pathlib import Path

import pytest

from cae.warehouse import read_sql, sql_dir

ROOT = Path(__file__).resolve().parents[1]
SQL_ROOT = ROOT / "sql"
# A relation or transformation file says what it is (grain, inputs, point-in-time rule) in at
# least two comment lines, over a statement of at least three lines; anything shorter is a
# short statement and belongs in a file of named blocks.
MIN_HEADER_LINES = 2
MIN_STATEMENT_LINES = 3
BLOCK_NAME = re.compile(r"^-- name: (\w+)$", re.MULTILINE)
# Functions that run SQL by name, and the position of the name among their arguments.
NAME_ARGUMENT = {"read_sql": 0, "run_sql": 1, "query_frame": 1}
# cae.panel.store's execute/query read their names from sql/panel/.
PANEL_STORE_CALLS = {"execute", "query"}
CODE_FOLDERS = ("cae", "flows", "benchmarks")


def _sql_files() -> list[Path]:
    return sorted(SQL_ROOT.rglob("*.sql"))


def _file_name(path: Path) -> str:
    return path.relative_to(SQL_ROOT).with_suffix("").as_posix()


def _defined_names() -> set[str]:
    names = set()
    for path in _sql_files():
        blocks = BLOCK_NAME.findall(path.read_text())
        file = _file_name(path)
        names |= {f"{file}#{block}" for block in blocks} if blocks else {file}
    return names


def _is_comment(line: str) -> bool:
    return line.startswith("--")


@pytest.mark.parametrize("path", _sql_files(), ids=_file_name)
def test_each_sql_file_is_a_relation_with_a_header_or_named_blocks(path):
    text = path.read_text()
    header, *pieces = re.split(BLOCK_NAME, text)
    header_lines = [line for line in header.splitlines() if line.strip()]
    assert header_lines, f"{path.name}: starts without a header comment"
    if not pieces:
        assert all(_is_comment(line) for line in header_lines[:MIN_HEADER_LINES]), (
            f"{path.name}: a relation file needs a header of {MIN_HEADER_LINES}+ comment lines"
        )
        statement = [line for line in header_lines if not _is_comment(line)]
        assert len(statement) >= MIN_STATEMENT_LINES, (
            f"{path.name} holds a lone short statement: make it a named block of its table's file"
        )
        return
    names, bodies = pieces[::2], pieces[1::2]
    assert len(names) > 1, f"{path.name}: a file of named blocks holds more than one"
    assert all(_is_comment(line) for line in header_lines), f"{path.name}: header is comments"
    for name, body in zip(names, bodies, strict=True):
        lines = [line for line in body.splitlines() if line.strip()]
        assert lines and _is_comment(lines[0]), f"{path.name}#{name}: says why on its 2nd line"
        assert not all(_is_comment(line) for line in lines), f"{path.name}#{name}: no statement"


def _literals(node: ast.expr, assigned: dict[str, list[ast.expr]]) -> list[str] | None:
    """Return the strings `node` can evaluate to, or None when it is built at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _literals(node.body, assigned), _literals(node.orelse, assigned)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.Name) and node.id in assigned:
        found = [_literals(value, assigned) for value in assigned[node.id]]
        return None if None in found else [name for names in found for name in names]
    return None


def _names_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    is_store = path == ROOT / "cae" / "panel" / "store.py"
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        on_store = (
            isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "store"
        ) or (is_store and isinstance(func, ast.Name))
        if on_store and called in PANEL_STORE_CALLS:
            position, prefix = 1, "panel/"
        elif called in NAME_ARGUMENT:
            position, prefix = NAME_ARGUMENT[called], ""
        else:
            continue
        if len(node.args) > position:
            literals = _literals(node.args[position], assigned) or []
            names += [prefix + name for name in literals]
    return names


def _used_names() -> dict[str, Path]:
    used = {}
    for folder in CODE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            used |= dict.fromkeys(_names_in(path), path)
    return used


def test_every_sql_name_the_code_runs_resolves():
    used = _used_names()
    assert "prices#pending_drop" in used and "panel/characteristics#drop" in used
    for name, path in used.items():
        assert read_sql(name).strip(), f"{path.relative_to(ROOT)} runs an empty {name}"


def test_every_sql_file_and_block_is_run_by_some_code():
    # Migrations are run by folder, in order, not by name.
    defined = {name for name in _defined_names() if not name.startswith("migrations/")}
    assert defined - set(_used_names()) == set()


def test_the_sql_shipped_with_the_package_is_this_folder():
    assert Path(str(sql_dir())).resolve() == SQL_ROOT.resolve()
