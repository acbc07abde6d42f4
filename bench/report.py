# The runner's figures: the HTTP rows with their overhead ratios, the targets
# of the performance issue checked against them, and the one printed table.
#
# An overhead ratio is 1 - (with sessions req/s) / (bare req/s), taken in
# each round from two measurements made back to back, and the median over the
# rounds. The CPU ratio, 1 - (bare CPU per request) / (with sessions CPU per
# request), and the added CPU per request are taken the same way from the
# server's own CPU time, which other load on the machine disturbs less; on a
# saturated server the two ratios agree.
from __future__ import annotations

import statistics
from typing import Any

from servers import Framework

SHAPE_NAMES = {"a": "(a) no cookie", "b": "(b) reads", "c": "(c) writes"}
# A difference in system calls per request below this is none: a real extra
# call happens once per request, idle wake-ups spread over all of them.
SYSCALL_SLACK = 0.5


def _median(rows: list[dict[str, float]], name: str) -> float:
    return statistics.median(row[name] for row in rows)


def http_rows(
    fws: list[Framework], samples: dict[tuple[str, str, str], list[dict[str, float]]]
) -> list[dict[str, Any]]:
    rows = []
    for fw in fws:
        for shape in SHAPE_NAMES:
            bare = samples[fw.key, "bare", shape]
            for variant in fw.variants:
                mine = samples[fw.key, variant, shape]
                row: dict[str, Any] = {
                    "framework": fw.key,
                    "label": fw.label,
                    "ours": fw.ours,
                    "variant": variant,
                    "shape": shape,
                    **{name: _median(mine, name) for name in ("rps", "p50_us", "p99_us", "cpu_us")},
                    "rounds": mine,
                }
                if variant != "bare":
                    ratios = [1 - m["rps"] / b["rps"] for m, b in zip(mine, bare, strict=True)]
                    added = [m["cpu_us"] - b["cpu_us"] for m, b in zip(mine, bare, strict=True)]
                    middle = statistics.median(added)
                    row["overhead"] = statistics.median(ratios)
                    row["cpu_overhead"] = statistics.median(
                        1 - b["cpu_us"] / m["cpu_us"] for m, b in zip(mine, bare, strict=True)
                    )
                    row["added_cpu_us"] = middle
                    row["added_cpu_mad"] = statistics.median(abs(x - middle) for x in added)
                rows.append(row)
    return rows


def _find(results: dict[str, Any], framework: str, variant: str, shape: str) -> dict[str, Any] | None:
    for row in results.get("http", []):
        if (row["framework"], row["variant"], row["shape"]) == (framework, variant, shape):
            return row  # type: ignore[no-any-return]
    return None


def _ours(results: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(row["framework"] for row in results.get("http", []) if row["ours"]))


def _target(number: int, text: str, checks: list[tuple[bool, str]]) -> dict[str, Any]:
    return {
        "number": number,
        "text": text,
        "met": all(ok for ok, _ in checks) if checks else None,
        "detail": "; ".join(detail for _, detail in checks) or "not measured",
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    core = results.get("core", {})
    found = []
    checks = []
    if core:
        times = core["b"] / core["floor"]
        checks.append(
            (times <= 2, f"(b) {core['b']:.1f} us = {times:.2f}x the floor's {core['floor']:.1f} us")
        )
    found.append(_target(1, "the core: at most 2x the floor per request", checks))

    peers = [
        row
        for row in results.get("http", [])
        if not row["ours"] and row["shape"] == "b" and "overhead" in row
    ]
    best_peer = min((row["overhead"] for row in peers), default=None)
    checks = []
    for key in _ours(results):
        row = _find(results, key, "memory", "b")
        if row is None:
            continue
        ok = row["overhead"] < 0.10 and (best_peer is None or row["overhead"] < best_peer)
        checks.append((ok, f"{key} {row['overhead']:.1%}"))
    if peers:
        checks.append(
            (True, "peers " + ", ".join(f"{row['framework']} {row['overhead']:.1%}" for row in peers))
        )
    found.append(_target(2, "(b) on the memory store: under 10% and below every peer", checks))

    redis = results.get("redis", {})
    checks = []
    sync, aio = redis.get("redis-py sync"), redis.get("redis-py asyncio")
    for name, value in redis.items():
        if name.startswith("sansio-session") and sync and aio:
            ok = value <= 1.2 * sync and aio / value >= 2
            checks.append(
                (
                    ok,
                    f"{name.split('+')[-1].strip()} {value / sync:.2f}x sync,"
                    f" {aio / value:.2f}x faster than asyncio",
                )
            )
    found.append(
        _target(3, "the Redis store: at most 1.2x redis-py sync, at least 2x faster than its asyncio", checks)
    )

    checks = []
    calls = {row["framework"]: row for row in results.get("syscalls", [])}
    for key in _ours(results):
        for variant in ("memory", "redis"):
            row = _find(results, key, variant, "a")
            if row is None or not core:
                continue
            beyond = row["added_cpu_us"] - core["a"]
            ok = beyond <= max(2 * row["added_cpu_mad"], 2.0)
            checks.append((ok, f"{key} {variant} +{row['added_cpu_us']:.1f} us (core {core['a']:.1f})"))
        redis_a = calls.get(key, {}).get("redis_a")
        if redis_a is not None:
            writes = redis_a["writes"] - calls[key]["bare_b"]["writes"]
            checks.append((abs(writes) < SYSCALL_SLACK, f"{key} on Redis {writes:+.2f} socket writes/req"))
    found.append(_target(4, "(a) adds no store call and no cost beyond the header parse", checks))

    checks = []
    for key, row in calls.items():
        for shape in ("a", "b"):
            mem = row.get(f"memory_{shape}")
            if mem is None:
                continue
            extra_total = mem["total"] - row["bare_b"]["total"]
            extra_writes = mem["writes"] - row["bare_b"]["writes"]
            ok = extra_total < SYSCALL_SLACK and extra_writes < SYSCALL_SLACK
            changed = ", ".join(f"{name} {n:+g}" for name, n in mem["diff"].items()) or "none"
            checks.append(
                (ok, f"{key} ({shape}) {extra_total:+.2f} calls, {extra_writes:+.2f} writes ({changed})")
            )
    found.append(_target(5, "a driver adds no system call and no socket write per request", checks))
    return found


def _fmt_ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    settings = meta["settings"]
    out = [
        f"sansio-session benchmark, {meta['mode']} run, Python {meta['python']}, {meta['machine']}",
        f"HTTP: {meta['wrk']}; {settings['rounds']} rounds of {settings['seconds']} s, median",
        "",
        f"{'framework':<28} {'sessions':<9} {'shape':<14} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'CPU us':>7} {'overhead':>9} {'CPU ratio':>9} {'+CPU us':>8}",
    ]
    for row in results.get("http", []):
        overhead = f"{row['overhead']:.1%}" if "overhead" in row else "-"
        cpu_ratio = f"{row['cpu_overhead']:.1%}" if "cpu_overhead" in row else "-"
        added = f"{row['added_cpu_us']:+.1f}" if "added_cpu_us" in row else "-"
        out.append(
            f"{row['label']:<28} {row['variant']:<9} {SHAPE_NAMES[row['shape']]:<14} {row['rps']:>8.0f}"
            f" {_fmt_ms(row['p50_us']):>7} {_fmt_ms(row['p99_us']):>7} {row['cpu_us']:>7.0f}"
            f" {overhead:>9} {cpu_ratio:>9} {added:>8}"
        )
    core = results.get("core")
    if core:
        out += ["", f"{'the core, per request (CPU)':<42} {'us':>7} {'x floor':>8}"]
        for name, label in (
            ("floor", "floor: parse, HMAC, JSON"),
            ("a", SHAPE_NAMES["a"]),
            ("b", SHAPE_NAMES["b"]),
            ("c", SHAPE_NAMES["c"]),
        ):
            out.append(f"{label:<42} {core[name]:>7.1f} {core[name] / core['floor']:>8.2f}")
    redis = results.get("redis")
    if redis:
        sync, aio = redis.get("redis-py sync"), redis.get("redis-py asyncio")
        out += ["", f"{'Redis load + save, p50':<42} {'us':>7} {'/ sync':>8} {'/ asyncio':>9}"]
        for name, value in redis.items():
            vs_sync = f"{value / sync:.2f}" if sync else "-"
            vs_aio = f"{value / aio:.2f}" if aio else "-"
            out.append(f"{name:<42} {value:>7.0f} {vs_sync:>8} {vs_aio:>9}")
    scale = results.get("scaling")
    if scale:
        out += ["", f"{'scaling: Tornado, Redis, (b)':<42} {'req/s':>7} {'x one':>8} {'p99 ms':>9}"]
        for row in scale:
            label = f"{row['processes']} process{'es' if row['processes'] > 1 else ''}"
            out.append(f"{label:<42} {row['rps']:>7.0f} {row['speedup']:>8.2f} {_fmt_ms(row['p99_us']):>9}")
    calls = results.get("syscalls")
    if calls:
        out += [
            "",
            f"{'system calls per request (strace)':<28} {'bare (b)':>9} {'memory (a)':>11} {'memory (b)':>11}"
            f" {'redis (a)':>10} {'redis (b)':>10}   total / socket writes",
        ]
        for row in calls:
            cells = [
                f"{row[name]['total']:.1f}/{row[name]['writes']:.1f}" if name in row else "-"
                for name in ("bare_b", "memory_a", "memory_b", "redis_a", "redis_b")
            ]
            widths = (9, 11, 11, 10, 10)
            out.append(
                f"{row['label']:<28} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
            )
    out += ["", "targets"]
    for target in results.get("targets", []):
        verdict = {True: "met", False: "MISSED", None: "n/a"}[target["met"]]
        out.append(f"{target['number']}. {verdict:<7} {target['text']}: {target['detail']}")
    for name, reason in meta.get("skipped", {}).items():
        out.append(f"skipped {name}: {reason}")
    return "\n".join(out)
