# The tools and packages the runner needs beyond the venv's own, and how it
# gets them: Debian's wrk and strace with apt-get (the runner says so when it
# installs one), the Node peer's modules with `npm ci` from its lock file.
# Python packages are not installed here: they are the project's `bench`
# extra, and a peer whose package is missing is skipped with its reason.
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent / "node"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def debian_tool(binary: str, package: str) -> str | None:
    """The path of ``binary``, installing Debian's ``package`` if it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        say(
            f"{binary} is missing and cannot be installed here (needs root and apt-get):"
            f" apt-get install {package}"
        )
        return None
    say(f"{binary} is missing: installing the Debian package {package} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> int:
        return subprocess.run(["apt-get", *args], env=env, capture_output=True, check=False).returncode

    if apt("install", "-y", "-qq", package) != 0:
        apt("update", "-qq")  # an old or missing package list, the usual cause
        apt("install", "-y", "-qq", package)
    return shutil.which(binary)


def node_peer() -> str | None:
    """None when the express peer can run, else the reason it cannot."""
    if shutil.which("node") is None:
        return "node is not installed"
    if (NODE_DIR / "node_modules" / "express-session").is_dir():
        return None
    if shutil.which("npm") is None:
        return "npm is not installed"
    say("installing the express peer's modules with npm ci (bench/node)")
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return "npm ci failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return None


def python_peer(*modules: str) -> str | None:
    """None when every module imports, else what to install."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"missing {', '.join(missing)}: pip install -e '.[bench]'"
