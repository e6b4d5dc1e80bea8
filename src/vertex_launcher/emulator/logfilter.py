"""The subset of the Cloud Logging query language that ``entries.list``/``entries.tail`` callers send us.

Grammar (what the launcher, gcloud ``logging read``/``ai custom-jobs stream-logs`` and google-cloud-logging send)::

    expr       := and_expr ("OR" and_expr)*
    and_expr   := unary (["AND"] unary)*          (a line break or blank is an implicit AND)
    unary      := ("NOT" | "-") unary | "(" expr ")" | comparison
    comparison := field op value                  op: = != < <= > >= :
    field      := timestamp | receiveTimestamp | insertId | logName | severity | textPayload
                | resource.type | resource.labels.KEY | labels.KEY | labels."KEY/WITH/SLASHES" | jsonPayload.KEY

Times compare as instants, ``severity`` by level (``severity>=WARNING``), ``:`` is a case-insensitive substring
match, everything else compares text. ``parse`` returns a ``Node`` (``matches(entry)``) whose ``time_bounds`` and
``job_ids`` let ``joblogs`` generate only the entries a query can match. Bad filters raise INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vertex_launcher.emulator.errors import invalid
from vertex_launcher.emulator.filters import parse_time

SEVERITY_LEVELS: dict[str, int] = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}
TIME_FIELDS = frozenset({"timestamp", "receiveTimestamp"})
_OPS = ("<=", ">=", "!=", "=", "<", ">", ":")
_FIELD_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(\.("[^"]*"|[A-Za-z0-9_\-/]+))*')
_BARE_RE = re.compile(r"[^\s()\"]+")
_JOB_ID_FIELDS = ("resource.labels.job_id", "resource.labels.pipeline_job_id")

#: A field of an entry as a filter sees it: text, an epoch microsecond (times) or a level (severity).
Getter = Callable[[str], str | int | None]


class Node:
    """A parsed filter (sub)expression."""

    def matches(self, get: Getter) -> bool:
        """Whether an entry (seen through ``get(field)``) matches."""
        raise NotImplementedError

    def time_bounds(self) -> tuple[int | None, int | None]:
        """(lowest, highest) ``timestamp`` in microseconds a matching entry can have; None: unbounded."""
        return None, None

    def job_ids(self) -> frozenset[str] | None:
        """The job ids (``resource.labels.job_id``/``pipeline_job_id``) a matching entry must have; None: any."""
        return None


@dataclass(frozen=True)
class _All(Node):
    def matches(self, get: Getter) -> bool:
        return True


@dataclass(frozen=True)
class _And(Node):
    terms: tuple[Node, ...]

    def matches(self, get: Getter) -> bool:
        return all(term.matches(get) for term in self.terms)

    def time_bounds(self) -> tuple[int | None, int | None]:
        lows, highs = zip(*(term.time_bounds() for term in self.terms), strict=True)
        low = max((v for v in lows if v is not None), default=None)
        high = min((v for v in highs if v is not None), default=None)
        return low, high

    def job_ids(self) -> frozenset[str] | None:
        known = [ids for ids in (term.job_ids() for term in self.terms) if ids is not None]
        return min(known, key=len) if known else None


@dataclass(frozen=True)
class _Or(Node):
    terms: tuple[Node, ...]

    def matches(self, get: Getter) -> bool:
        return any(term.matches(get) for term in self.terms)

    def time_bounds(self) -> tuple[int | None, int | None]:
        lows, highs = zip(*(term.time_bounds() for term in self.terms), strict=True)
        low = None if None in lows else min(v for v in lows if v is not None)
        high = None if None in highs else max(v for v in highs if v is not None)
        return low, high

    def job_ids(self) -> frozenset[str] | None:
        sets = [term.job_ids() for term in self.terms]
        if any(ids is None for ids in sets):
            return None
        return frozenset().union(*(ids for ids in sets if ids is not None))


@dataclass(frozen=True)
class _Not(Node):
    inner: Node

    def matches(self, get: Getter) -> bool:
        return not self.inner.matches(get)


@dataclass(frozen=True)
class _Compare(Node):
    field: str
    op: str
    value: str | int

    def matches(self, get: Getter) -> bool:
        actual = get(self.field)
        if self.op == "!=":
            return actual != self.value
        if actual is None:
            return False
        if self.op == ":":
            return str(self.value).lower() in str(actual).lower()
        if isinstance(self.value, int) != isinstance(actual, int):
            return False
        compare: dict[str, Callable[[object, object], bool]] = {
            "=": lambda a, b: a == b,
            "<": lambda a, b: a < b,  # type: ignore[operator]
            "<=": lambda a, b: a <= b,  # type: ignore[operator]
            ">": lambda a, b: a > b,  # type: ignore[operator]
            ">=": lambda a, b: a >= b,  # type: ignore[operator]
        }
        return compare[self.op](actual, self.value)

    def time_bounds(self) -> tuple[int | None, int | None]:
        if self.field != "timestamp" or not isinstance(self.value, int):
            return None, None
        low = self.value if self.op in (">", ">=", "=") else None
        high = self.value if self.op in ("<", "<=", "=") else None
        return low, high

    def job_ids(self) -> frozenset[str] | None:
        if self.field in _JOB_ID_FIELDS and self.op == "=":
            return frozenset({str(self.value)})
        return None


def to_micros(text: str) -> int:
    """An RFC 3339 timestamp as epoch microseconds (ValueError if it is not one)."""
    moment = parse_time(text)
    return round(moment.timestamp() * 1_000_000)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> Exception:
        return invalid(f"Unparseable filter: {what} at position {self.pos} in {self.text!r}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def keyword(self, word: str) -> bool:
        self.skip_ws()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (end >= len(self.text) or self.text[end] in " \t\r\n()"):
            self.pos = end
            return True
        return False

    def peek(self, char: str) -> bool:
        self.skip_ws()
        return self.text.startswith(char, self.pos)

    def expr(self) -> Node:
        terms = [self.and_expr()]
        while self.keyword("OR"):
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else _Or(tuple(terms))

    def and_expr(self) -> Node:
        terms = [self.unary()]
        while True:
            saved = self.pos
            if self.keyword("OR"):
                self.pos = saved
                break
            if self.keyword("AND") or (not self.at_end() and not self.peek(")")):
                terms.append(self.unary())
            else:
                break
        return terms[0] if len(terms) == 1 else _And(tuple(terms))

    def unary(self) -> Node:
        if self.keyword("NOT"):
            return _Not(self.unary())
        if self.peek("-"):
            self.pos += 1
            return _Not(self.unary())
        if self.peek("("):
            self.pos += 1
            inner = self.expr()
            if not self.peek(")"):
                raise self.fail("expected ')'")
            self.pos += 1
            return inner
        return self.comparison()

    def comparison(self) -> Node:
        self.skip_ws()
        match = _FIELD_RE.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a field name")
        name = match.group(0).replace('"', "")
        self.pos = match.end()
        self.skip_ws()
        op = next((candidate for candidate in _OPS if self.text.startswith(candidate, self.pos)), None)
        if op is None:
            msg = f"expected a comparison after {name!r} (free-text search is not supported here)"
            raise self.fail(msg)
        self.pos += len(op)
        return self.build(name, op, self.value())

    def value(self) -> str:
        self.skip_ws()
        if self.peek('"'):
            out: list[str] = []
            i = self.pos + 1
            while i < len(self.text) and self.text[i] != '"':
                if self.text[i] == "\\" and i + 1 < len(self.text):
                    i += 1
                out.append(self.text[i])
                i += 1
            if i >= len(self.text):
                raise self.fail("unterminated string")
            self.pos = i + 1
            return "".join(out)
        match = _BARE_RE.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a value")
        self.pos = match.end()
        return match.group(0)

    def build(self, name: str, op: str, value: str) -> Node:
        known = name in ("insertId", "logName", "textPayload", "resource.type", "severity", *TIME_FIELDS)
        if not known and not name.startswith(("resource.labels.", "labels.", "jsonPayload.")):
            msg = f"unknown field {name!r}"
            raise self.fail(msg)
        if name in TIME_FIELDS and op != ":":
            try:
                return _Compare(name, op, to_micros(value))
            except ValueError:
                msg = f"{value!r} is not an RFC 3339 timestamp"
                raise self.fail(msg) from None
        if name == "severity" and op != ":":
            level = SEVERITY_LEVELS.get(value.upper())
            if level is None:
                msg = f"unknown severity {value!r}"
                raise self.fail(msg)
            return _Compare(name, op, level)
        return _Compare(name, op, value)


def parse(text: str) -> Node:
    """Compile a Logging filter; an empty filter matches every entry."""
    if not text.strip():
        return _All()
    parser = _Parser(text)
    node = parser.expr()
    if not parser.at_end():
        raise parser.fail("unexpected text")
    return node
