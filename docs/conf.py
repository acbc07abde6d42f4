# Sphinx configuration for the sansio-session documentation.
#
# Built with warnings as errors (sphinx-build -W, in .ci/run and
# tests/test_docs.py) and with no network: no intersphinx, no remote images.
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
# The checkout's own package first, so the docs describe this tree even when
# another version is installed; then our extensions.
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_ext"))

from sansio_session import __version__  # noqa: E402

if TYPE_CHECKING:
    from sphinx.application import Sphinx

project = "sansio-session"
author = "the sansio-session developers"
copyright = "the sansio-session developers, MIT licence"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "machine_docs",  # docs/_ext: the state machine page, generated from the code
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
pygments_style = "sphinx"

# autodoc: the reference documents the names as users import them
# (sansio_session.SessionMachine, not sansio_session._machine.SessionMachine),
# in source order, and never borrows a docstring from a base class (an Enum
# or a Protocol would otherwise show Python's own).
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
python_use_unqualified_type_names = True
autodoc_class_signature = "mixed"
# Defaults as written in the source ("clock=time.time"), not their repr.
autodoc_preserve_defaults = True
# The optional extras are not needed to document their stores.
autodoc_mock_imports = ["psycopg", "psycopg_pool", "hiredis"]

# Every reference to our own objects must resolve; references to Python's
# and other projects' objects cannot (there is no intersphinx without the
# network), so those are not checked.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!sansio_session).*")]
# Type variables show up in signatures but are not documented objects.
nitpick_ignore = [("py:class", "sansio_session.sync.T")]

html_theme = "alabaster"
html_title = f"sansio-session {release}"
html_static_path = ["_static"]
html_css_files = ["sansio.css"]
html_theme_options = {
    "description": "Server-side sessions as a sans-IO state machine",
    "fixed_sidebar": True,
    "page_width": "1040px",
    "sidebar_width": "220px",
}
html_show_sourcelink = False
# Headings only in the tables of contents, not every documented object.
toc_object_entries = False


# Classes a user gets from the library but never constructs: their
# constructors' arguments are not part of the API, so show none.
_NO_SIGNATURE = {"sansio_session.Session", "sansio_session.SessionCookie", "sansio_session.Store"}


def _hide_signature(  # noqa: PLR0917 - the signature of the autodoc event
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    if what == "class" and name in _NO_SIGNATURE:
        return "", None
    return None


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-signature", _hide_signature)
