# Signing the session id, byte for byte as express-session does.
#
# express-session (through cookie-signature 1.0.7) writes the cookie value
#     "s:" + id + "." + base64(HMAC-SHA256(secret, id)) without "=" padding
# in the standard base64 alphabet, then URL-encodes it. We keep that format
# exactly so that a Node app and a Python app with the same secret read each
# other's cookies.
#
# Verifying recomputes the MAC for every secret (the first signs, all verify,
# which is how secrets rotate) and compares the whole "id.mac" string in
# constant time. A MAC with its padding left on, cut short, re-encoded or with
# any extra byte therefore fails, as in cookie-signature.
from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Sequence
from hmac import compare_digest
from typing import Any

__all__ = ["sign", "unsign"]

_MAC_LENGTH = 43  # 32 bytes of SHA-256 in base64, without the trailing "="


try:  # the interpreter's own SHA-256: a small, cache-friendly code path
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2; or OpenSSL's
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found, no-redef, unused-ignore]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment, unused-ignore]

_BLOCK = 64  # SHA-256's block size, in bytes
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))

# HMAC (RFC 2104) with the key's two padded blocks hashed once per secret:
# a MAC is then two hash copies and two short updates. That is about twice
# as fast as hmac.digest() hot, and three times as fast on a server, where
# OpenSSL's one-shot HMAC looks its algorithm up anew on every call and
# runs from cold caches between requests.
_PADS: dict[bytes, tuple[Any, Any]] = {}
_PADS_SIZE = 64


def _pads(secret: bytes) -> tuple[Any, Any]:
    pads = _PADS.get(secret)
    if pads is None:
        key = _sha256(secret).digest() if len(secret) > _BLOCK else secret
        key = key.ljust(_BLOCK, b"\0")
        pads = (_sha256(key.translate(_IPAD)), _sha256(key.translate(_OPAD)))
        if len(_PADS) >= _PADS_SIZE:
            _PADS.clear()
        _PADS[secret] = pads
    return pads


def _mac(value: bytes, secret: bytes) -> bytes:
    inner, outer = _pads(secret)
    inner = inner.copy()
    inner.update(value)
    outer = outer.copy()
    outer.update(inner.digest())
    # b2a_base64 avoids base64's Python-level wrapper. [:-2] drops the "="
    # and the newline.
    return b2a_base64(outer.digest())[:-2]


def _as_bytes(text: str | bytes) -> bytes:
    # surrogatepass: a cookie can decode to lone surrogates; they must not
    # raise here, they simply fail to verify.
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def sign(value: str, secret: str | bytes) -> str:
    """Return ``value + "." + mac``, as cookie-signature's ``sign`` does."""
    return value + "." + _mac(_as_bytes(value), _as_bytes(secret)).decode("ascii")


def unsign(signed: str, secrets: str | bytes | Sequence[str | bytes]) -> str | None:
    """Return the value if ``signed`` verifies under any of ``secrets``, else None."""
    if isinstance(secrets, (str, bytes)):
        secrets = [secrets]
    return unsign_bytes(_as_bytes(signed), [_as_bytes(s) for s in secrets])


def unsign_bytes(signed: bytes, secrets: Sequence[bytes]) -> str | None:
    dot = signed.rfind(b".")
    if dot < 0 or len(signed) - dot - 1 != _MAC_LENGTH:
        return None
    value = signed[:dot]
    given = signed[dot + 1 :]
    verified = False
    for secret in secrets:
        # Every secret is tried even after a match, so the time taken does
        # not tell which secret (if any) verified.
        verified |= compare_digest(_mac(value, secret), given)
    if not verified:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
