"""The AIP-160 filter subset that Vertex list calls accept, parsed once and evaluated per job.

Grammar and precedence as AIP-160 writes them (keywords upper-case; note that OR binds tighter than AND, so
``a AND b OR c`` means ``a AND (b OR c)``; juxtaposition is an implicit AND)::

    expression := sequence ("AND" sequence)*
    sequence   := factor factor*
    factor     := term ("OR" term)*
    term       := ["NOT" | "-"] simple
    simple     := "(" expression ")" | field op value        op: = != < <= > >= :

Each list API documents its own fields and operators (``CUSTOM_JOB_FIELDS``, ``PIPELINE_JOB_FIELDS``, from the
``filter`` docs of ListCustomJobsRequest and ListPipelineJobsRequest); anything else is INVALID_ARGUMENT. ``:`` is
the has-operator: ``labels.k:*`` (key present), and on strings a match where ``*`` stands for any run of
characters (``display_name:"nightly-*"``). Times compare as RFC 3339 instants. Used by ``store`` (list) and
``service`` (job rules, which may use any field: ``RULE_FIELDS``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from vertex_launcher.emulator.errors import ApiError, invalid

_ALL_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_EQ = frozenset({"=", "!="})
_EQ_HAS = frozenset({"=", "!=", ":"})


@dataclass(frozen=True)
class Field:
    """One filterable field: its kind (``string``, ``state``, ``time``, ``labels``) and the operators it takes."""

    kind: str
    ops: frozenset[str]


_LABELS = Field("labels", _EQ_HAS)
_TIME = Field("time", _ALL_OPS)

#: ListCustomJobsRequest.filter: display_name (=, !=, :), state (=, !=), create_time (comparisons), labels.
CUSTOM_JOB_FIELDS: Mapping[str, Field] = {
    "display_name": Field("string", _EQ_HAS),
    "state": Field("state", _EQ),
    "create_time": _TIME,
    "labels": _LABELS,
}
#: ListPipelineJobsRequest.filter.
PIPELINE_JOB_FIELDS: Mapping[str, Field] = {
    "pipeline_name": Field("string", _EQ),
    "display_name": Field("string", _EQ_HAS),
    "pipeline_job_user_id": Field("string", _EQ_HAS),
    "state": Field("state", _EQ),
    "create_time": _TIME,
    "update_time": _TIME,
    "end_time": _TIME,
    "labels": _LABELS,
    "template_uri": Field("string", _EQ_HAS),
    "template_metadata.version": Field("string", _EQ_HAS),
}
#: What emulator job rules may match on (at creation): everything either API knows, plus the name.
RULE_FIELDS: Mapping[str, Field] = {
    **CUSTOM_JOB_FIELDS,
    **PIPELINE_JOB_FIELDS,
    "name": Field("string", _EQ_HAS),
    "start_time": _TIME,
}

_OPS = ("<=", ">=", "!=", "=", "<", ">", ":")
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.(\"[^\"]*\"|[A-Za-z0-9_\-./]+))?")
_BARE_VALUE_RE = re.compile(r"[^\s()\"'=<>!]+")


@dataclass(frozen=True)
class JobView:
    """What a filter can see of a job: labels, state, string fields by filter name, and times."""

    labels: dict[str, str]
    state: str
    display_name: str
    name: str
    times: dict[str, datetime | None] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)

    def string(self, name: str) -> str:
        """The value of a string field (``display_name``, ``name``, ``pipeline_name``, ...)."""
        if name == "display_name":
            return self.display_name
        if name == "name":
            return self.name
        return self.strings.get(name, "")


Predicate = Callable[[JobView], bool]


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or offset) as an aware datetime; ValueError if it is not one."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        msg = f"timestamp {text!r} has no time zone"
        raise ValueError(msg)
    return value


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)))


def _all(terms: list[Predicate]) -> Predicate:
    return terms[0] if len(terms) == 1 else (lambda job: all(term(job) for term in terms))


class _Parser:
    def __init__(self, text: str, states: frozenset[str], fields: Mapping[str, Field]) -> None:
        self.text = text
        self.pos = 0
        self.states = states
        self.fields = fields

    def fail(self, what: str) -> ApiError:
        return invalid(f'Unsupported filter "{self.text}": {what} at position {self.pos}.')

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def keyword(self, word: str, *, consume: bool = True) -> bool:
        self.skip_ws()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (end >= len(self.text) or self.text[end] in " \t\n()"):
            if consume:
                self.pos = end
            return True
        return False

    def peek(self, char: str) -> bool:
        self.skip_ws()
        return self.text.startswith(char, self.pos)

    def expression(self) -> Predicate:
        sequences = [self.sequence()]
        while self.keyword("AND"):
            sequences.append(self.sequence())
        return _all(sequences)

    def sequence(self) -> Predicate:
        factors = [self.factor()]
        while not self.at_end() and not self.peek(")") and not self.keyword("AND", consume=False):
            factors.append(self.factor())
        return _all(factors)

    def factor(self) -> Predicate:
        terms = [self.term()]
        while self.keyword("OR"):
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]
        return lambda job: any(term(job) for term in terms)

    def term(self) -> Predicate:
        if self.keyword("NOT") or self._minus():
            inner = self.simple()
            return lambda job: not inner(job)
        return self.simple()

    def _minus(self) -> bool:
        self.skip_ws()
        if self.text.startswith("-", self.pos):
            self.pos += 1
            return True
        return False

    def simple(self) -> Predicate:
        if self.peek("("):
            self.pos += 1
            inner = self.expression()
            if not self.peek(")"):
                raise self.fail("expected ')'")
            self.pos += 1
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        self.skip_ws()
        if self.keyword("AND", consume=False) or self.keyword("OR", consume=False) or self.at_end():
            raise self.fail("expected a field name")
        match = _FIELD_RE.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a field name")
        name = match.group(0)
        self.pos = match.end()
        self.skip_ws()
        op = next((candidate for candidate in _OPS if self.text.startswith(candidate, self.pos)), None)
        if op is None:
            msg = f"expected an operator after {name!r}"
            raise self.fail(msg)
        self.pos += len(op)
        value, quoted = self.value()
        return self.build(name, op, value, quoted=quoted)

    def value(self) -> tuple[str, bool]:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            quote = self.text[self.pos]
            out: list[str] = []
            i = self.pos + 1
            while i < len(self.text) and self.text[i] != quote:
                if self.text[i] == "\\" and i + 1 < len(self.text):
                    i += 1
                out.append(self.text[i])
                i += 1
            if i >= len(self.text):
                raise self.fail("unterminated string")
            self.pos = i + 1
            return "".join(out), True
        match = _BARE_VALUE_RE.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a value")
        self.pos = match.end()
        return match.group(0), False

    def build(self, name: str, op: str, value: str, *, quoted: bool) -> Predicate:
        key = "labels" if name.startswith("labels.") else name
        spec = self.fields.get(key)
        if spec is None:
            msg = f"unsupported field {name!r} (this list takes: {', '.join(sorted(self.fields))})"
            raise self.fail(msg)
        if op not in spec.ops:
            msg = f"operator {op!r} is not supported on {key}"
            raise self.fail(msg)
        if spec.kind == "labels":
            return self.label(name[len("labels.") :].strip('"'), op, value, quoted=quoted)
        if spec.kind == "time":
            return self.time(name, op, value)
        if spec.kind == "state" and value not in self.states:
            msg = f"unknown state {value!r}"
            raise self.fail(msg)
        return self.string(name, op, value)

    def label(self, key: str, op: str, value: str, *, quoted: bool) -> Predicate:
        if not key:
            raise self.fail("expected a label key after 'labels.'")
        if op == ":" and value == "*" and not quoted:
            return lambda job: key in job.labels
        if op in ("=", ":"):
            return lambda job: job.labels.get(key) == value
        return lambda job: job.labels.get(key) != value

    def string(self, name: str, op: str, value: str) -> Predicate:
        def get(job: JobView) -> str:
            return job.state if name == "state" else job.string(name)

        if op == ":":
            pattern = _wildcard(value)
            return lambda job: pattern.fullmatch(get(job)) is not None
        if op == "=":
            return lambda job: get(job) == value
        return lambda job: get(job) != value

    def time(self, name: str, op: str, value: str) -> Predicate:
        try:
            bound = parse_time(value)
        except ValueError as exc:
            msg = f"{value!r} is not an RFC 3339 timestamp"
            raise self.fail(msg) from exc
        compare: dict[str, Callable[[datetime], bool]] = {
            "=": lambda t: t == bound,
            "!=": lambda t: t != bound,
            "<": lambda t: t < bound,
            "<=": lambda t: t <= bound,
            ">": lambda t: t > bound,
            ">=": lambda t: t >= bound,
        }
        check = compare[op]

        def predicate(job: JobView) -> bool:
            moment = job.times.get(name)
            return moment is not None and check(moment)

        return predicate


def parse(text: str, *, states: frozenset[str], fields: Mapping[str, Field] = RULE_FIELDS) -> Predicate:
    """Compile a filter over ``fields``; ``states`` are the state names valid for this resource.

    An empty filter matches everything.
    """
    if not text.strip():
        return lambda job: True
    parser = _Parser(text, states, fields)
    predicate = parser.expression()
    if not parser.at_end():
        raise parser.fail("unexpected text")
    return predicate
