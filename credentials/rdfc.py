"""RDF Dataset Canonicalization (RDFC-1.0, W3C Recommendation 2024) with a work bound.

Quads are plain tuples of four *canonical N-Quads term strings* — ``<iri>``, ``_:label``,
``"lexical"``, ``"lexical"^^<datatype>``, ``"lexical"@lang`` — with the graph name ``""`` for
the default graph. Keeping terms pre-serialised makes the hashing steps string joins.

Literal escaping follows RDFC-1.0 §4.2 / canonical N-Quads: ``"`` and ``\\`` are escaped,
``\\b \\t \\n \\f \\r`` use their short escapes, every other character in U+0000–U+001F and
U+007F is written as ``\\uXXXX`` (upper-case hex), everything else is written as itself.

Untrusted input can make the Hash N-Degree Quads algorithm run for exponential time (poison
graphs). :func:`canonicalize` counts its calls and the permutations it tries and raises
:class:`~credentials.errors.CanonicalizationError` once ``max_work`` is spent.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from credentials.errors import CanonicalizationError, ErrorCode

Quad = tuple[str, str, str, str]
"""(subject, predicate, object, graph) as canonical N-Quads terms; graph ``""`` = default."""

DEFAULT_MAX_WORK: Final = 4096
"""Default budget of Hash N-Degree Quads calls plus permutations tried.

The W3C suite's hardest positive test needs well under a thousand; a credential signed by
this platform has a handful of blank nodes (proof graphs, status entries) and needs none.
"""

_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f\x7f]')


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    short = _ESCAPES.get(ch)
    return short if short is not None else f"\\u{ord(ch):04X}"


def escape_literal(lexical: str) -> str:
    """Escape a literal's lexical form for canonical N-Quads (without the quotes)."""
    return _NEEDS_ESCAPE.sub(_escape_char, lexical)


XSD_STRING: Final = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def iri_term(iri: str) -> str:
    """The canonical term string of an IRI."""
    return f"<{iri}>"


def blank_term(label: str) -> str:
    """The canonical term string of a blank node label (without ``_:``)."""
    return f"_:{label}"


def literal_term(lexical: str, datatype: str | None = None, language: str | None = None) -> str:
    """The canonical term string of a literal (``xsd:string`` datatype is omitted)."""
    body = f'"{escape_literal(lexical)}"'
    if language:
        return f"{body}@{language}"
    if datatype and datatype != XSD_STRING:
        return f"{body}^^<{datatype}>"
    return body


def serialize_quad(quad: Quad) -> str:
    """One canonical N-Quads line, with its terminating newline."""
    s, p, o, g = quad
    if g:
        return f"{s} {p} {o} {g} .\n"
    return f"{s} {p} {o} .\n"


def serialize(quads: Iterable[Quad]) -> str:
    """Canonical N-Quads of ``quads`` in code point order (what RDFC-1.0 outputs)."""
    return "".join(sorted(serialize_quad(q) for q in quads))


# --------------------------------------------------------------------------- N-Quads parser

_UCHAR: Final = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_ECHAR_MAP: Final = {
    "t": "\t",
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<iri><[^<>"{}|^`\\\x00-\x20]*(?:\\[uU][0-9A-Fa-f]+[^<>"{}|^`\\\x00-\x20]*)*>)
      | (?P<bnode>_:[A-Za-z0-9_\u00b7-\uffff]
                  (?:[A-Za-z0-9_.\-\u00b7-\uffff]*[A-Za-z0-9_\-\u00b7-\uffff])?)
      | (?P<literal>"(?:[^"\\\n\r]|\\.)*"(?:\^\^<[^>]*>|@[A-Za-z]+(?:-[A-Za-z0-9]+)*)?)
      | (?P<dot>\.)
    )""",
    re.VERBOSE,
)


def _unescape_uchar(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        return chr(int(m.group(1) or m.group(2), 16))

    return _UCHAR.sub(repl, text)


def _unescape_string(body: str) -> str:
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < n else ""
        if nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        elif nxt in _ECHAR_MAP:
            out.append(_ECHAR_MAP[nxt])
            i += 2
        else:
            raise CanonicalizationError(
                f"invalid escape \\{nxt} in literal", code=ErrorCode.INVALID_NQUADS
            )
    return "".join(out)


def _canonical_token(kind: str, text: str) -> str:
    if kind == "iri":
        return iri_term(_unescape_uchar(text[1:-1]))
    if kind == "bnode":
        return text
    # literal: split body from datatype / language
    end = text.rfind('"')
    body = _unescape_string(text[1:end])
    suffix = text[end + 1 :]
    if suffix.startswith("^^"):
        return literal_term(body, datatype=_unescape_uchar(suffix[3:-1]))
    if suffix.startswith("@"):
        return literal_term(body, language=suffix[1:])
    return literal_term(body)


def parse_nquads(text: str) -> list[Quad]:
    """Parse N-Quads into canonical-term quads (duplicates removed, order kept).

    Raises :class:`CanonicalizationError` with code ``invalid_nquads`` on malformed input.
    """
    quads: list[Quad] = []
    seen: set[Quad] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        terms: list[tuple[str, str]] = []
        pos = 0
        done = False
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            if m is None or m.end() == pos:
                rest = line[pos:].strip()
                if done and rest.startswith("#"):
                    break
                if not rest:
                    break
                raise CanonicalizationError(
                    f"line {lineno}: cannot parse N-Quads near {rest[:30]!r}",
                    code=ErrorCode.INVALID_NQUADS,
                )
            kind = m.lastgroup or ""
            pos = m.end()
            if kind == "dot":
                done = True
                continue
            if done:
                raise CanonicalizationError(
                    f"line {lineno}: text after '.'", code=ErrorCode.INVALID_NQUADS
                )
            terms.append((kind, m.group(kind)))
        if not done or len(terms) not in (3, 4):
            raise CanonicalizationError(
                f"line {lineno}: a quad needs 3 or 4 terms and a final '.'",
                code=ErrorCode.INVALID_NQUADS,
            )
        kinds = [k for k, _ in terms]
        if (
            kinds[0] == "literal"
            or kinds[1] != "iri"
            or (len(kinds) == 4 and kinds[3] == "literal")
        ):
            raise CanonicalizationError(
                f"line {lineno}: term in a position it may not take",
                code=ErrorCode.INVALID_NQUADS,
            )
        canon = [_canonical_token(k, t) for k, t in terms]
        quad: Quad = (canon[0], canon[1], canon[2], canon[3] if len(canon) == 4 else "")
        if quad not in seen:
            seen.add(quad)
            quads.append(quad)
    return quads


# --------------------------------------------------------------------------- RDFC-1.0


class _IdentifierIssuer:
    """Issues ``prefix + counter`` identifiers; remembers the order of issue."""

    __slots__ = ("counter", "issued", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.counter = 0
        self.issued: dict[str, str] = {}

    def issue(self, existing: str) -> str:
        found = self.issued.get(existing)
        if found is not None:
            return found
        new = f"{self.prefix}{self.counter}"
        self.counter += 1
        self.issued[existing] = new
        return new

    def copy(self) -> _IdentifierIssuer:
        other = _IdentifierIssuer(self.prefix)
        other.counter = self.counter
        other.issued = dict(self.issued)
        return other


@dataclass(frozen=True, slots=True)
class CanonicalDataset:
    """Result of RDFC-1.0: the canonical N-Quads and the issued identifiers map.

    ``issued`` maps each input blank node label (without ``_:``) to its canonical label.
    """

    nquads: str
    issued: dict[str, str]


_HASHES: Final[dict[str, Callable[[bytes], hashlib._Hash]]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
}


class _Canonicalizer:
    def __init__(self, quads: Sequence[Quad], hash_algorithm: str, max_work: int) -> None:
        hasher = _HASHES.get(hash_algorithm.lower())
        if hasher is None:
            raise CanonicalizationError(f"unsupported hash algorithm {hash_algorithm!r}")
        self._hasher = hasher
        self.quads = quads
        self.max_work = max_work
        self.work = 0
        self.canonical = _IdentifierIssuer("c14n")
        self.bnode_quads: dict[str, list[Quad]] = {}
        self._first_degree: dict[str, str] = {}

    def _hash(self, text: str) -> str:
        return self._hasher(text.encode("utf-8")).hexdigest()

    def _spend(self, amount: int = 1) -> None:
        self.work += amount
        if self.work > self.max_work:
            raise CanonicalizationError(
                f"RDFC-1.0 work bound exceeded ({self.max_work} steps): "
                "the dataset's blank nodes are too symmetric to canonicalize safely",
                code=ErrorCode.CANONICALIZATION_LIMIT,
            )

    def run(self) -> CanonicalDataset:
        if not any(
            q[0].startswith("_:") or q[2].startswith("_:") or q[3].startswith("_:")
            for q in self.quads
        ):
            # no blank nodes: nothing to label, the canonical form is the sorted lines
            return CanonicalDataset(serialize(self.quads), {})
        # 4.4.3 step 2: blank node to quads map
        for quad in self.quads:
            for term in (quad[0], quad[2], quad[3]):
                if term.startswith("_:"):
                    bucket = self.bnode_quads.setdefault(term, [])
                    if not bucket or bucket[-1] is not quad:
                        bucket.append(quad)
        # step 3: first degree hashes
        hash_to_bnodes: dict[str, list[str]] = {}
        for bnode in self.bnode_quads:
            h = self._hash_first_degree(bnode)
            hash_to_bnodes.setdefault(h, []).append(bnode)
        # step 4: unique hashes get canonical ids in hash order
        non_unique: list[tuple[str, list[str]]] = []
        for h in sorted(hash_to_bnodes):
            nodes = hash_to_bnodes[h]
            if len(nodes) == 1:
                self.canonical.issue(nodes[0])
            else:
                non_unique.append((h, nodes))
        # step 5: shared hashes via Hash N-Degree Quads
        for _h, nodes in non_unique:
            results: list[tuple[str, _IdentifierIssuer]] = []
            for node in nodes:
                if node in self.canonical.issued:
                    continue
                temp = _IdentifierIssuer("b")
                temp.issue(node)
                results.append(self._hash_n_degree(node, temp))
            results.sort(key=lambda r: r[0])
            for _rh, issuer in results:
                for existing in issuer.issued:
                    self.canonical.issue(existing)
        # step 6: relabel and serialise
        lines = [serialize_quad(self._relabel(q)) for q in self.quads]
        lines.sort()
        issued = {k[2:]: v for k, v in self.canonical.issued.items()}
        return CanonicalDataset("".join(lines), issued)

    def _relabel(self, quad: Quad) -> Quad:
        s, p, o, g = quad
        issued = self.canonical.issued
        if s.startswith("_:"):
            s = "_:" + issued[s]
        if o.startswith("_:"):
            o = "_:" + issued[o]
        if g.startswith("_:"):
            g = "_:" + issued[g]
        return (s, p, o, g)

    def _hash_first_degree(self, bnode: str) -> str:
        cached = self._first_degree.get(bnode)
        if cached is not None:
            return cached
        lines = []
        for quad in self.bnode_quads[bnode]:
            s, p, o, g = (
                ("_:a" if t == bnode else "_:z") if t.startswith("_:") else t for t in quad
            )
            lines.append(serialize_quad((s, p, o, g)))
        lines.sort()
        result = self._hash("".join(lines))
        self._first_degree[bnode] = result
        return result

    def _hash_related(self, related: str, quad: Quad, issuer: _IdentifierIssuer, pos: str) -> str:
        text = pos
        if pos != "g":
            text += quad[1]
        canonical = self.canonical.issued.get(related)
        if canonical is not None:
            text += "_:" + canonical
        else:
            temp = issuer.issued.get(related)
            text += "_:" + temp if temp is not None else self._hash_first_degree(related)
        return self._hash(text)

    def _hash_n_degree(
        self, identifier: str, issuer: _IdentifierIssuer
    ) -> tuple[str, _IdentifierIssuer]:
        self._spend()
        related_by_hash: dict[str, list[str]] = {}
        for quad in self.bnode_quads[identifier]:
            s, _p, o, g = quad
            if s.startswith("_:") and s != identifier:
                related_by_hash.setdefault(self._hash_related(s, quad, issuer, "s"), []).append(s)
            if o.startswith("_:") and o != identifier:
                related_by_hash.setdefault(self._hash_related(o, quad, issuer, "o"), []).append(o)
            if g.startswith("_:") and g != identifier:
                related_by_hash.setdefault(self._hash_related(g, quad, issuer, "g"), []).append(g)
        data = []
        for related_hash in sorted(related_by_hash):
            data.append(related_hash)
            chosen_path = ""
            chosen_issuer: _IdentifierIssuer | None = None
            for permutation in itertools.permutations(related_by_hash[related_hash]):
                self._spend()
                issuer_copy = issuer.copy()
                path = ""
                recursion: list[str] = []
                skip = False
                for related in permutation:
                    canonical = self.canonical.issued.get(related)
                    if canonical is not None:
                        path += "_:" + canonical
                    else:
                        if related not in issuer_copy.issued:
                            recursion.append(related)
                        path += "_:" + issuer_copy.issue(related)
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                for related in recursion:
                    result_hash, result_issuer = self._hash_n_degree(related, issuer_copy)
                    path += "_:" + issuer_copy.issue(related)
                    path += "<" + result_hash + ">"
                    issuer_copy = result_issuer
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                if not chosen_path or path < chosen_path:
                    chosen_path = path
                    chosen_issuer = issuer_copy
            data.append(chosen_path)
            if chosen_issuer is not None:
                issuer = chosen_issuer
        return self._hash("".join(data)), issuer


def canonicalize(
    quads: Sequence[Quad],
    *,
    hash_algorithm: str = "sha256",
    max_work: int = DEFAULT_MAX_WORK,
) -> CanonicalDataset:
    """Canonicalize a dataset with RDFC-1.0.

    ``quads`` must be free of duplicates (an RDF dataset is a set). ``max_work`` bounds the
    number of Hash N-Degree Quads calls plus permutations examined; exceeding it raises
    :class:`CanonicalizationError` (code ``canonicalization_limit``) instead of hanging.
    """
    return _Canonicalizer(quads, hash_algorithm, max_work).run()


def canonicalize_nquads(
    text: str, *, hash_algorithm: str = "sha256", max_work: int = DEFAULT_MAX_WORK
) -> CanonicalDataset:
    """Parse N-Quads and canonicalize them (convenience for tests and tools)."""
    return canonicalize(parse_nquads(text), hash_algorithm=hash_algorithm, max_work=max_work)
