# SessionOptions / CookieOptions: defaults, from_mapping() with every
# --config key of the reference-app contract, and every bad option refused
# with a one-line ConfigError that names it.
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import pytest
from helpers import SECRET

from sansio_session import ConfigError, CookieOptions, SessionOptions, default_genid, is_default_shaped_id

DAY = 86400


def test_defaults() -> None:
    opts = SessionOptions(secret=SECRET)
    assert opts.secret == (SECRET,)
    assert opts.secrets == (SECRET.encode(),)
    assert opts.name == "connect.sid"
    assert opts.resave is False
    assert opts.save_uninitialized is False
    assert opts.rolling is False
    assert opts.unset == "keep"
    assert opts.proxy is None
    assert opts.store_timeout == 5.0
    assert opts.on_store_failure == "fail"
    assert opts.on_event is None
    assert opts.genid is default_genid
    assert opts.cookie == CookieOptions()


def test_cookie_defaults() -> None:
    c = CookieOptions()
    assert (c.path, c.domain, c.http_only, c.secure) == ("/", None, True, False)
    assert (c.same_site, c.max_age, c.partitioned, c.priority) == ("lax", None, False, None)
    assert c.max_age_ms is None


def test_default_genid_shape() -> None:
    made = {default_genid() for _ in range(50)}
    assert len(made) == 50
    assert all(is_default_shaped_id(sid) for sid in made)


@pytest.mark.parametrize(
    ("sid", "ok"),
    [
        ("aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", True),
        ("-_" * 16, True),
        ("a" * 31, False),
        ("a" * 33, False),
        ("a" * 31 + "+", False),
        ("a" * 31 + "/", False),
        ("a" * 31 + "=", False),
        ("a" * 31 + "\n", False),
        ("a" * 31 + "é", False),
        ("", False),
    ],
)
def test_is_default_shaped_id(sid: str, ok: bool) -> None:
    assert is_default_shaped_id(sid) is ok


def test_options_are_frozen() -> None:
    opts = SessionOptions(secret=SECRET)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.resave = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.cookie.path = "/x"  # type: ignore[misc]


FULL_CONFIG: dict[str, Any] = {
    "secret": [SECRET, "an older secret, still accepted...."],
    "name": "sid",
    "resave": True,
    "save_uninitialized": True,
    "rolling": True,
    "unset": "destroy",
    "proxy": True,
    "on_store_failure": "continue",
    "store_timeout": 2.5,
    "cookie": {
        "path": "/app",
        "domain": "example.com",
        "http_only": False,
        "secure": True,
        "same_site": "none",
        "max_age": 3600,
        "partitioned": True,
        "priority": "high",
    },
}


def test_from_mapping_every_key() -> None:
    opts = SessionOptions.from_mapping(FULL_CONFIG)
    assert opts.secret == tuple(FULL_CONFIG["secret"])
    assert opts.secrets == tuple(s.encode() for s in FULL_CONFIG["secret"])
    assert opts.name == "sid"
    assert (opts.resave, opts.save_uninitialized, opts.rolling) == (True, True, True)
    assert (opts.unset, opts.proxy) == ("destroy", True)
    assert (opts.on_store_failure, opts.store_timeout) == ("continue", 2.5)
    assert opts.cookie == CookieOptions(
        path="/app",
        domain="example.com",
        http_only=False,
        secure=True,
        same_site="none",
        max_age=3600,
        partitioned=True,
        priority="high",
    )
    assert opts.cookie.max_age_ms == 3_600_000


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("proxy", None),
        ("proxy", False),
        ("store_timeout", None),
        ("unset", "keep"),
        ("on_store_failure", "fail"),
    ],
)
def test_from_mapping_other_values(key: str, value: Any) -> None:
    assert getattr(SessionOptions.from_mapping({"secret": SECRET, key: value}), key) == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("secure", "auto"),
        ("secure", False),
        ("same_site", "strict"),
        ("same_site", "auto"),
        ("same_site", None),
        ("same_site", "lax"),
        ("max_age", None),
        ("max_age", 0),
        ("max_age", 1.5),
        ("priority", "low"),
        ("priority", "medium"),
        ("priority", None),
        ("domain", None),
    ],
)
def test_from_mapping_cookie_values(key: str, value: Any) -> None:
    opts = SessionOptions.from_mapping({"secret": SECRET, "cookie": {key: value}})
    assert getattr(opts.cookie, key) == value


def test_from_mapping_leaves_defaults() -> None:
    assert SessionOptions.from_mapping({"secret": SECRET}) == SessionOptions(secret=SECRET)


def test_from_mapping_takes_python_only_options() -> None:
    def genid() -> str:
        return "x" * 32

    opts = SessionOptions.from_mapping({"secret": SECRET}, genid=genid)
    assert opts.genid is genid


def test_from_mapping_features_beyond_express() -> None:
    opts = SessionOptions.from_mapping(
        {
            "secret": SECRET,
            "idle_timeout": 900,
            "absolute_timeout": 86400,
            "touch_after": 60,
            "hash_ids": True,
        }
    )
    assert (opts.idle_timeout, opts.absolute_timeout, opts.touch_after, opts.hash_ids) == (
        900,
        86400,
        60,
        True,
    )
    assert opts.sliding_ms == 900_000


def test_features_beyond_express_default_off() -> None:
    opts = SessionOptions(secret=SECRET)
    assert (opts.idle_timeout, opts.absolute_timeout, opts.touch_after, opts.hash_ids) == (
        None,
        None,
        None,
        False,
    )
    assert opts.sliding_ms is None
    assert SessionOptions(secret=SECRET, cookie=CookieOptions(max_age=60)).sliding_ms == 60_000


def refused(config: Any) -> str:
    with pytest.raises(ConfigError) as info:
        SessionOptions.from_mapping(config)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def with_secret(**values: Any) -> dict[str, Any]:
    return {"secret": SECRET, **values}


def with_cookie(**values: Any) -> dict[str, Any]:
    return {"secret": SECRET, "cookie": values}


BAD: list[tuple[str, Any, str]] = [
    # (case id, config, the option the message must name)
    ("no-secret", {}, "secret"),
    ("empty-secret", {"secret": ""}, "secret"),
    ("empty-list", {"secret": []}, "secret"),
    ("empty-in-list", {"secret": [SECRET, ""]}, "secret"),
    ("non-string-secret", {"secret": 5}, "secret"),
    ("non-string-in-list", {"secret": [SECRET, 5]}, "secret"),
    ("null-secret", {"secret": None}, "secret"),
    ("object-secret", {"secret": {"k": "v"}}, "secret"),
    ("name-empty", with_secret(name=""), "name"),
    ("name-space", with_secret(name="connect sid"), "name"),
    ("name-semicolon", with_secret(name="a;b"), "name"),
    ("name-equals", with_secret(name="a=b"), "name"),
    ("name-comma", with_secret(name="a,b"), "name"),
    ("name-quote", with_secret(name='a"b'), "name"),
    ("name-slash", with_secret(name="a/b"), "name"),
    ("name-non-ascii", with_secret(name="séance"), "name"),
    ("name-control", with_secret(name="sid\x01"), "name"),
    ("name-newline", with_secret(name="sid\n"), "name"),
    ("name-not-string", with_secret(name=5), "name"),
    ("resave-1", with_secret(resave=1), "resave"),
    ("resave-0", with_secret(resave=0), "resave"),
    ("resave-string", with_secret(resave="true"), "resave"),
    ("resave-null", with_secret(resave=None), "resave"),
    ("save-uninitialized-1", with_secret(save_uninitialized=1), "save_uninitialized"),
    ("save-uninitialized-0", with_secret(save_uninitialized=0), "save_uninitialized"),
    ("rolling-1", with_secret(rolling=1), "rolling"),
    ("rolling-0", with_secret(rolling=0), "rolling"),
    ("unset-unknown", with_secret(unset="bogus!"), "unset"),
    ("unset-null", with_secret(unset=None), "unset"),
    ("unset-case", with_secret(unset="Destroy"), "unset"),
    ("proxy-1", with_secret(proxy=1), "proxy"),
    ("proxy-0", with_secret(proxy=0), "proxy"),
    ("proxy-string", with_secret(proxy="true"), "proxy"),
    ("on-store-failure-unknown", with_secret(on_store_failure="ignore"), "on_store_failure"),
    ("store-timeout-negative", with_secret(store_timeout=-1), "store_timeout"),
    ("store-timeout-zero", with_secret(store_timeout=0), "store_timeout"),
    ("store-timeout-string", with_secret(store_timeout="5"), "store_timeout"),
    ("store-timeout-bool", with_secret(store_timeout=True), "store_timeout"),
    ("store-timeout-nan", with_secret(store_timeout=math.nan), "store_timeout"),
    ("idle-timeout-negative", with_secret(idle_timeout=-1), "idle_timeout"),
    ("idle-timeout-zero", with_secret(idle_timeout=0), "idle_timeout"),
    ("idle-timeout-string", with_secret(idle_timeout="60"), "idle_timeout"),
    (
        "idle-timeout-with-max-age",
        {"secret": SECRET, "idle_timeout": 60, "cookie": {"max_age": 60}},
        "idle_timeout",
    ),
    ("absolute-timeout-negative", with_secret(absolute_timeout=-1), "absolute_timeout"),
    ("absolute-timeout-zero", with_secret(absolute_timeout=0), "absolute_timeout"),
    ("absolute-timeout-bool", with_secret(absolute_timeout=True), "absolute_timeout"),
    ("touch-after-negative", with_secret(touch_after=-1), "touch_after"),
    ("touch-after-zero", with_secret(touch_after=0), "touch_after"),
    ("touch-after-inf", with_secret(touch_after=math.inf), "touch_after"),
    ("hash-ids-1", with_secret(hash_ids=1), "hash_ids"),
    ("hash-ids-null", with_secret(hash_ids=None), "hash_ids"),
    ("python-only-id-hash-key", with_secret(id_hash_key="k"), "id_hash_key"),
    ("path-semicolon", with_cookie(path="/a;b"), "cookie.path"),
    ("path-nul", with_cookie(path="/a\x00"), "cookie.path"),
    ("path-newline", with_cookie(path="/a\nSet-Cookie: x"), "cookie.path"),
    ("path-del", with_cookie(path="/a\x7f"), "cookie.path"),
    ("path-tab", with_cookie(path="/a\tb"), "cookie.path"),
    ("path-empty", with_cookie(path=""), "cookie.path"),
    ("path-not-string", with_cookie(path=5), "cookie.path"),
    ("domain-semicolon", with_cookie(domain="example.com; Secure"), "cookie.domain"),
    ("domain-control", with_cookie(domain="exa\rmple.com"), "cookie.domain"),
    ("domain-empty", with_cookie(domain=""), "cookie.domain"),
    ("domain-not-string", with_cookie(domain=["example.com"]), "cookie.domain"),
    ("http-only-1", with_cookie(http_only=1), "cookie.http_only"),
    ("http-only-0", with_cookie(http_only=0), "cookie.http_only"),
    ("partitioned-1", with_cookie(partitioned=1), "cookie.partitioned"),
    ("partitioned-0", with_cookie(partitioned=0), "cookie.partitioned"),
    ("secure-1", with_cookie(secure=1), "cookie.secure"),
    ("secure-0", with_cookie(secure=0), "cookie.secure"),
    ("secure-unknown", with_cookie(secure="yes"), "cookie.secure"),
    ("secure-null", with_cookie(secure=None), "cookie.secure"),
    ("same-site-unknown", with_cookie(same_site="bogus"), "cookie.same_site"),
    ("same-site-case", with_cookie(same_site="Lax"), "cookie.same_site"),
    ("same-site-true", with_cookie(same_site=True), "cookie.same_site"),
    ("same-site-none-insecure", with_cookie(same_site="none"), "cookie.same_site"),
    ("same-site-none-auto", with_cookie(same_site="none", secure="auto"), "cookie.same_site"),
    ("priority-unknown", with_cookie(priority="urgent"), "cookie.priority"),
    ("priority-case", with_cookie(priority="High"), "cookie.priority"),
    ("max-age-negative", with_cookie(max_age=-1), "cookie.max_age"),
    ("max-age-string", with_cookie(max_age="60"), "cookie.max_age"),
    ("max-age-bool", with_cookie(max_age=True), "cookie.max_age"),
    ("max-age-nan", with_cookie(max_age=math.nan), "cookie.max_age"),
    ("max-age-inf", with_cookie(max_age=math.inf), "cookie.max_age"),
    ("host-prefix-insecure", {"secret": SECRET, "name": "__Host-sid"}, "name"),
    ("host-prefix-auto", {"secret": SECRET, "name": "__Host-sid", "cookie": {"secure": "auto"}}, "name"),
    (
        "host-prefix-path",
        {"secret": SECRET, "name": "__Host-sid", "cookie": {"secure": True, "path": "/app"}},
        "name",
    ),
    (
        "host-prefix-domain",
        {"secret": SECRET, "name": "__Host-sid", "cookie": {"secure": True, "domain": "example.com"}},
        "name",
    ),
    ("secure-prefix-insecure", {"secret": SECRET, "name": "__Secure-sid"}, "name"),
    ("secure-prefix-auto", {"secret": SECRET, "name": "__Secure-sid", "cookie": {"secure": "auto"}}, "name"),
    ("unknown-top", with_secret(maxAge=60), "maxAge"),
    ("alias-key", with_secret(key="sid"), "key"),
    ("python-only-genid", with_secret(genid="bogus!"), "genid"),
    ("python-only-on-event", with_secret(on_event=None), "on_event"),
    ("secrets-field", with_secret(secrets=[SECRET]), "secrets"),
    ("unknown-cookie", with_cookie(maxAge=60), "cookie.maxAge"),
    ("unknown-cookie-expires", with_cookie(expires="Thu, 01 Jan 1970 00:00:00 GMT"), "cookie.expires"),
    ("unknown-cookie-camel", with_cookie(httpOnly=True), "cookie.httpOnly"),
    ("cookie-not-object", with_secret(cookie="path=/"), "cookie"),
    ("config-not-object", [["secret", SECRET]], "config"),
]


@pytest.mark.parametrize(("config", "option"), [pytest.param(c, o, id=i) for i, c, o in BAD])
def test_bad_option_refused(config: Any, option: str) -> None:
    message = refused(config)
    assert message.split(":", 1)[0] == option, message


def test_prefixed_names_accepted_when_their_rules_hold() -> None:
    host = SessionOptions(secret=SECRET, name="__Host-sid", cookie=CookieOptions(secure=True))
    assert host.name == "__Host-sid"
    secure = SessionOptions(
        secret=SECRET, name="__Secure-sid", cookie=CookieOptions(secure=True, path="/x", domain="example.com")
    )
    assert secure.name == "__Secure-sid"


def test_same_site_none_with_secure_accepted() -> None:
    assert CookieOptions(same_site="none", secure=True).same_site == "none"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"bytes are not a secret string"},
        {"secret": ()},
        {"secret": SECRET, "genid": "bogus!"},
        {"secret": SECRET, "valid_id": None},
        {"secret": SECRET, "on_event": "print"},
        {"secret": SECRET, "cookie": {"path": "/"}},
    ],
)
def test_python_api_refuses_too(kwargs: dict[str, Any]) -> None:
    option = next(k for k in kwargs if k != "secret") if len(kwargs) > 1 else "secret"
    with pytest.raises(ConfigError) as info:
        SessionOptions(**kwargs)
    assert str(info.value).split(":", 1)[0] == option


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        CookieOptions(max_age=-1)


# -- warnings ------------------------------------------------------------------


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "sansio_session" and r.levelno == logging.WARNING
    ]


def test_short_secret_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        SessionOptions(secret="keyboard cat")
    (message,) = warnings_of(caplog)
    assert "shorter than 32" in message
    assert "keyboard cat" not in message


def test_long_secret_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        SessionOptions(secret="x" * 32)
    assert warnings_of(caplog) == []


def test_short_old_secret_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    # Only the signing secret matters: an old one is only kept to verify.
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        SessionOptions(secret=["x" * 32, "short"])
    assert warnings_of(caplog) == []


def test_max_age_over_400_days_is_capped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        opts = SessionOptions.from_mapping({"secret": SECRET, "cookie": {"max_age": 401 * DAY}})
    assert opts.cookie.max_age == 400 * DAY
    assert opts.cookie.max_age_ms == 400 * DAY * 1000
    (message,) = warnings_of(caplog)
    assert "400 days" in message


def test_max_age_of_400_days_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        c = CookieOptions(max_age=400 * DAY)
    assert c.max_age == 400 * DAY
    assert warnings_of(caplog) == []


def test_max_age_ms_is_whole_milliseconds() -> None:
    assert CookieOptions(max_age=1.25).max_age_ms == 1250
    assert CookieOptions(max_age=60).max_age_ms == 60000


@pytest.mark.parametrize(
    ("header", "save_uninitialized", "deferred"),
    [
        (None, False, True),
        ("theme=dark; _ga=GA1.2.3", False, True),
        ("theme=dark; connect.sid=s%3Aabc.def", False, False),
        ("connect.sid=", False, False),  # ours, if empty: begun as usual
        (None, True, False),  # an untouched new session is stored: begin it
        ("theme=dark", True, False),
    ],
)
def test_can_defer_only_what_has_nothing_to_load_or_store(
    header: str | None, save_uninitialized: bool, deferred: bool
) -> None:
    opts = SessionOptions(secret="s" * 32, save_uninitialized=save_uninitialized)
    assert opts.can_defer(header) is deferred
