# The Redis store's per-request round trip under each driver, beside redis-py.
#
# One sample is what a request with a session costs the store: a load
# (GET + PTTL, pipelined) and then a save (SET ... EX), awaited one after the
# other on one connection. Each client runs in a fresh process per round, and
# the rounds are interleaved, so that a noisy machine blurs every client
# alike. The figure per client is the median over rounds of each round's
# median (p50), in microseconds.
#
#     python bench/redis_roundtrip.py [--url redis://127.0.0.1:6379/9]
#                                     [--pairs 1000] [--rounds 5]
#
# redis-py (pip install redis) is only needed for its two reference rows.
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)] + [str(ROOT / "integrations" / name) for name in ("tornado", "twisted", "trio")]

RECORD = json.dumps(
    {
        "cookie": {
            "originalMaxAge": 86400000,
            "expires": "2030-01-01T00:00:00.000Z",
            "httpOnly": True,
            "path": "/",
        },
        "user": {"id": 12345, "name": "someone", "roles": ["reader", "writer"]},
        "views": 42,
    },
    separators=(",", ":"),
)
WARMUP = 100
PREFIX = "bench:"


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def bench_redispy_sync(url: str, key: str, pairs: int) -> float:
    import redis

    client = redis.Redis.from_url(url)
    key = PREFIX + key
    samples = []
    for i in range(WARMUP + pairs):
        start = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        pipe.execute()
        client.set(key, RECORD, ex=86400)
        if i >= WARMUP:
            samples.append(time.perf_counter() - start)
    client.delete(key)
    client.close()
    return _p50(samples)


def bench_redispy_asyncio(url: str, key: str, pairs: int) -> float:
    import asyncio

    import redis.asyncio

    async def main() -> float:
        client = redis.asyncio.Redis.from_url(url)
        full = PREFIX + key
        samples = []
        for i in range(WARMUP + pairs):
            start = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            pipe.get(full)
            pipe.pttl(full)
            await pipe.execute()
            await client.set(full, RECORD, ex=86400)
            if i >= WARMUP:
                samples.append(time.perf_counter() - start)
        await client.delete(full)
        await client.aclose()
        return _p50(samples)

    return asyncio.run(main())


def bench_tornado(url: str, key: str, pairs: int) -> float:
    import asyncio

    from sansio_session_tornado.redis import RedisStore

    async def main() -> float:
        async with RedisStore(url, prefix=PREFIX) as store:
            samples = []
            for i in range(WARMUP + pairs):
                start = time.perf_counter()
                await store.get(key)
                await store.set(key, RECORD, 86400)
                if i >= WARMUP:
                    samples.append(time.perf_counter() - start)
            await store.destroy(key)
        return _p50(samples)

    return asyncio.run(main())


def bench_twisted(url: str, key: str, pairs: int) -> float:
    from twisted.internet import defer, task

    from sansio_session_twisted.redis import RedisStore

    result: list[float] = []

    async def main(reactor: Any) -> None:
        store = RedisStore(url, prefix=PREFIX)
        samples = []
        for i in range(WARMUP + pairs):
            start = time.perf_counter()
            await store.get(key)
            await store.set(key, RECORD, 86400)
            if i >= WARMUP:
                samples.append(time.perf_counter() - start)
        await store.destroy(key)
        await store.close()
        result.append(_p50(samples))

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as exit:
        if exit.code:
            raise
    return result[0]


def bench_trio(url: str, key: str, pairs: int) -> float:
    import trio

    from sansio_session_trio.redis import RedisStore

    async def main() -> float:
        async with RedisStore(url, prefix=PREFIX) as store:
            samples = []
            for i in range(WARMUP + pairs):
                start = time.perf_counter()
                await store.get(key)
                await store.set(key, RECORD, 86400)
                if i >= WARMUP:
                    samples.append(time.perf_counter() - start)
            await store.destroy(key)
        return _p50(samples)

    return trio.run(main)


CLIENTS: dict[str, Callable[[str, str, int], float]] = {
    "redis-py sync": bench_redispy_sync,
    "redis-py asyncio": bench_redispy_asyncio,
    "sansio-session + tornado": bench_tornado,
    "sansio-session + twisted": bench_twisted,
    "sansio-session + trio": bench_trio,
}


def _one(name: str, url: str, pairs: int) -> float | None:
    key = uuid.uuid4().hex
    done = subprocess.run(
        [sys.executable, __file__, "--client", name, "--url", url, "--pairs", str(pairs), "--key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        print(f"  {name}: {last}", file=sys.stderr)
        return None
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(CLIENTS[args.client](args.url, args.key, args.pairs))
        return

    rounds: dict[str, list[float]] = {name: [] for name in CLIENTS}
    for number in range(args.rounds):
        print(f"round {number + 1}/{args.rounds}", file=sys.stderr)
        for name in CLIENTS:
            p50 = _one(name, args.url, args.pairs)
            if p50 is not None:
                rounds[name].append(p50)

    figures = {name: statistics.median(values) for name, values in rounds.items() if values}
    sync = figures.get("redis-py sync")
    aio = figures.get("redis-py asyncio")
    print(f"\nload (GET+PTTL) + save (SET EX), {args.pairs} pairs x {args.rounds} rounds")
    print(f"{'client':<26} {'p50 us':>8} {'rounds min-max':>16} {'/ sync':>7} {'/ asyncio':>9}")
    for name, value in figures.items():
        spread = f"{min(rounds[name]):.0f}-{max(rounds[name]):.0f}"
        vs_sync = f"{value / sync:.2f}" if sync else "-"
        vs_aio = f"{value / aio:.2f}" if aio else "-"
        print(f"{name:<26} {value:>8.0f} {spread:>16} {vs_sync:>7} {vs_aio:>9}")


if __name__ == "__main__":
    main()
