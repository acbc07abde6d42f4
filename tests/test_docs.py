# The documentation, tested: its examples run, and Sphinx builds it cleanly.
#
# A page opts in to running its examples with the comment
#
#     .. runnable: ...
#
# Then every ``.. code-block:: python`` on it runs, in page order and in one
# namespace (so a tutorial can build on its earlier blocks), and a
# ``.. code-block:: text`` with ``:caption: Output`` right after a python
# block must be exactly what that block printed. The build test runs
# sphinx-build with warnings as errors, as .ci/run does.
from __future__ import annotations

import contextlib
import http.client
import io
import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

import sansio_session
import sansio_session.memory
import sansio_session.sync

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUNNABLE = re.compile(r"^\.\. runnable:", re.MULTILINE)
# Pages whose examples must run: a page that loses its marker fails here.
MUST_RUN = {"quickstart.rst", "tutorial.rst"}

_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block::[ \t]*(?P<language>\S+)[ \t]*$")
_OPTION = re.compile(r"^[ \t]+:(?P<name>[\w-]+):[ \t]*(?P<value>.*)$")


@dataclass
class Block:
    language: str
    options: dict[str, str]
    code: str
    line: int  # 1-based line of the directive


@dataclass
class Example:
    code: str
    line: int
    output: str | None


def code_blocks(text: str) -> list[Block]:
    """Every ``.. code-block::`` of an RST text, with its options and body."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent = len(match.group("indent").expandtabs())
        start = i
        i += 1
        options: dict[str, str] = {}
        while i < len(lines) and (option := _OPTION.match(lines[i])):
            options[option.group("name")] = option.group("value").strip()
            i += 1
        body: list[str] = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        blocks.append(Block(match.group("language"), options, code, start + 1))
    return blocks


def examples(text: str) -> list[Example]:
    """The python blocks of a page, each with the output shown after it."""
    found: list[Example] = []
    for block in code_blocks(text):
        if block.language == "python":
            found.append(Example(block.code, block.line, None))
        elif block.language == "text" and block.options.get("caption") == "Output":
            if not found or found[-1].output is not None:
                raise AssertionError(f"line {block.line}: an Output block with no python block before it")
            found[-1].output = block.code
    return found


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def runnable_pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.rst") if RUNNABLE.search(p.read_text(encoding="utf-8")))


def test_the_pages_that_must_run_are_marked() -> None:
    assert {p.name for p in runnable_pages()} >= MUST_RUN


def test_the_block_reader_sees_options_bodies_and_outputs() -> None:
    text = textwrap.dedent(
        """\
        Intro.

        .. code-block:: python

           print("a")
           if True:

               print("b")

        .. code-block:: text
           :caption: Output

           a
           b

        .. code-block:: python

           x = 1
        Not code.
        """
    )
    found = examples(text)
    assert [(e.code, e.output, e.line) for e in found] == [
        ('print("a")\nif True:\n\n    print("b")', "a\nb", 3),
        ("x = 1", None, 16),
    ]


@pytest.mark.parametrize("page", runnable_pages(), ids=lambda p: p.name)
def test_examples_run_and_print_what_the_page_shows(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    found = examples(page.read_text(encoding="utf-8"))
    assert found, f"{page.name} is marked runnable but has no python block"
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for example in found:
        printed = io.StringIO()
        try:
            compiled = compile(example.code, f"{page.name}:{example.line}", "exec")
            with contextlib.redirect_stdout(printed):
                exec(compiled, namespace)
        except Exception:
            pytest.fail(f"{page.name}, block at line {example.line} raised:\n{traceback.format_exc()}")
        if example.output is not None:
            assert _normalise(printed.getvalue()) == _normalise(example.output), (
                f"{page.name}, block at line {example.line} printed something else"
            )


def _have_sphinx() -> bool:
    try:
        import sphinx  # noqa: F401
    except ImportError:
        return False
    return True


def test_sphinx_builds_the_docs_without_a_warning(tmp_path: Path) -> None:
    if not _have_sphinx():
        if os.environ.get("CI") == "true":
            pytest.fail("sphinx is not installed (pip install -e '.[docs]')")
        pytest.skip("sphinx is not installed (pip install -e '.[docs]')")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, f"sphinx-build failed:\n{build.stdout}\n{build.stderr}"
    # Only what the reference documents is public: so it must document
    # every name the packages export.
    reference = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    documented = set(re.findall(r'<dt class="sig[^"]*" id="([\w.]+)"', reference))
    exported = {f"sansio_session.{name}" for name in sansio_session.__all__}
    exported |= {f"sansio_session.sync.{name}" for name in sansio_session.sync.__all__}
    exported |= {f"sansio_session.{name}" for name in sansio_session.memory.__all__}
    assert exported - documented == set()
    page = (tmp_path / "html" / "state-machine.html").read_text(encoding="utf-8")
    # The generated parts are there: the diagram and a row of each table.
    assert "<svg" in page and "COMMITTING" in page
    assert "should_set_cookie" in page


# -- The framework quick starts run as real servers ---------------------------
#
# A quick start serves forever, so it cannot run in this process. Each
# quickstart-<framework>.rst page has one python block: we write it to a
# file, start it on a free port (it reads PORT), wait for its "listening on"
# line, and count to two over HTTP with the cookie it sets.

QUICK_STARTS = {
    "quickstart-tornado.rst": "sansio_session_tornado",
    "quickstart-twisted.rst": "sansio_session_twisted",
    "quickstart-trio.rst": "sansio_session_trio",
}
_READY_WAIT = 60.0  # seconds; only a bound on a start-up that went wrong


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ready_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _READY_WAIT)
    if not ready:
        return ""
    return process.stdout.readline()


def _get(port: int, cookie: str | None) -> tuple[str, str | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/", headers={} if cookie is None else {"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode(), response.getheader("Set-Cookie")
    finally:
        connection.close()


def test_every_framework_quick_start_is_tested() -> None:
    assert {p.name for p in DOCS.glob("quickstart-*.rst")} == set(QUICK_STARTS)


@pytest.mark.parametrize("page", sorted(QUICK_STARTS))
def test_quick_start_counts_visits_over_http(page: str, tmp_path: Path) -> None:
    pytest.importorskip(QUICK_STARTS[page], reason=f"{QUICK_STARTS[page]} is not installed")
    blocks = [b for b in code_blocks((DOCS / page).read_text(encoding="utf-8")) if b.language == "python"]
    assert len(blocks) == 1, f"{page} should have exactly one python block"
    script = tmp_path / "app.py"
    script.write_text(blocks[0].code + "\n", encoding="utf-8")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _ready_line(process)
        assert line.startswith(f"listening on http://127.0.0.1:{port}"), f"{page} did not start: {line!r}"
        body, set_cookie = _get(port, None)
        assert body == "views: 1\n"
        assert set_cookie is not None and set_cookie.startswith("connect.sid=s%3A")
        body, _ = _get(port, set_cookie.split(";", 1)[0])
        assert body == "views: 2\n"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate()
