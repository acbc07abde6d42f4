"""Draw a run's overhead ratios as an SVG bar chart (standard library only).

    python bench/plot.py [bench/results/<timestamp>.json] [-o docs/_static/overhead.svg]
    python bench/plot.py [bench/results/<timestamp>.json] --rst    (the HTTP table, for the docs)

One group of bars per framework and store, one bar per traffic shape, with
the 10% line of target 2. Without a file it draws the newest result.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
SHAPES = {"a": ("(a) no cookie", "#9ecae1"), "b": ("(b) reads", "#3182bd"), "c": ("(c) writes", "#08519c")}
WIDTH = 760
LEFT = 230
RIGHT = 40
BAR = 9
GAP = 10
TOP = 58
# What an RST table cell without a figure shows (a bare "-" would start a list).
NOTHING = "\N{EN DASH}"


def groups(results: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    found: dict[str, dict[str, float]] = {}
    for row in results["http"]:
        if "overhead" not in row:
            continue
        name = f"{row['label']}, {row['variant']}" if row["ours"] else row["label"]
        found.setdefault(name, {})[row["shape"]] = row["overhead"]
    return list(found.items())


def svg(results: dict[str, Any]) -> str:
    rows = groups(results)
    values = [v for _, shapes in rows for v in shapes.values()]
    low = min([0.0, *values])
    high = max([0.1, *values]) * 1.08
    span = high - low
    plot_width = WIDTH - LEFT - RIGHT
    height = TOP + len(rows) * (3 * BAR + GAP) + 40

    def x(value: float) -> float:
        return LEFT + (value - low) / span * plot_width

    meta = results["meta"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">'
        "Overhead of sessions over the bare framework</text>",
        f'<text x="{LEFT}" y="34" fill="#555">1 - (req/s with sessions) / (req/s bare);'
        f" {escape(meta['mode'])} run "
        f"{escape(meta['started'])}, Python {escape(meta['python'])}</text>",
    ]
    for number, (label, colour) in enumerate(SHAPES.values()):
        lx = LEFT + number * 130
        out.append(f'<rect x="{lx}" y="42" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="51">{escape(label)}</text>')
    step = 0.1 if span > 0.3 else 0.05
    tick = (low // step) * step
    bottom = height - 30
    while tick <= high:
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{TOP - 4}" x2="{tx:.1f}" y2="{bottom}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{tx:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">{tick:.0%}</text>')
        tick += step
    zero = x(0.0)
    out.append(f'<line x1="{zero:.1f}" y1="{TOP - 4}" x2="{zero:.1f}" y2="{bottom}" stroke="#333"/>')
    target = x(0.10)
    out.append(
        f'<line x1="{target:.1f}" y1="{TOP - 4}" x2="{target:.1f}" y2="{bottom}" stroke="#d62728" '
        'stroke-dasharray="4 3"/>'
    )
    out.append(f'<text x="{target + 4:.1f}" y="{bottom - 4}" fill="#d62728">target 2: 10%</text>')
    y = TOP
    for name, shapes in rows:
        out.append(
            f'<text x="{LEFT - 8}" y="{y + 1.5 * BAR + 4:.1f}" text-anchor="end">{escape(name)}</text>'
        )
        for number, (key, (_, colour)) in enumerate(SHAPES.items()):
            if key not in shapes:
                continue
            value = shapes[key]
            start, end = sorted((zero, x(value)))
            by = y + number * BAR
            out.append(
                f'<rect x="{start:.1f}" y="{by}" width="{max(end - start, 0.5):.1f}" height="{BAR - 1}" '
                f'fill="{colour}"><title>{escape(name)} {key}: {value:.1%}</title></rect>'
            )
        y += 3 * BAR + GAP
    out.append("</svg>")
    return "\n".join(out) + "\n"


def rst(results: dict[str, Any]) -> str:
    """The run's HTTP rows as a reStructuredText list-table, for the docs."""
    head = [
        "framework",
        "sessions",
        "shape",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU µs",
        "overhead",
        "CPU ratio",
        "+CPU µs",
    ]
    out = [".. list-table::", "   :header-rows: 1", "   :class: bench-table", ""]
    for cells in [head, *(_cells(row) for row in results["http"])]:
        out.append(f"   * - {cells[0]}")
        out += [f"     - {cell}" for cell in cells[1:]]
    return "\n".join(out) + "\n"


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        row["label"],
        row["variant"],
        f"\\({row['shape']})",  # a bare "(a)" would start an enumerated list
        f"{row['rps']:.0f}",
        f"{row['p50_us'] / 1000:.2f}",
        f"{row['p99_us'] / 1000:.2f}",
        f"{row['cpu_us']:.0f}",
        f"{row['overhead']:.1%}" if "overhead" in row else NOTHING,
        f"{row['cpu_overhead']:.1%}" if "cpu_overhead" in row else NOTHING,
        f"{row['added_cpu_us']:+.1f}" if "added_cpu_us" in row else NOTHING,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="?", type=Path)
    parser.add_argument("-o", "--out", type=Path, default=BENCH.parent / "docs" / "_static" / "overhead.svg")
    parser.add_argument("--rst", action="store_true", help="print the HTTP rows as an RST table instead")
    args = parser.parse_args()
    path = args.results or max((BENCH / "results").glob("*.json"))
    results = json.loads(path.read_text())
    if args.rst:
        print(rst(results), end="")
        return
    args.out.write_text(svg(results))
    print(f"{args.out} from {path}")


if __name__ == "__main__":
    main()
