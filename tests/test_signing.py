# Signing, byte for byte as express-session (cookie-signature 1.0.7) does it.
#
# The vectors were computed with Node's cookie-signature 1.0.7 and taken from
# express-session's own tests (test/session.js, "genid option").
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

import pytest
from helpers import SECRET, RecordingStore, attributes, drive, make_id, options, signed_cookie

from sansio_session import CookieOptions, Load, SessionOptions, sign, unsign

MAC = "1RZrSrg/sB4NsSlb5Ba8YWrIEPTOLjyMKYbgM5ZGwZo"
ID = "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
# 2026-12-03T19:23:03.506Z minus 60 s: the moment the record of issue 2 was written.
WRITTEN_AT = 1796325723.506


def test_sign_vector() -> None:
    assert sign(ID, "keyboard cat") == ID + "." + MAC


def test_sign_is_hmac_sha256_in_standard_base64_without_padding() -> None:
    mac = base64.b64encode(hmac.new(b"keyboard cat", ID.encode(), hashlib.sha256).digest())
    assert mac.decode().rstrip("=") == MAC
    assert len(MAC) == 43


@pytest.mark.parametrize(
    ("sid", "secret", "cookie_value"),
    [
        ("apple", "keyboard cat", "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"),
        ("%", "keyboard cat", "s%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g"),
        ("/foo", "keyboard cat", "s%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ"),
        (ID, "keyboard cat", "s%3A" + ID + ".1RZrSrg%2FsB4NsSlb5Ba8YWrIEPTOLjyMKYbgM5ZGwZo"),
    ],
)
def test_set_cookie_value_vectors(sid: str, secret: str, cookie_value: str) -> None:
    opts = SessionOptions(secret=secret, genid=lambda: sid, save_uninitialized=True)
    out = drive(opts)
    assert out.set_cookie is not None
    assert out.set_cookie.split("; ")[0] == "connect.sid=" + cookie_value


def test_nyan_cat_vector() -> None:
    sid = "4iXb2oL0mT7G5nQdPkZrV1sWc9yHaE3u"
    opts = SessionOptions(secret="nyan cat", genid=lambda: sid, save_uninitialized=True)
    out = drive(opts)
    assert out.set_cookie is not None
    assert out.cookie == "connect.sid=s%3A" + sid + ".6YBN%2F0uKV0Q6XuW9JOfE3aXkYxqbe84xtTPYfSEcr5o"


def test_exact_set_cookie_for_max_age_60_and_lax() -> None:
    opts = SessionOptions(
        secret="keyboard cat",
        genid=lambda: ID,
        cookie=CookieOptions(max_age=60, same_site="lax"),
    )
    out = drive(opts, None, lambda s: s.update(views=1), now=WRITTEN_AT)
    assert out.set_cookie == (
        "connect.sid=s%3AaBcDeFgHiJkLmNoPqRsTuVwXyZ012345.1RZrSrg%2FsB4NsSlb5Ba8YWrIEPTOLjyMKYbgM5ZGwZo"
        "; Path=/; Expires=Thu, 03 Dec 2026 19:23:03 GMT; HttpOnly; SameSite=Lax"
    )


def test_expires_is_now_plus_max_age_as_imf_fixdate() -> None:
    opts = SessionOptions(secret="keyboard cat", genid=lambda: ID, cookie=CookieOptions(max_age=60))
    out = drive(opts, None, lambda s: s.update(views=1), now=1000.0)
    assert out.set_cookie is not None
    # 1000 s + 60 s after the epoch.
    assert attributes(out.set_cookie)["expires"] == "Thu, 01 Jan 1970 00:17:40 GMT"


def test_record_layout_of_issue_vector() -> None:
    # same_site None: the record express-session and connect-redis wrote has no sameSite.
    opts = SessionOptions(
        secret="keyboard cat", genid=lambda: ID, cookie=CookieOptions(max_age=60, same_site=None)
    )
    out = drive(opts, None, lambda s: s.update(views=1), now=WRITTEN_AT)
    assert out.store[ID] == (
        '{"cookie":{"originalMaxAge":60000,"expires":"2026-12-03T19:23:03.506Z","httpOnly":true,"path":"/"},'
        '"views":1}'
    )
    (save,) = out.actions
    assert save.ttl == 60  # type: ignore[attr-defined]


def test_unsign_round_trip() -> None:
    assert unsign(sign(ID, "keyboard cat"), ["keyboard cat"]) == ID
    assert unsign(sign(ID, "keyboard cat"), "keyboard cat") == ID


def test_unsign_takes_bytes_secrets() -> None:
    assert unsign(sign(ID, "keyboard cat"), [b"keyboard cat"]) == ID
    assert unsign(sign(ID, b"keyboard cat"), "keyboard cat") == ID


def test_id_is_everything_before_the_last_dot() -> None:
    signed = sign("a.b.c", "s")
    assert unsign(signed, "s") == "a.b.c"


def test_non_ascii_values_round_trip_as_utf8() -> None:
    mac = base64.b64encode(hmac.new("ключ".encode(), "ü".encode(), hashlib.sha256).digest()).rstrip(b"=")
    assert sign("ü", "ключ") == "ü." + mac.decode()
    assert unsign(sign("ü", "ключ"), "ключ") == "ü"


def test_rotation_every_secret_verifies() -> None:
    old = sign(ID, "old secret")
    assert unsign(old, ["new secret", "old secret"]) == ID
    assert unsign(old, ["old secret", "new secret"]) == ID
    assert unsign(old, ["new secret"]) is None


def test_foreign_secret_rejected() -> None:
    assert unsign(sign(ID, "keyboard cat"), ["nyan cat"]) is None
    assert unsign(sign(ID, "keyboard cat"), []) is None


GOOD = sign("apple", "keyboard cat")  # its MAC has "+" and "/"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(GOOD[:-1], id="truncated"),
        pytest.param(GOOD[:-10], id="truncated-more"),
        pytest.param(GOOD + "=", id="padded"),
        pytest.param(GOOD + "A", id="extra-char"),
        pytest.param(GOOD + " ", id="trailing-space"),
        pytest.param(" " + GOOD, id="leading-space"),
        pytest.param(GOOD.replace("+", "-").replace("/", "_"), id="urlsafe-alphabet"),
        pytest.param(quote(GOOD, safe=""), id="percent-encoded"),
        pytest.param(GOOD[:-1] + ("A" if GOOD[-1] != "A" else "B"), id="last-char-flipped"),
        pytest.param(GOOD.swapcase(), id="case-changed"),
        pytest.param("apples" + GOOD[5:], id="value-changed"),
        pytest.param("apple", id="no-mac"),
        pytest.param("apple.", id="empty-mac"),
        pytest.param("." + GOOD.split(".")[1], id="empty-value"),
        pytest.param("", id="empty"),
        pytest.param(GOOD.replace(".", ".."), id="double-dot"),
        pytest.param("apple\x00." + GOOD.split(".")[1], id="nul-in-value"),
    ],
)
def test_tampered_signatures_rejected(bad: str) -> None:
    assert unsign(bad, ["keyboard cat"]) is None


def test_mac_with_padding_decodes_to_same_bytes_but_is_refused() -> None:
    # The padded MAC is the same bytes in base64; cookie-signature compares
    # the text, so it fails, and so must we.
    padded_mac = GOOD.split(".")[1] + "="
    assert base64.b64decode(padded_mac) == hmac.new(b"keyboard cat", b"apple", hashlib.sha256).digest()
    assert unsign("apple." + padded_mac, "keyboard cat") is None


def test_lone_surrogates_never_raise() -> None:
    assert unsign("\udcff." + "A" * 43, "s") is None
    assert unsign(sign("x", "s") + "\ud800", "s") is None


# -- through the machine ---------------------------------------------------


def test_cookie_signed_with_older_secret_loads() -> None:
    sid = make_id(7)
    opts = options(secret=["a new secret that is long enough....", SECRET])
    out = drive(opts, signed_cookie(sid, SECRET))
    assert out.actions == [Load(sid=sid)]


def test_cookie_signed_with_foreign_secret_makes_no_store_call() -> None:
    out = drive(options(), signed_cookie(make_id(7), "somebody else's secret, long enough"))
    assert out.actions == []
    assert out.event_names == ["bad_signature"]


def test_first_secret_signs() -> None:
    first = "the first secret, which signs cookies"
    opts = options(secret=[first, SECRET], save_uninitialized=True)
    out = drive(opts)
    assert out.cookie == signed_cookie(out.actions[0].sid, first)
    assert out.cookie != signed_cookie(out.actions[0].sid, SECRET)


def test_resaved_old_cookie_is_signed_with_the_first_secret() -> None:
    first = "the first secret, which signs cookies"
    store = RecordingStore()
    made = drive(options(secret=[SECRET], cookie={"max_age": 60}), None, lambda s: s.update(n=1), store)
    rotated = options(secret=[first, SECRET], cookie={"max_age": 60})
    again = drive(rotated, made.cookie, lambda s: s.update(n=2), store)
    sid = made.actions[0].sid
    assert again.ops == ["get", "set"]
    assert again.cookie == signed_cookie(sid, first)
