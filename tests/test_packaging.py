# The four distributions, built and installed the way a user gets them.
#
# We copy the checkout to a temporary directory (so no build output lands in
# it), build each distribution with `python -m build`, which makes the sdist
# and then the wheel *from that sdist* (so a file the sdist lacks breaks the
# wheel), check their metadata, install the wheels into a fresh virtual
# environment and start each reference app from there.
#
# Two environments are made, without a pip of their own (ours installs into
# them with `pip --python`). The first holds every build-system.requires and
# `build`, and the builds run in it without isolation: one install from the
# index instead of two per distribution. The second is the fresh one: the
# frameworks come from the package index, our four wheels only from the
# build output (--no-index), and nothing else.
#
# The package index is a service these tests need: without it they skip,
# and under CI=true they fail.
from __future__ import annotations

import email.parser
import json
import os
import queue
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.request
import zipfile
from email.message import Message
from pathlib import Path
from typing import IO, NoReturn

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
trove_classifiers = pytest.importorskip(
    "trove_classifiers", reason="pip install trove-classifiers (dev extra)"
)

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"
#: Each distribution: its directory in the checkout and its import package.
DISTS = {
    "sansio-session": (".", "sansio_session"),
    "sansio-session-tornado": ("integrations/tornado", "sansio_session_tornado"),
    "sansio-session-twisted": ("integrations/twisted", "sansio_session_twisted"),
    "sansio-session-trio": ("integrations/trio", "sansio_session_trio"),
}
DRIVERS = ["tornado", "twisted", "trio"]
URLS = {"Documentation", "Source", "Changelog", "Issues"}
# What a build must never pick up from the checkout.
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    "*.egg-info",
    ".*_cache",
    ".hypothesis",
    "build",
    "dist",
    "_build",
)
SECRET = "a secret for the packaging test, long enough"


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _env() -> dict[str, str]:
    # The installed packages only: nothing from the checkout on the path.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _venv(path: Path) -> Path:
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(path)], path.parent)
    assert made.returncode == 0, made.stderr
    return path / "bin" / "python"


def _pip_install(python: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    return _run([*pip, "--disable-pip-version-check", *args], python.parent)


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr).strip()[-3000:]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def built(work: Path) -> Path:
    """The directory of the four sdists and four wheels."""
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    requires: set[str] = set()
    for directory, _ in DISTS.values():
        with open(source / directory / "pyproject.toml", "rb") as file:
            requires.update(tomllib.load(file)["build-system"]["requires"])
    python = _venv(work / "build-env")
    tools = _pip_install(python, [*sorted(requires), "build"])
    if tools.returncode != 0:
        unavailable(f"cannot install the build tools from the package index:\n{_tail(tools)}")
    out = work / "dist"
    for name, (directory, _) in DISTS.items():
        done = _run(
            [str(python), "-m", "build", "--no-isolation", "--outdir", str(out), str(source / directory)],
            work,
        )
        assert done.returncode == 0, f"{name} does not build:\n{_tail(done)}"
    return out


def _wheel(built: Path, name: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(built / f"{name.replace('-', '_')}-{VERSION}-py3-none-any.whl")


def _metadata(built: Path, name: str) -> Message:
    with _wheel(built, name) as wheel:
        text = wheel.read(f"{name.replace('-', '_')}-{VERSION}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def _requires(built: Path, name: str) -> list[str]:
    return [r.replace(" ", "") for r in _metadata(built, name).get_all("Requires-Dist") or []]


def _sources(name: str) -> set[str]:
    # Every module and py.typed of the import package, as paths in a wheel.
    directory, package = DISTS[name]
    base = ROOT / directory
    found = {p.relative_to(base).as_posix() for p in (base / package).rglob("*.py")}
    return found | {f"{package}/py.typed"}


def test_every_integration_ships_the_licence_of_the_project() -> None:
    licence = (ROOT / "LICENSE").read_bytes()
    for directory, _ in DISTS.values():
        assert (ROOT / directory / "LICENSE").read_bytes() == licence, directory


@pytest.mark.parametrize("name", list(DISTS))
def test_the_metadata_is_complete(built: Path, name: str) -> None:
    meta = _metadata(built, name)
    assert (meta["Name"], meta["Version"]) == (name, VERSION)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["Summary"] and meta["Author"]
    # The README is the long description.
    assert meta["Description-Content-Type"] == "text/markdown"
    assert str(meta.get_payload()).lstrip().startswith(f"# {name}")
    urls = {entry.split(",", 1)[0] for entry in meta.get_all("Project-URL") or []}
    assert urls == URLS
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    unknown = set(classifiers) - set(trove_classifiers.classifiers)
    assert not unknown, f"not trove classifiers: {unknown}"
    assert not set(classifiers) & set(trove_classifiers.deprecated_classifiers)


@pytest.mark.parametrize("name", list(DISTS))
def test_the_wheel_holds_the_package_and_the_licence(built: Path, name: str) -> None:
    with _wheel(built, name) as wheel:
        names = set(wheel.namelist())
        info = f"{name.replace('-', '_')}-{VERSION}.dist-info"
        assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert _sources(name) <= names


@pytest.mark.parametrize("name", list(DISTS))
def test_the_sdist_holds_what_a_rebuild_needs(built: Path, name: str) -> None:
    top = f"{name.replace('-', '_')}-{VERSION}"
    with tarfile.open(built / f"{top}.tar.gz") as sdist:
        names = {member.name.removeprefix(top + "/") for member in sdist.getmembers()}
    assert {"LICENSE", "README.md", "pyproject.toml", "PKG-INFO"} <= names
    assert _sources(name) <= names


def test_versions_and_pins_agree(built: Path) -> None:
    core = _requires(built, "sansio-session")
    for driver in DRIVERS:
        assert f'sansio-session-{driver}=={VERSION};extra=="{driver}"' in core
        assert f"sansio-session=={VERSION}" in _requires(built, f"sansio-session-{driver}")


@pytest.fixture(scope="module")
def installed(work: Path, built: Path) -> Path:
    """The python of a fresh environment with the four wheels installed."""
    python = _venv(work / "run-env")
    # The drivers' own dependencies, from the index; extras and ours left out.
    third_party = sorted(
        {
            requirement
            for driver in DRIVERS
            for requirement in _requires(built, f"sansio-session-{driver}")
            if ";" not in requirement and not requirement.startswith("sansio-session")
        }
    )
    deps = _pip_install(python, third_party)
    if deps.returncode != 0:
        unavailable(f"cannot install {third_party} from the package index:\n{_tail(deps)}")
    ours = _pip_install(
        python,
        [
            "--no-index",
            "--find-links",
            str(built),
            "--only-binary",
            ":all:",
            f"sansio-session[{','.join(DRIVERS)}]=={VERSION}",
        ],
    )
    assert ours.returncode == 0, f"the wheels do not install:\n{_tail(ours)}"
    return python


CHECK_INSTALL = """
import importlib, importlib.metadata, importlib.resources, json, sys
found = {}
for dist, package in json.loads(sys.argv[1]).items():
    module = importlib.import_module(package)
    found[dist] = {
        "file": module.__file__,
        "version": module.__version__,
        "metadata": importlib.metadata.version(dist),
        "typed": importlib.resources.files(package).joinpath("py.typed").is_file(),
    }
import sansio_session.testing
print(json.dumps(found))
"""


def test_the_wheels_install_into_a_fresh_environment(installed: Path, work: Path) -> None:
    packages = {name: package for name, (_, package) in DISTS.items()}
    done = _run([str(installed), "-c", CHECK_INSTALL, json.dumps(packages)], work)
    assert done.returncode == 0, _tail(done)
    environment = installed.parent.parent.resolve()
    for dist, seen in json.loads(done.stdout).items():
        assert Path(seen["file"]).resolve().is_relative_to(environment), (dist, seen["file"])
        assert seen["version"] == seen["metadata"] == VERSION, dist
        assert seen["typed"], dist


def _first_line(stream: IO[str], timeout: float) -> str | None:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_reference_app_runs_from_the_install(installed: Path, work: Path, driver: str) -> None:
    config = json.dumps({"secret": SECRET})
    app = subprocess.Popen(
        [str(installed), "-m", f"sansio_session_{driver}", "--port", "0", "--config", config],
        cwd=work,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        line = _first_line(app.stdout, timeout=60)
        assert line is not None and line.startswith("listening on http://"), line
        url = line.split()[-1]
        with urllib.request.urlopen(
            urllib.request.Request(f"{url}/session?user=alice", method="POST")
        ) as made:
            cookie = made.headers["Set-Cookie"].split(";", 1)[0]
        with urllib.request.urlopen(
            urllib.request.Request(f"{url}/session", headers={"Cookie": cookie})
        ) as got:
            assert got.status == 200
            assert json.loads(got.read())["data"] == {"user": "alice"}
    finally:
        app.terminate()
        try:
            app.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.communicate()
