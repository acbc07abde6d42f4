# Draw the machine's phase diagram from its transition table, with no
# graphviz: a small layered layout (h11 draws its diagrams from its table
# too, so the picture cannot drift from the code), written out as SVG for
# HTML and as plain text for every other builder.
#
# The layout is the usual one for small state machines: phases go in rows
# by their longest distance from the first phase (edges that lead back up
# are drawn back up), an edge that skips rows passes through placeholder
# points in the rows between, and each row's order is the one with the
# fewest crossings, found by trying them all (the table is small; past a
# limit we keep the table's own order).
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from html import escape

__all__ = ["Diagram", "layout", "render_svg", "render_text"]

Table = Mapping[Enum, Mapping[Enum, "frozenset[Enum] | set[Enum]"]]

_FONT = 12
_CHAR = 7.0  # generous width of one character at _FONT, for sizing boxes
_LABEL_CHAR = 6.4
_NODE_H = 30
_ROW_GAP = 86
_GAP = 56
_DUMMY_W = 24
_LOOP = 26
_MARGIN = 16
_MAX_TRIES = 20000
_SCALE = 1.4  # drawn size over layout size
# Dark enough to read as text on white, far enough apart to tell apart.
_COLOURS = ("#1f5fa8", "#b3541e", "#2e7d32", "#8e2a8e", "#a8323e", "#00796b", "#6d4c1f")


@dataclass
class _Edge:
    src: Enum
    dst: Enum
    labels: list[str]
    back: bool = False  # drawn from a lower row up to a higher one
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Diagram:
    """Positions of everything to draw, in SVG pixels."""

    width: float
    height: float
    boxes: dict[Enum, tuple[float, float, float, float]]  # x, y, w, h
    edges: list[_Edge]
    loops: dict[Enum, list[str]]
    isolated: list[Enum]


def _edges(table: Table) -> tuple[list[_Edge], dict[Enum, list[str]]]:
    pairs: dict[tuple[Enum, Enum], list[str]] = {}
    loops: dict[Enum, list[str]] = {}
    order = {phase: i for i, phase in enumerate(table)}
    for src, calls in table.items():
        for call, targets in calls.items():
            for dst in sorted(targets, key=lambda p: order.get(p, len(order))):
                if dst is src:
                    loops.setdefault(src, []).append(str(call.value))
                else:
                    pairs.setdefault((src, dst), []).append(str(call.value))
    return [_Edge(src, dst, labels) for (src, dst), labels in pairs.items()], loops


def _ranks(phases: Sequence[Enum], edges: list[_Edge]) -> dict[Enum, int]:
    # Depth-first from the first phase: an edge to a phase still on the
    # stack leads back up. The rest form a DAG; rank = longest path.
    successors: dict[Enum, list[_Edge]] = {p: [] for p in phases}
    for edge in edges:
        successors[edge.src].append(edge)
    on_stack: set[Enum] = set()
    seen: set[Enum] = set()

    def visit(phase: Enum) -> None:
        seen.add(phase)
        on_stack.add(phase)
        for edge in successors[phase]:
            if edge.dst in on_stack:
                edge.back = True
            elif edge.dst not in seen:
                visit(edge.dst)
        on_stack.discard(phase)

    for phase in phases:
        if phase not in seen:
            visit(phase)
    rank = {p: 0 for p in phases}
    for _ in phases:  # relax: longest paths in a DAG of len(phases) nodes
        for edge in edges:
            top, bottom = (edge.dst, edge.src) if edge.back else (edge.src, edge.dst)
            rank[bottom] = max(rank[bottom], rank[top] + 1)
    return rank


def _crossings(rows: Sequence[Sequence[object]], links: Sequence[tuple[object, object]]) -> int:
    where = {item: (r, i) for r, row in enumerate(rows) for i, item in enumerate(row)}
    by_row: dict[int, list[tuple[int, int]]] = {}
    for a, b in links:
        (ra, ia), (rb, ib) = where[a], where[b]
        if ra > rb:
            (ra, ia), (rb, ib) = (rb, ib), (ra, ia)
        by_row.setdefault(ra, []).append((ia, ib))
    count = 0
    for segments in by_row.values():
        for (a1, b1), (a2, b2) in itertools.combinations(segments, 2):
            if (a1 - a2) * (b1 - b2) < 0:
                count += 1
    return count


def _width(item: object, loops: Mapping[Enum, list[str]]) -> float:
    if not isinstance(item, Enum):
        return _DUMMY_W
    width = len(item.name) * _CHAR + 24
    if item in loops:
        width += _LOOP + len(", ".join(loops[item])) * _LABEL_CHAR + 8
    return width


def layout(table: Table) -> Diagram:
    """Lay out the phases and transitions of ``table`` (phase -> call -> targets)."""
    phases = list(table)
    edges, loops = _edges(table)
    linked = {e.src for e in edges} | {e.dst for e in edges} | set(loops)
    isolated = [p for p in phases if p not in linked]
    placed = [p for p in phases if p in linked]
    rank = _ranks(placed, edges)
    rows: list[list[object]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for phase in placed:
        rows[rank[phase]].append(phase)
    # Each edge as a chain of links, through one placeholder per row skipped.
    chains: list[list[object]] = []
    for edge in edges:
        top, bottom = (edge.dst, edge.src) if edge.back else (edge.src, edge.dst)
        chain: list[object] = [top]
        for r in range(rank[top] + 1, rank[bottom]):
            dummy = object()
            rows[r].append(dummy)
            chain.append(dummy)
        chain.append(bottom)
        chains.append(chain)
    links = [(a, b) for chain in chains for a, b in itertools.pairwise(chain)]
    choices = [list(itertools.permutations(row)) for row in rows]
    tries = 1
    for options in choices:
        tries *= len(options)
    if tries <= _MAX_TRIES:
        best = min(itertools.product(*choices), key=lambda rs: _crossings(rs, links))
        rows = [list(row) for row in best]

    widths = [sum(_width(i, loops) for i in row) + _GAP * (len(row) - 1) for row in rows]
    total = max([*widths, 1.0]) + 2 * _MARGIN
    centre: dict[object, tuple[float, float]] = {}
    boxes: dict[Enum, tuple[float, float, float, float]] = {}
    for r, row in enumerate(rows):
        x = (total - widths[r]) / 2
        y = _MARGIN + r * _ROW_GAP
        for item in row:
            w = _width(item, loops)
            if isinstance(item, Enum):
                box_w = len(item.name) * _CHAR + 24
                boxes[item] = (x, y, box_w, _NODE_H)
                centre[item] = (x + box_w / 2, y + _NODE_H / 2)
            else:
                centre[item] = (x + w / 2, y + _NODE_H / 2)
            x += w + _GAP
    height = _MARGIN + len(rows) * _ROW_GAP
    if isolated:
        x = _MARGIN
        for phase in isolated:
            box_w = len(phase.name) * _CHAR + 24
            boxes[phase] = (x, height, box_w, _NODE_H)
            x += box_w + _GAP
        height += _NODE_H + _MARGIN
        total = max(total, x + 260)
    _route(edges, chains, boxes, centre)
    return Diagram(total, height, boxes, edges, loops, isolated)


def _route(
    edges: list[_Edge],
    chains: list[list[object]],
    boxes: Mapping[Enum, tuple[float, float, float, float]],
    centre: Mapping[object, tuple[float, float]],
) -> None:
    # Spread the ends over the boxes' top and bottom sides ("ports"), in the
    # order of where each edge goes next, so that edges leave side by side.
    ends: dict[tuple[Enum, str], list[tuple[float, int, int]]] = {}
    for n, chain in enumerate(chains):
        top, bottom = chain[0], chain[-1]
        assert isinstance(top, Enum) and isinstance(bottom, Enum)
        ends.setdefault((top, "bottom"), []).append((centre[chain[1]][0], edges[n].back, n))
        ends.setdefault((bottom, "top"), []).append((centre[chain[-2]][0], edges[n].back, n))
    port: dict[tuple[int, str], tuple[float, float]] = {}
    for (phase, side), users in ends.items():
        x, y, w, h = boxes[phase]
        users.sort()
        for i, (_, _, n) in enumerate(users):
            px = x + w * (i + 1) / (len(users) + 1)
            port[(n, side)] = (px, y + h if side == "bottom" else y)
    for n, chain in enumerate(chains):
        points = [port[(n, "bottom")], *(centre[d] for d in chain[1:-1]), port[(n, "top")]]
        edges[n].points = points[::-1] if edges[n].back else points


def _curve(points: Sequence[tuple[float, float]]) -> str:
    x0, y0 = points[0]
    path = [f"M{x0:.1f},{y0:.1f}"]
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        mid = (ay + by) / 2
        path.append(f"C{ax:.1f},{mid:.1f} {bx:.1f},{mid:.1f} {bx:.1f},{by:.1f}")
    return " ".join(path)


def _bezier(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    # The cubic of _curve() between a and b, at t in [0, 1].
    mid = (a[1] + b[1]) / 2
    u = 1 - t
    x = u**3 * a[0] + 3 * u * u * t * a[0] + 3 * u * t * t * b[0] + t**3 * b[0]
    y = u**3 * a[1] + 3 * u * u * t * mid + 3 * u * t * t * mid + t**3 * b[1]
    return x, y


def _samples(points: Sequence[tuple[float, float]], steps: int = 40) -> list[tuple[float, float]]:
    return [_bezier(a, b, i / steps) for a, b in itertools.pairwise(points) for i in range(steps + 1)]


def _overlap(r1: tuple[float, float, float, float], r2: tuple[float, float, float, float]) -> float:
    w = min(r1[0] + r1[2], r2[0] + r2[2]) - max(r1[0], r2[0])
    h = min(r1[1] + r1[3], r2[1] + r2[3]) - max(r1[1], r2[1])
    return w * h if w > 0 and h > 0 else 0.0


def _place_labels(diagram: Diagram) -> list[tuple[float, float, str]]:
    # Greedy: each label goes to the candidate spot beside its own edge that
    # overlaps least with boxes, labels already placed and other edges.
    taken: list[tuple[float, float, float, float]] = [*diagram.boxes.values()]
    for phase, labels in diagram.loops.items():
        x, y, w, h = diagram.boxes[phase]
        taken.append((x + w, y - 6, _LOOP + 8 + len(", ".join(labels)) * _LABEL_CHAR, h + 12))
    lines = [_samples(edge.points) for edge in diagram.edges]
    placed: list[tuple[float, float, str]] = []
    for n, edge in enumerate(diagram.edges):
        width = len(", ".join(edge.labels)) * _LABEL_CHAR
        best: tuple[float, tuple[float, float, float, float], tuple[float, float, str]] | None = None
        for a, b in itertools.pairwise(edge.points):
            for t in (0.5, 0.35, 0.65, 0.2, 0.8):
                px, py = _bezier(a, b, t)
                for anchor in ("start", "end"):
                    x = px + 6 if anchor == "start" else px - 6 - width
                    rect = (x, py - 7, width, 14)
                    cost = sum(_overlap(rect, other) for other in taken) * 4
                    cost += 60 * sum(
                        1
                        for m, line in enumerate(lines)
                        if m != n
                        for qx, qy in line
                        if x - 2 <= qx <= x + width + 2 and py - 10 <= qy <= py + 10
                    )
                    if x < 0 or x + width > diagram.width:
                        cost += 10000
                    if best is None or cost < best[0]:
                        best = (cost, rect, (px + 6 if anchor == "start" else px - 6, py, anchor))
        assert best is not None
        taken.append(best[1])
        placed.append(best[2])
    return placed


def render_svg(diagram: Diagram, docs: Mapping[Enum, str] | None = None, note: str = "") -> str:
    """The diagram as an inline SVG element; ``docs`` become hover titles."""
    docs = docs or {}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="phase-diagram" role="img" '
        f'viewBox="0 0 {diagram.width:.0f} {diagram.height:.0f}" '
        f'width="{diagram.width * _SCALE:.0f}" style="max-width:100%;height:auto" '
        f'font-family="sans-serif" font-size="{_FONT}">',
        "<title>The phases of SessionMachine and the calls that move it</title>",
        "<defs>",
        *(
            f'<marker id="phase-arrow-{n}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for n, colour in enumerate([*_COLOURS, "#444"])
        ),
        "</defs>",
    ]
    loop_arrow = len(_COLOURS)
    halo = 'stroke="white" stroke-width="4" paint-order="stroke"'
    # Each edge and its label share a colour, so a label is never read as
    # another edge's; edges that lead back up are dashed.
    for n, edge in enumerate(diagram.edges):
        colour = _COLOURS[n % len(_COLOURS)]
        dash = ' stroke-dasharray="5 3"' if edge.back else ""
        out.append(
            f'<path d="{_curve(edge.points)}" fill="none" stroke="{colour}"{dash} '
            f'stroke-width="1.4" marker-end="url(#phase-arrow-{n % len(_COLOURS)})"/>'
        )
    for n, (edge, (tx, ty, anchor)) in enumerate(zip(diagram.edges, _place_labels(diagram), strict=True)):
        out.append(
            f'<text x="{tx:.1f}" y="{ty + 4:.1f}" text-anchor="{anchor}" {halo} '
            f'fill="{_COLOURS[n % len(_COLOURS)]}">{escape(", ".join(edge.labels))}</text>'
        )
    for phase, labels in diagram.loops.items():
        x, y, w, h = diagram.boxes[phase]
        rx = x + w
        out.append(
            f'<path d="M{rx:.1f},{y + 7:.1f} C{rx + _LOOP:.1f},{y - 8:.1f} {rx + _LOOP:.1f},{y + h + 8:.1f} '
            f'{rx:.1f},{y + h - 7:.1f}" fill="none" stroke="#444" stroke-width="1.3" '
            f'marker-end="url(#phase-arrow-{loop_arrow})"/>'
        )
        out.append(
            f'<text x="{rx + _LOOP + 4:.1f}" y="{y + h / 2 + 4:.1f}" {halo} fill="#225">'
            f"{escape(', '.join(labels))}</text>"
        )
    for phase, (x, y, w, h) in diagram.boxes.items():
        lone = phase in diagram.isolated
        dash = ' stroke-dasharray="4 3"' if lone else ""
        fill = "#fbeaea" if lone else "#eef3fb"
        title = escape(docs.get(phase, ""))
        out.append(
            f"<g><title>{escape(phase.name)}: {title}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" rx="6" '
            f'fill="{fill}" stroke="#335"{dash}/>'
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle" '
            f'font-family="monospace" font-weight="bold">{escape(phase.name)}</text></g>'
        )
        if lone and note:
            out.append(
                f'<text x="{x + w + 10:.1f}" y="{y + h / 2 + 4:.1f}" fill="#733">{escape(note)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def render_text(table: Table, note: str = "") -> str:
    """The transitions as plain text, one line per (phase, call)."""
    width = max((len(p.name) for p in table), default=0)
    call_width = max((len(str(c.value)) for calls in table.values() for c in calls), default=0)
    lines = []
    for phase, calls in table.items():
        if not calls and note:
            lines.append(f"{phase.name:<{width}}  ({note})")
        for call, targets in calls.items():
            names = " | ".join(p.name for p in table if p in targets)
            lines.append(f"{phase.name:<{width}}  --{call.value:-<{call_width + 2}}>  {names}")
    return "\n".join(lines)
