# The Redis store's options: the redis:// URL, the connection setup it
# implies (AUTH, SELECT, CLIENT SETNAME), the timeout and the backoff.
from __future__ import annotations

from typing import Any

import pytest

from sansio_session import ConfigError
from sansio_session.redis import Backoff, RedisReplyError, RedisURL, check_timeout, parse_redis_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/9", RedisURL(host="127.0.0.1", port=6379, db=9)),
        ("redis://localhost", RedisURL(host="localhost")),
        ("REDIS://cache.internal:7000/", RedisURL(host="cache.internal", port=7000)),
        ("rediss://:s3cret@h/1", RedisURL(host="h", db=1, password="s3cret", tls=True)),
        (
            "redis://alice:p%40ss%3Aword@h:1234/2",
            RedisURL(host="h", port=1234, db=2, username="alice", password="p@ss:word"),
        ),
        ("redis://[::1]:6380/3", RedisURL(host="::1", port=6380, db=3)),
    ],
)
def test_good_urls(url: str, expected: RedisURL) -> None:
    assert parse_redis_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://:s3cret@h:6379/0",
        "redis:/h",
        "redis://",
        "redis://:s3cret@:6379/0",
        "redis://:s3cret@h:0",
        "redis://h:99999",
        "redis://:s3cret@h:port",
        "redis://h/db",
        "redis://h/-1",
        "redis://h/1/2",
        "redis://:s3cret@h/?db=1",
        "redis://h/1#x",
        "redis://alice@h/0",
        "redis://alice:@h/0",
        "redis://:s3cret@[::1/0",
    ],
)
def test_bad_urls_are_config_errors_that_hide_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_redis_url(url)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("url", [None, b"redis://h"])
def test_a_url_must_be_text(url: Any) -> None:
    with pytest.raises(ConfigError):
        parse_redis_url(url)


def test_a_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_redis_url("memcached://h")


def test_the_password_never_shows() -> None:
    url = parse_redis_url("rediss://alice:s3cret@h:1/2")
    assert str(url) == "rediss://alice:***@h:1/2"
    assert "s3cret" not in repr(url)
    assert str(parse_redis_url("redis://[::1]")) == "redis://[::1]:6379/0"


@pytest.mark.parametrize(
    ("url", "name", "commands"),
    [
        ("redis://h", None, None),
        ("redis://h/0", "web-1", ((b"CLIENT", b"SETNAME", "web-1"),)),
        ("redis://:pw@h/9", None, ((b"AUTH", "pw"), (b"SELECT", 9))),
        ("redis://alice:pw@h", None, ((b"AUTH", "alice", "pw"),)),
    ],
)
def test_the_connection_setup(url: str, name: str | None, commands: Any) -> None:
    hello = parse_redis_url(url).hello(name)
    assert (hello and hello.commands) == commands


def test_a_failed_login_fails_the_setup() -> None:
    hello = parse_redis_url("redis://alice:pw@h/9").hello()
    assert hello is not None
    error = RedisReplyError("WRONGPASS invalid username-password pair or user is disabled.")
    with pytest.raises(RedisReplyError, match="WRONGPASS"):
        hello.parse([error, b"OK"], 0.0)


@pytest.mark.parametrize("name", ["", "two words", "tab\there", 5])
def test_a_bad_client_name_is_a_config_error(name: Any) -> None:
    with pytest.raises(ConfigError):
        RedisURL().hello(name)


@pytest.mark.parametrize("value", [0, -1, "2", True, float("nan")])
def test_a_bad_timeout_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError):
        check_timeout(value)


def test_backoff_doubles_up_to_its_maximum_and_resets() -> None:
    backoff = Backoff(0.1, 0.5)
    assert backoff.wait(100.0) == 0.0
    waits = []
    for _ in range(5):
        backoff.failed(100.0)
        waits.append(round(backoff.wait(100.0), 9))
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff.wait(100.3) == pytest.approx(0.2)
    assert backoff.wait(101.0) == 0.0
    backoff.succeeded()
    backoff.failed(200.0)
    assert backoff.wait(200.0) == pytest.approx(0.1)


def test_a_long_outage_does_not_overflow_the_backoff() -> None:
    backoff = Backoff()
    for _ in range(5000):
        backoff.failed(0.0)
    assert backoff.wait(0.0) == 1.0


@pytest.mark.parametrize(("initial", "maximum"), [(-1, 1), (2, 1)])
def test_a_bad_backoff_is_a_config_error(initial: float, maximum: float) -> None:
    with pytest.raises(ConfigError):
        Backoff(initial, maximum)
