"""The query language: what a musician types -> which sounds to keep, which to leave out, or "the rest".

One parser for every entry point (the Python API, ``plugin.render -q``, the host's query field, the
streaming effect, Ray), so the same words mean the same sound everywhere::

    parse("bass guitar")                   # terms=("bass guitar",)
    parse("bass and drums")                # a union: terms=("bass", "drums")  (also "bass, drums", "bass + drums")
    parse("guitar, not the drums")         # terms=("guitar",), negatives=("the drums",)
    parse("everything but the drums")      # rest=True, negatives=("the drums",): the input minus the drums
    parse("no vocals")                     # the same as "everything but vocals" ("all except vocals", "not vocals")
    parse('"guitar not bass"')             # quoted: one literal description

Exclusions start with ``not``, ``but not``, ``without``, ``except (for)``, ``excluding``, ``minus``,
``apart from``, ``other than`` or, at the start or after a comma, ``no``; ``but`` alone after a word
for everything ("everything but", "all but"). Several terms or exclusions are separated by commas,
``and``, ``plus``, ``+``, ``&`` (exclusions also by ``or`` and ``nor``). A query that only says what to
leave out means the rest of the input. "everything", "all", "the rest", "backing track",
"accompaniment" stand for that rest, so they need something to leave out.

A query that cannot be honoured raises :class:`~plugin.errors.QueryError` before anything is
separated, with a message that says what to type instead. How a :class:`Query` becomes audio is
:mod:`plugin.compound`'s concern.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Tuple

from .errors import QueryError
from .text import clean_query

_MARKER = r"(?:but\s+not|not|without|except\s+for|except|excluding|minus|apart\s+from|other\s+than)"
_REST = (r"(?:the\s+)?(?:everything(?:\s+else)?|all(?:\s+else)?|anything(?:\s+else)?|rest(?:\s+of\s+(?:the\s+)?"
         r"(?:mix|song|track))?|remainder|others|other\s+instruments|backing(?:\s+track)?|accompaniment|"
         r"instrumental\s+backing)|all\s+the\s+others|all\s+the\s+rest")
_REST_TERM = re.compile(rf"^{_REST}$", re.IGNORECASE)
# the first exclusion: a marker after a space or a comma, "no" at the start or after a comma, "but" after a rest word
_FIRST = re.compile(rf"(?:^|\s*[,;]\s*|\s+){_MARKER}\s+|(?:^|\s*[,;]\s*)no\s+|\s+-\s+|(?<=\w)\s+but\s+(?=\S)",
                    re.IGNORECASE)
_TERMS = re.compile(r"\s*[,;+&]\s*(?:and\s+)?|\s+(?:and|plus)\s+", re.IGNORECASE)
_MORE = re.compile(rf"\s*[,;+&]\s*(?:(?:{_MARKER}|no|nor|or|and)\s+)?|\s+(?:and|plus|nor|or|{_MARKER})\s+|\s+-\s+",
                   re.IGNORECASE)
_LEADING = re.compile(rf"^(?:{_MARKER}|no|nor|and|or)\s+", re.IGNORECASE)
_TRAILING = re.compile(rf"(?:^|[,;+&]\s*|\s)(?:{_MARKER}|no|nor|but|and|or|plus|-)$|[+&]$", re.IGNORECASE)


@dataclass(frozen=True)
class Query:
    """A parsed query: the union of ``terms`` without ``negatives``; with ``rest``, the input minus the
    negatives. ``text`` is what was typed (whitespace cleaned)."""

    terms: Tuple[str, ...]
    negatives: Tuple[str, ...] = ()
    rest: bool = False
    literal: bool = False
    text: str = ""

    @property
    def plain(self) -> bool:
        """One description, nothing left out: exactly ``Separator.separate``'s query."""
        return len(self.terms) == 1 and not self.negatives and not self.rest

    @property
    def texts(self) -> List[str]:
        """The descriptions the model separates (terms, then negatives), each once."""
        return list(dict.fromkeys(self.terms + self.negatives))

    @property
    def normalised(self) -> str:
        """The canonical wording, which parses back to the same query and names output files:
        ``bass and drums``, ``guitar, not the drums``, ``everything but drums and bass``."""
        if self.literal:
            return f'"{self.terms[0]}"'
        if self.rest:
            return "everything but " + " and ".join(self.negatives)
        return " and ".join(self.terms) + "".join(f", not {n}" for n in self.negatives)

    def describe(self) -> str:
        """A short sentence of what the query keeps, for messages."""
        if self.rest:
            return "everything except " + _listing(self.negatives)
        kept = _listing(self.terms)
        return kept + (f", leaving out {_listing(self.negatives)}" if self.negatives else "")


def _listing(items) -> str:
    items = [f"“{i}”" for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _unique(parts) -> Tuple[str, ...]:
    seen, out = set(), []
    for p in parts:
        p = p.strip(" ,;+&")
        if p and p.lower() not in seen:
            seen.add(p.lower())
            out.append(p)
    return tuple(out)


def _split_terms(positive: str) -> Tuple[str, ...]:
    return _unique(_LEADING.sub("", t.strip(" ,;+&")) for t in _TERMS.split(positive))


def _split_negatives(part: str) -> Tuple[str, ...]:
    out = []
    for p in _MORE.split(part):
        p = p.strip(" ,;+&")
        while _LEADING.match(p):
            p = _LEADING.sub("", p).strip(" ,;+&")
        out.append(p)
    return _unique(out)


def _is_rest(term: str) -> bool:
    return bool(_REST_TERM.match(term))


def _first_exclusion(q: str):
    """The match of the first exclusion marker; "but" counts only after a word for everything."""
    for m in _FIRST.finditer(q):
        if m.group(0).strip().lower() != "but" or _is_rest(q[: m.start()].strip(" ,;")):
            return m
    return None


def parse(query) -> Query:
    """The :class:`Query` of a text, or QueryError saying why it cannot be honoured and what to type."""
    q = clean_query(query).rstrip(" ,;") or clean_query(query)
    if len(q) >= 2 and q[0] == q[-1] == '"':
        inner = q[1:-1].strip()
        if not inner:
            raise QueryError('the quotes hold nothing: put the description inside them, e.g. "drum and bass"')
        return Query((inner,), literal=True, text=q)
    if _TRAILING.search(q):
        raise QueryError(f"“{q}” ends with “{q.split()[-1]}” but names nothing after it; finish it, e.g. "
                         "“guitar, not the drums” or “bass and drums”")
    m = _first_exclusion(q)
    positive, negatives = (q[: m.start()], _split_negatives(q[m.end():])) if m else (q, ())
    terms = _split_terms(positive)
    rest = [t for t in terms if _is_rest(t)]
    terms = tuple(t for t in terms if not _is_rest(t))
    bad = [n for n in negatives if _is_rest(n)]
    if bad:
        raise QueryError(f"“{q}” leaves out everything (“{bad[0]}”); name the instruments to leave out")
    if m and not negatives:
        raise QueryError(f"“{q}” names nothing to leave out after “{m.group(0).strip(' ,;')}”")
    if rest and terms:
        raise QueryError(f"“{q}” asks for {_listing(terms)} and “{rest[0]}” together, which is the whole input; "
                         f"to leave something out say e.g. “everything but {terms[0]}”")
    if not terms and not negatives:
        raise QueryError(f"“{q}” needs something to leave out: e.g. “{q} without vocals” or “everything but the "
                         "drums”")
    same = [n for n in negatives if n.lower() in {t.lower() for t in terms}]
    if same:
        raise QueryError(f"“{q}” both keeps and leaves out “{same[0]}”; keep it or leave it out")
    return Query(terms, negatives, rest=not terms, text=q)


def parse_all(queries) -> List[Query]:
    """Every query parsed (QueryError for the first that cannot be honoured), duplicates by their
    normalised wording dropped."""
    out, seen = [], set()
    for q in queries:
        p = parse(q)
        if p.normalised.lower() not in seen:
            seen.add(p.normalised.lower())
            out.append(p)
    return out
