"""Coverage-guided fuzz targets for everything that reads attacker bytes.

    python fuzz/targets.py cookie   [libFuzzer flags, e.g. -runs=20000 -max_len=4096]
    python fuzz/targets.py signing
    python fuzz/targets.py record
    python fuzz/targets.py begin

Each target feeds arbitrary bytes to one entry point and fails (crashes the
fuzzer) on any outcome but the documented ones: the Cookie parser and the
signature check never raise; record decoding raises only CorruptRecord; the
machine's begin() gives a Load or None and nothing else. .ci/run runs each
target briefly; run them longer on demand.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from sansio_session import Load, SessionMachine, SessionOptions, find_cookie, parse_cookie_header, unsign
    from sansio_session._record import CorruptRecord, decode_record

OPTIONS = SessionOptions(secret=["fuzzing secret number one, long enough", "the older fuzzing secret"])


def _text(data: bytes) -> str:
    # Headers arrive as latin-1 from most servers and as UTF-8 from some;
    # surrogateescape keeps every byte either way.
    if data[:1] == b"\x00":
        return data[1:].decode("latin-1")
    return data.decode("utf-8", "surrogateescape")


def fuzz_cookie(data: bytes) -> None:
    header = _text(data)
    parsed = parse_cookie_header(header)
    for name in list(parsed)[:4]:
        assert find_cookie(header, name) == parsed[name], name
    find_cookie(header, "connect.sid")


def fuzz_signing(data: bytes) -> None:
    text = _text(data)
    assert unsign(text, OPTIONS.secret) is None or "." in text


def fuzz_record(data: bytes) -> None:
    with contextlib.suppress(CorruptRecord):
        decode_record(_text(data), now_ms=1_800_000_000_000)


def fuzz_begin(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    proto = fdp.ConsumeUnicodeNoSurrogates(12) if fdp.ConsumeBool() else None
    header = _text(fdp.ConsumeBytes(fdp.remaining_bytes()))
    machine = SessionMachine(OPTIONS)
    result = machine.begin(header, now=1_800_000_000.0, forwarded_proto=proto, path="/")
    assert result is None or isinstance(result, Load)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "cookie": fuzz_cookie,
    "signing": fuzz_signing,
    "record": fuzz_record,
    "begin": fuzz_begin,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer flags]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
