"""The AIP-160 filter subset that Vertex list calls accept, parsed once and evaluated per job.

Grammar (keywords upper-case, as AIP-160 says)::

    expr       := and_expr ("OR" and_expr)*
    and_expr   := unary (["AND"] unary)*
    unary      := ("NOT" | "-") unary | "(" expr ")" | comparison
    comparison := field op value      op: = != < <= > >= :
    field      := labels.KEY | state | display_name | name | create_time | start_time | end_time | update_time

Values are quoted strings, ``*`` (presence, with ``:``) or bare words. Times compare as RFC 3339 instants.
``parse`` raises ``ApiError(INVALID_ARGUMENT)`` on anything else. Used by ``store`` (list) and ``config`` (rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from vertex_launcher.emulator.errors import ApiError, invalid

TIME_FIELDS = frozenset({"create_time", "start_time", "end_time", "update_time"})
STRING_FIELDS = frozenset({"display_name", "name", "state"})
_OPS = ("<=", ">=", "!=", "=", "<", ">", ":")
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.(\"[^\"]*\"|[A-Za-z0-9_\-./]+))?")
_BARE_VALUE_RE = re.compile(r"[^\s()\"'=<>!]+")


@dataclass(frozen=True)
class JobView:
    """What a filter can see of a job."""

    labels: dict[str, str]
    state: str
    display_name: str
    name: str
    times: dict[str, datetime | None] = field(default_factory=dict)


Predicate = Callable[[JobView], bool]


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or offset) as an aware datetime; ValueError if it is not one."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        msg = f"timestamp {text!r} has no time zone"
        raise ValueError(msg)
    return value


class _Parser:
    def __init__(self, text: str, states: frozenset[str]) -> None:
        self.text = text
        self.pos = 0
        self.states = states

    def fail(self, what: str) -> ApiError:
        return invalid(f'Unsupported filter "{self.text}": {what} at position {self.pos}.')

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def keyword(self, word: str) -> bool:
        self.skip_ws()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (end >= len(self.text) or self.text[end] in " \t\n()"):
            self.pos = end
            return True
        return False

    def peek(self, char: str) -> bool:
        self.skip_ws()
        return self.text.startswith(char, self.pos)

    def expr(self) -> Predicate:
        terms = [self.and_expr()]
        while self.keyword("OR"):
            terms.append(self.and_expr())
        if len(terms) == 1:
            return terms[0]
        return lambda job: any(term(job) for term in terms)

    def and_expr(self) -> Predicate:
        terms = [self.unary()]
        while True:
            if self.keyword("AND") or (not self.at_end() and not self.peek(")") and not self._at_or()):
                terms.append(self.unary())
            else:
                break
        if len(terms) == 1:
            return terms[0]
        return lambda job: all(term(job) for term in terms)

    def _at_or(self) -> bool:
        saved = self.pos
        found = self.keyword("OR")
        self.pos = saved
        return found

    def unary(self) -> Predicate:
        if self.keyword("NOT") or self._minus():
            inner = self.unary()
            return lambda job: not inner(job)
        if self.peek("("):
            self.pos += 1
            inner = self.expr()
            if not self.peek(")"):
                raise self.fail("expected ')'")
            self.pos += 1
            return inner
        return self.comparison()

    def _minus(self) -> bool:
        self.skip_ws()
        if self.text.startswith("-", self.pos):
            self.pos += 1
            return True
        return False

    def comparison(self) -> Predicate:
        self.skip_ws()
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
        if name.startswith("labels."):
            return self.label(name[len("labels.") :].strip('"'), op, value, quoted=quoted)
        if name in TIME_FIELDS:
            return self.time(name, op, value)
        if name in STRING_FIELDS:
            return self.string(name, op, value)
        msg = f"unsupported field {name!r}"
        raise self.fail(msg)

    def label(self, key: str, op: str, value: str, *, quoted: bool) -> Predicate:
        if op == ":" and value == "*" and not quoted:
            return lambda job: key in job.labels
        if op in ("=", ":"):
            return lambda job: job.labels.get(key) == value
        if op == "!=":
            return lambda job: job.labels.get(key) != value
        msg = f"operator {op!r} is not supported on labels"
        raise self.fail(msg)

    def string(self, name: str, op: str, value: str) -> Predicate:
        if name == "state" and value not in self.states:
            msg = f"unknown state {value!r}"
            raise self.fail(msg)

        def get(job: JobView) -> str:
            return str(getattr(job, name))

        if op in ("=", ":"):
            return lambda job: get(job) == value
        if op == "!=":
            return lambda job: get(job) != value
        msg = f"operator {op!r} is not supported on {name}"
        raise self.fail(msg)

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
        if op not in compare:
            msg = f"operator {op!r} is not supported on {name}"
            raise self.fail(msg)
        check = compare[op]

        def predicate(job: JobView) -> bool:
            moment = job.times.get(name)
            return moment is not None and check(moment)

        return predicate


def parse(text: str, *, states: frozenset[str]) -> Predicate:
    """Compile a filter; ``states`` are the state names valid for this resource. Empty matches everything."""
    if not text.strip():
        return lambda job: True
    parser = _Parser(text, states)
    predicate = parser.expr()
    if not parser.at_end():
        raise parser.fail("unexpected text")
    return predicate
