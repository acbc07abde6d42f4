# The Cookie header parser and the Set-Cookie writer, against the behaviour
# of the `cookie` package (0.7.2) that express-session uses.
from __future__ import annotations

import email.utils

import pytest

from sansio_session import find_cookie, http_date, parse_cookie_header, serialize_set_cookie

PARSE_VECTORS: list[tuple[str, dict[str, str]]] = [
    ("", {}),
    ("a=1", {"a": "1"}),
    ("a=1; b=2", {"a": "1", "b": "2"}),
    ("a=1;b=2", {"a": "1", "b": "2"}),
    # The first of duplicate names wins, as in express-session.
    ("a=1; a=2", {"a": "1"}),
    ("a=; a=2", {"a": ""}),
    # Spaces and tabs around names and values.
    ("  a  =  1  ;  b = 2 ", {"a": "1", "b": "2"}),
    ("\ta\t=\t1\t", {"a": "1"}),
    # Inner spaces stay.
    ("a b=c d", {"a b": "c d"}),
    # One pair of double quotes is unwrapped, after trimming.
    ('a="quoted"', {"a": "quoted"}),
    ('a= "quoted" ', {"a": "quoted"}),
    ('a=" x "', {"a": " x "}),
    ('a=""', {"a": ""}),
    ('a="x', {"a": '"x'}),
    ('a=x"', {"a": 'x"'}),
    ('a=""x""', {"a": '"x"'}),
    # %-decoding.
    ("a=%41%42", {"a": "AB"}),
    ("a=s%3Aabc.def", {"a": "s:abc.def"}),
    ("a=%C3%A9", {"a": "é"}),
    ('a="%41"', {"a": "A"}),
    ("a=%2541", {"a": "%41"}),
    # ... and its failure keeps the raw value.
    ("a=%E4", {"a": "%E4"}),
    ("a=%41%E4", {"a": "%41%E4"}),
    ("a=%", {"a": "%"}),
    ("a=%zz", {"a": "%zz"}),
    ("a=%4", {"a": "%4"}),
    # A value may hold "=".
    ("a=b=c", {"a": "b=c"}),
    ("a==", {"a": "="}),
    # Nameless pairs and pairs without "=" are ignored.
    ("=x; a=1", {"a": "1"}),
    (" =x; a=1", {"a": "1"}),
    ("novalue; a=1", {"a": "1"}),
    ("a=1; novalue", {"a": "1"}),
    (";;;", {}),
    ("; ; a=1 ;;", {"a": "1"}),
    # "," does not separate cookies.
    ("a=1, b=2", {"a": "1, b=2"}),
]


@pytest.mark.parametrize(("header", "expected"), PARSE_VECTORS)
def test_parse_cookie_header(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie_header(header) == expected


@pytest.mark.parametrize(("header", "expected"), PARSE_VECTORS)
def test_find_cookie_agrees_with_parse(header: str, expected: dict[str, str]) -> None:
    for name in [*expected, "missing"]:
        assert find_cookie(header, name) == expected.get(name)


def test_a_lone_quote_unwraps_to_nothing() -> None:
    assert parse_cookie_header('a="') == {"a": ""}
    assert find_cookie('a=" ', "a") == ""


# decodeURIComponent fails on the whole value at any malformed escape.
@pytest.mark.parametrize(
    ("header", "raw"), [("a=%41%zz", "%41%zz"), ("a=%41%4", "%41%4"), ("a=%41%", "%41%")]
)
def test_partly_malformed_escapes_keep_the_raw_value(header: str, raw: str) -> None:
    assert parse_cookie_header(header) == {"a": raw}


@pytest.mark.parametrize(
    ("header", "name", "value"),
    [
        ("xconnect.sid=1; connect.sid=2", "connect.sid", "2"),
        ("connect.sid2=1; connect.sid=2", "connect.sid", "2"),
        ("a=connect.sid; connect.sid=v", "connect.sid", "v"),
        ("a=connect.sid=v", "connect.sid", None),
        ("connect.sid", "connect.sid", None),
        ("connect.sid=first; connect.sid=second", "connect.sid", "first"),
        ("other=1", "connect.sid", None),
        ("Connect.sid=1", "connect.sid", None),
    ],
)
def test_find_cookie(header: str, name: str, value: str | None) -> None:
    assert find_cookie(header, name) == value


def test_header_beyond_the_bound_is_not_read() -> None:
    padding = "x=" + "y" * 1_000_000
    assert find_cookie(padding + "; a=1", "a") is None
    assert "a" not in parse_cookie_header(padding + "; a=1")
    assert find_cookie("a=1; " + padding, "a") == "1"
    assert parse_cookie_header("a=1; " + padding)["a"] == "1"


def test_serialize_every_attribute_in_express_order() -> None:
    value = serialize_set_cookie(
        "connect.sid",
        "s:abc",
        domain="example.com",
        path="/",
        expires=0,
        http_only=True,
        secure=True,
        partitioned=True,
        priority="high",
        same_site="strict",
    )
    assert value == (
        "connect.sid=s%3Aabc; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        "HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict"
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "n=v; Path=/"),
        ({"path": None}, "n=v"),
        ({"path": "/app"}, "n=v; Path=/app"),
        ({"http_only": True}, "n=v; Path=/; HttpOnly"),
        ({"secure": True}, "n=v; Path=/; Secure"),
        ({"same_site": "lax"}, "n=v; Path=/; SameSite=Lax"),
        ({"same_site": "none", "secure": True}, "n=v; Path=/; Secure; SameSite=None"),
        ({"priority": "low"}, "n=v; Path=/; Priority=Low"),
        ({"priority": "medium"}, "n=v; Path=/; Priority=Medium"),
        ({"expires": 1000.0}, "n=v; Path=/; Expires=Thu, 01 Jan 1970 00:16:40 GMT"),
        ({"domain": ".example.com", "path": None}, "n=v; Domain=.example.com"),
    ],
)
def test_serialize_attributes(kwargs: dict[str, object], expected: str) -> None:
    assert serialize_set_cookie("n", "v", **kwargs) == expected  # type: ignore[arg-type]


def test_serialize_never_writes_max_age() -> None:
    assert "Max-Age" not in serialize_set_cookie("n", "v", expires=1e9, http_only=True)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("s:a+b/c=", "s%3Aa%2Bb%2Fc%3D"),
        ("-_.!~*'()", "-_.!~*'()"),
        ('a b;c,d"e', "a%20b%3Bc%2Cd%22e"),
        ("%", "%25"),
        ("é", "%C3%A9"),
        ("", ""),
    ],
)
def test_serialize_encodes_as_encode_uri_component(value: str, encoded: str) -> None:
    assert serialize_set_cookie("n", value, path=None) == "n=" + encoded


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (0.999, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (1060.0, "Thu, 01 Jan 1970 00:17:40 GMT"),
        (784111777, "Sun, 06 Nov 1994 08:49:37 GMT"),  # RFC 9110's example
        (1709164800, "Thu, 29 Feb 2024 00:00:00 GMT"),
        (1796325783.506, "Thu, 03 Dec 2026 19:23:03 GMT"),
        (4102444799, "Thu, 31 Dec 2099 23:59:59 GMT"),
    ],
)
def test_http_date(seconds: float, text: str) -> None:
    assert http_date(seconds) == text


@pytest.mark.parametrize("seconds", [0, 86399, 951782400, 1234567890, 2000000000, 2147483648, 3e9])
def test_http_date_agrees_with_email_utils(seconds: float) -> None:
    assert http_date(seconds) == email.utils.formatdate(seconds, usegmt=True)
