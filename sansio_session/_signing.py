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

import hmac
from binascii import b2a_base64
from collections.abc import Sequence
from hmac import compare_digest

__all__ = ["sign", "unsign"]

_MAC_LENGTH = 43  # 32 bytes of SHA-256 in base64, without the trailing "="


try:  # OpenSSL's one-shot HMAC, without hmac.digest()'s Python wrapper
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - Pythons built without OpenSSL
    _hmac_digest = hmac.digest  # type: ignore[assignment]


def _mac(value: bytes, secret: bytes) -> bytes:
    # b2a_base64 avoids base64's Python-level wrapper. [:-2] drops the "="
    # and the newline.
    return b2a_base64(_hmac_digest(secret, value, "sha256"))[:-2]


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
        verified |= compare_digest(b2a_base64(_hmac_digest(secret, value, "sha256"))[:-2], given)
    if not verified:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
