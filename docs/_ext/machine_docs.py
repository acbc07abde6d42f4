# A Sphinx extension that writes the state machine page from the code.
#
# The phase diagram, the (phase, call) table and the decision tables are
# generated at build time from sansio_session._state.TRANSITIONS and the
# pure functions of sansio_session._rules, so the page cannot drift from the
# machine. Directives:
#
#   .. phase-diagram:: sansio_session._state.TRANSITIONS
#   .. phase-table:: sansio_session._state.TRANSITIONS
#   .. phase-glossary:: sansio_session._state
#   .. decision-rules:: sansio_session._rules
#
#      extra_fact
#         What it means (for parameters the module's own comment does not
#         describe). A parameter described nowhere is a build warning.
from __future__ import annotations

import importlib
import inspect
import itertools
import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList

# conf.py puts this folder on sys.path.
from phase_diagram import layout, render_svg, render_text
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import ExtensionMetadata

logger = logging.getLogger(__name__)

#: What a phase with no legal call means (Rule 1 of _state.py).
ERROR_NOTE = "every call the table does not list leads here"

# Values to try for parameters that are not plain booleans. Only
# is_secure_request() has one; a new one without an entry here is a warning.
_SAMPLES: dict[str, tuple[object, ...]] = {
    "forwarded_proto": (None, "https", "http", "HTTPS, http", "http, https"),
}
_ANY = object()


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _attr_docs(module: str) -> dict[tuple[str, str], str]:
    analyzer = ModuleAnalyzer.for_module(module)
    return {
        key: " ".join(line.strip() for line in lines).strip()
        for key, lines in analyzer.find_attr_docs().items()
    }


def _para(text: str) -> nodes.paragraph:
    # Source comments quote names in `single backquotes`: show them as code.
    para = nodes.paragraph()
    for i, part in enumerate(text.split("`")):
        if part:
            para += nodes.literal("", part) if i % 2 else nodes.Text(part)
    return para


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[nodes.Node]], classes: Sequence[str] = ()
) -> nodes.table:
    table = nodes.table(classes=["machine-table", *classes])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for _ in headers:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    head_row = nodes.row()
    for header in headers:
        head_row += nodes.entry("", nodes.paragraph("", "", nodes.literal("", header)))
    head += head_row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", cell)
        body += row
    return table


class _FromCodeDirective(SphinxDirective):
    required_arguments = 1

    def _note_module(self, name: str) -> None:
        # Rebuild the page when the module it is generated from changes.
        module = importlib.import_module(name)
        if module.__file__:
            self.env.note_dependency(module.__file__)


class PhaseDiagram(_FromCodeDirective):
    """An inline SVG of the transition table (plain text for non-HTML builders)."""

    def run(self) -> list[nodes.Node]:
        table = _resolve(self.arguments[0])
        self._note_module(self.arguments[0].rpartition(".")[0])
        phases = list(table)
        docs = _attr_docs(type(phases[0]).__module__)
        titles = {p: docs.get((type(p).__name__, p.name), "") for p in phases}
        html = addnodes.only(expr="html")
        svg = render_svg(layout(table), titles, note=ERROR_NOTE)
        html += nodes.raw("", f'<div class="phase-diagram">{svg}</div>', format="html")
        other = addnodes.only(expr="not html")
        text = render_text(table, note=ERROR_NOTE)
        other += nodes.literal_block(text, text)
        return [html, other]


class PhaseTable(_FromCodeDirective):
    """The (phase, call) table: each cell lists the phases the call may lead to."""

    def run(self) -> list[nodes.Node]:
        table = _resolve(self.arguments[0])
        self._note_module(self.arguments[0].rpartition(".")[0])
        calls: list[Enum] = []
        for row in table.values():
            for call in row:
                if call not in calls:
                    calls.append(call)
        call_type = type(calls[0])
        calls.sort(key=list(call_type).index)
        phases = list(table)
        rows = []
        for phase in phases:
            cells: list[nodes.Node] = [nodes.paragraph("", "", nodes.strong("", phase.name))]
            for call in calls:
                targets = table[phase].get(call)
                para = nodes.paragraph()
                if targets:
                    names = [p.name for p in phases if p in targets]
                    for i, name in enumerate(names):
                        if i:
                            para += nodes.Text(" or ")
                        para += nodes.literal("", name)
                cells.append(para)
            rows.append(cells)
        return [_table(["phase", *(f"{c.value}" for c in calls)], rows, ["phase-table"])]


class PhaseGlossary(_FromCodeDirective):
    """The phases and calls with their ``#:`` comments from the module."""

    def run(self) -> list[nodes.Node]:
        module = importlib.import_module(self.arguments[0])
        self._note_module(self.arguments[0])
        docs = _attr_docs(self.arguments[0])
        machine = importlib.import_module("sansio_session").SessionMachine
        result: list[nodes.Node] = []
        for enum_name in ("Phase", "Call"):
            enum_type = getattr(module, enum_name)
            items = nodes.definition_list()
            for member in enum_type:
                term = nodes.term("", "", nodes.literal("", f"{enum_name}.{member.name}"))
                doc = docs.get((enum_name, member.name))
                if doc is None and hasattr(machine, str(member.value)):
                    doc = f"SessionMachine.{member.value}()."
                if doc is None:
                    logger.warning(
                        "%s.%s has no #: comment to show",
                        enum_name,
                        member.name,
                        location=self.get_location(),
                    )
                    doc = ""
                items += nodes.definition_list_item("", term, nodes.definition("", _para(doc)))
            result.append(nodes.rubric("", f"{enum_name} members"))
            result.append(items)
        return result


def _facts_from_comment(source: str) -> dict[str, str]:
    # The leading comment block of _rules.py has a glossary:
    #   # The facts, for the session the request ends with:
    #   #   name            description
    #   #                   continued
    facts: dict[str, str] = {}
    inside = False
    last: str | None = None
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        if "The facts" in line:
            inside = True
            continue
        if not inside:
            continue
        term = re.match(r"#   (\w+)\s{2,}(.+)", line)
        more = re.match(r"#\s{8,}(\S.*)", line)
        if term:
            last = term.group(1)
            facts[last] = term.group(2).strip()
        elif more and last is not None:
            facts[last] += " " + more.group(1).strip()
    return facts


def _domain(param: inspect.Parameter) -> tuple[object, ...] | None:
    if param.name in _SAMPLES:
        return _SAMPLES[param.name]
    annotation = str(param.annotation).replace(" ", "")
    if annotation == "bool":
        return (True, False)
    if annotation in ("bool|None", "None|bool", "Optional[bool]"):
        return (True, False, None)
    return None


def decision_rows(
    function: Callable[..., object], domains: Sequence[tuple[object, ...]], names: Sequence[str]
) -> list[tuple[tuple[object, ...], object]]:
    """Rows (values or _ANY per parameter, result) that cover every input once.

    Greedy: the widest constant sub-table first (the most "any" columns),
    never overlapping a row already taken, until every input is covered.
    """
    points = list(itertools.product(*domains))
    result = {point: function(**dict(zip(names, point, strict=True))) for point in points}

    def members(cube: tuple[object, ...]) -> set[tuple[object, ...]]:
        return set(itertools.product(*[d if v is _ANY else (v,) for v, d in zip(cube, domains, strict=True)]))

    candidates = []
    for cube in itertools.product(*[(*d, _ANY) for d in domains]):
        inside = members(cube)
        outcomes = {result[p] for p in inside}
        if len(outcomes) == 1:
            candidates.append((cube, outcomes.pop(), inside))
    candidates.sort(key=lambda c: -sum(v is _ANY for v in c[0]))
    covered: set[tuple[object, ...]] = set()
    rows = []
    for cube, outcome, inside in candidates:
        if inside & covered:
            continue
        covered |= inside
        rows.append((cube, outcome))
        if len(covered) == len(points):
            break

    def order(value: object) -> int:
        return 0 if value is True else 1 if value is False else 3 if value is _ANY else 2

    rows.sort(key=lambda row: [order(v) for v in row[0]])
    return rows


def _cell(value: object) -> nodes.Node:
    if value is _ANY:
        return nodes.paragraph("", "", nodes.emphasis("", "any"))
    if value is True:
        return _para("yes")
    if value is False:
        return _para("no")
    return nodes.paragraph("", "", nodes.literal("", repr(value)))


def _result(outcome: object) -> nodes.Node:
    text = "yes" if outcome is True else "no" if outcome is False else repr(outcome)
    return nodes.paragraph("", "", nodes.strong("", text))


class DecisionRules(_FromCodeDirective):
    """Each public function of a rules module with its decision table."""

    has_content = True

    def _extra_facts(self) -> set[str]:
        terms = (line.strip().strip("`") for line in self.content if line.strip() and not line[0].isspace())
        return set(terms)

    def run(self) -> list[nodes.Node]:
        module = importlib.import_module(self.arguments[0])
        self._note_module(self.arguments[0])
        source = inspect.getsource(module)
        facts = _facts_from_comment(source)
        if not facts:
            logger.warning("no 'The facts' glossary in %s", self.arguments[0], location=self.get_location())
        options = importlib.import_module("sansio_session").SessionOptions
        option_names = set(options.__dataclass_fields__)
        extra = self._extra_facts()

        result: list[nodes.Node] = []
        glossary = nodes.definition_list()
        for name, text in facts.items():
            term = nodes.term("", "", nodes.literal("", name))
            glossary += nodes.definition_list_item("", term, nodes.definition("", _para(text)))
        result.append(glossary)
        if self.content:
            container = nodes.container()
            self.state.nested_parse(self.content, self.content_offset, container)
            result.extend(container.children)

        for function_name in module.__all__:
            function = getattr(module, function_name)
            signature = inspect.signature(function)
            params = list(signature.parameters.values())
            doc = inspect.getdoc(function) or ""
            names = [p.name for p in params]
            domains = []
            for param in params:
                described = (
                    param.name in facts
                    or param.name in extra
                    or param.name in option_names
                    or param.name in doc
                )
                if not described:
                    logger.warning(
                        "%s(): parameter %r is described nowhere",
                        function_name,
                        param.name,
                        location=self.get_location(),
                    )
                domain = _domain(param)
                if domain is None:
                    logger.warning(
                        "%s(): no values to try for %r (%s)",
                        function_name,
                        param.name,
                        param.annotation,
                        location=self.get_location(),
                    )
                    domain = (None,)
                domains.append(domain)
            heading = nodes.rubric("", "", nodes.literal("", f"{function_name}({', '.join(names)})"))
            heading["ids"].append(nodes.make_id(f"rule-{function_name}"))
            result.append(heading)
            if doc:
                container = nodes.container()
                self.state.nested_parse(
                    StringList(doc.splitlines(), f"{module.__name__}.{function_name}"), 0, container
                )
                result.extend(container.children)
            rows = decision_rows(function, domains, names)
            body = [[*(_cell(v) for v in cube), _result(outcome)] for cube, outcome in rows]
            result.append(_table([*names, "result"], body, ["decision-table"]))
            shown = ", ".join(
                f"{n} in ({', '.join(repr(v) for v in d)})"
                for n, d in zip(names, domains, strict=True)
                if n in _SAMPLES
            )
            if shown:
                result.append(_para(f"Values tried: {shown}."))
        return result


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_directive("phase-diagram", PhaseDiagram)
    app.add_directive("phase-table", PhaseTable)
    app.add_directive("phase-glossary", PhaseGlossary)
    app.add_directive("decision-rules", DecisionRules)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
