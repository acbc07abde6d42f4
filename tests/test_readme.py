"""The README's driver loop runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_driver_loop_runs() -> None:
    [code] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(README), "exec"), namespace)
    first = namespace["handle"](None)
    assert first is not None and first.startswith("connect.sid=s%3A")
    # A return visit that changes the data re-sends the cookie with a new expiry.
    again = namespace["handle"](first.split(";", 1)[0])
    assert again is not None and again.split(";", 1)[0] == first.split(";", 1)[0]
    assert len(namespace["store"].all()) == 1
