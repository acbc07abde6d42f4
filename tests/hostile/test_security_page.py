# The security page names, for each attack, the test that holds its defence
# in place: every test it names must exist, so that the page cannot point at
# a test that was renamed or removed.
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "security.rst"
# ``path/to/file.py::name`` in the page's text (a literal may wrap, never inside a name).
NAMED = re.compile(r"``([\w/.-]+\.py)::(\w+)``")


def _named() -> list[tuple[str, str]]:
    return NAMED.findall(PAGE.read_text())


def test_the_page_names_its_tests_and_leaves_no_marker() -> None:
    text = PAGE.read_text()
    assert ".. TODO" not in text
    assert len(_named()) >= 20


@pytest.mark.parametrize(("path", "name"), _named(), ids=[f"{p}::{n}" for p, n in _named()])
def test_every_test_the_page_names_exists(path: str, name: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"{path} does not exist"
    tree = ast.parse(source.read_text())
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert name in defined, f"{path} defines no {name}"
