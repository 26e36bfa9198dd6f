"""Shape templates: JSON-LD → RDF once per document *shape*, exact for every document of it.

Full JSON-LD expansion (pyld) costs milliseconds per credential, and credentials of one kind
differ only in their values. Where a value lands in the RDF depends only on the document's
keys, structure, contexts and ``type`` values — not on the value itself — for:

* strings that land in a literal's lexical form (``{"@value": s}``, with whatever ``@type``,
  ``@language`` or ``@direction`` the term adds, except ``@json`` and ``xsd:double``, whose
  lexical form pyld derives from the value);
* numbers in ``{"@value": n}`` (their RDF form is computed per value by pyld's own
  ``_object_to_rdf``, so integer/double rules are pyld's);
* absolute IRIs with a scheme that no bundled context defines as a term (``urn``, ``did``,
  ``http``, ``https``), which JSON-LD keeps verbatim wherever they land.

So a document is split into a *shape* (kept literally: keys, ``@context``, ``type``/``@type``,
``@language``, ``@direction``, ``@index``, booleans, nulls) and *slots* (every string and
number elsewhere, replaced by unique placeholders). The shape is expanded and
converted to RDF once, strictly (undefined terms and relative IRIs refused as always); each
placeholder is checked to land in an allowed position, and a slot whose placeholder lands
anywhere else is moved into the shape. Documents of the same shape then get their quads by
substituting values into the template's quads.

The cache is keyed on the SHA-256 of the shape's exact JSON text, which (with the pinned
contexts) is everything that can change the template. Documents with inline (object) contexts, or
containing the private-use placeholder characters, always take the full pyld path.
:func:`credentials.jsonld.to_quads` uses this module; tests compare both paths.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import orjson
from pyld import jsonld as pyld_jsonld

from credentials.caching import SharedCache
from credentials.contexts import BUNDLED_CONTEXTS, context_document
from credentials.rdfc import Quad, escape_literal, literal_term

_MARK: Final = "\ue000"
_MARK_UTF8: Final = _MARK.encode("utf-8")
_IRI_PREFIX: Final = "urn:x-bpp-slot:"
_SAFE_SCHEMES: Final = ("urn", "did", "http", "https")
_SAFE_IRI: Final = re.compile(r"^(?:urn|did|https?):[^\s<>\"{}|\\^`\x00-\x1f\x7f\ue000]+$")
_NUMBER_BASE: Final = 7_000_000_000_000_000  # placeholders: distinct ints below 2**63
_UNSAFE_STRING_TYPES: Final = frozenset({"@json", "http://www.w3.org/2001/XMLSchema#double"})
_LITERAL_KEYS: Final = frozenset(
    {"@context", "type", "@type", "@language", "@direction", "@index", "@vocab", "@base"}
)
_MAX_ROUNDS: Final = 6
_MAX_TEMPLATE_TEXT: Final = 256 * 1024


def _context_terms(node: Any, out: dict[str, set[str]]) -> None:
    """Collect term -> keyword targets (``""`` for non-keyword definitions), recursively
    through scoped contexts."""
    if isinstance(node, dict):
        for key, value in node.items():
            target = value if isinstance(value, str) else None
            if isinstance(value, dict):
                target = value.get("@id") if isinstance(value.get("@id"), str) else None
                inner = value.get("@context")
                if inner is not None:
                    _context_terms(inner, out)
            out.setdefault(key, set()).add(target if target and target.startswith("@") else "")
    elif isinstance(node, list):
        for item in node:
            _context_terms(item, out)


def _bundled_contexts_allow_templates() -> bool:
    """The template argument needs: no bundled context defines a term named like a safe
    scheme or an IRI with one, and the only keyword aliases are ``type`` and ``id``."""
    terms: dict[str, set[str]] = {}
    for url in BUNDLED_CONTEXTS:
        _context_terms(context_document(url).get("@context"), terms)
    for term, targets in terms.items():
        if term in _SAFE_SCHEMES or term.split(":", 1)[0] in _SAFE_SCHEMES:
            return False
        keywords = targets - {""}
        if keywords and not (
            (term == "type" and keywords == {"@type"}) or (term == "id" and keywords == {"@id"})
        ):
            return False
    return True


_ENABLED: Final = _bundled_contexts_allow_templates()


@dataclass(slots=True)
class _Template:
    # each term is a plain string (no slot) or a 1-tuple holding a str.format_map pattern
    # whose fields are r<i> (slot i verbatim) and e<i> (slot i escaped for a literal)
    quads: list[tuple[str | tuple[str], ...]]
    number_types: dict[int, str | None]
    escaped_slots: frozenset[int]


# shape text (all candidates as slots) -> indices that must stay literal
_LITERAL_SLOTS: Final = SharedCache(maxsize=512)
# shape text (final) -> template quads; _UNUSABLE = this shape cannot be templated
_TEMPLATES: Final = SharedCache(maxsize=256)
_UNUSABLE: Final = "unusable"


def _placeholder(kind: str, index: int) -> Any:
    if kind == "n":
        return _NUMBER_BASE + index
    token = f"{_MARK}{index}{_MARK}"
    return _IRI_PREFIX + token if kind == "i" else token


def _split(document: Any) -> tuple[Any, list[tuple[Any, Any, Any]]]:
    """Copy ``document`` with candidate leaves replaced by kind markers.

    Returns the shape copy and, per candidate in walk order, (container in the copy, key,
    original value).
    """
    slots: list[tuple[Any, Any, Any]] = []
    append = slots.append
    iri_mark, str_mark, num_mark = f"{_MARK}i", f"{_MARK}s", f"{_MARK}n"
    safe_iri = _SAFE_IRI.match

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key in _LITERAL_KEYS:
                    out[key] = item
                    continue
                cls = item.__class__
                if cls is str:
                    out[key] = iri_mark if safe_iri(item) else str_mark
                    append((out, key, item))
                elif cls is int or cls is float:
                    out[key] = num_mark
                    append((out, key, item))
                elif cls is dict or cls is list:
                    out[key] = walk(item)
                else:
                    out[key] = item
            return out
        if isinstance(value, list):
            items: list[Any] = []
            for item in value:
                cls = item.__class__
                if cls is str:
                    items.append(iri_mark if safe_iri(item) else str_mark)
                    append((items, len(items) - 1, item))
                elif cls is int or cls is float:
                    items.append(num_mark)
                    append((items, len(items) - 1, item))
                elif cls is dict or cls is list:
                    items.append(walk(item))
                else:
                    items.append(item)
            return items
        return value

    return walk(document), slots


def _shape_text(shape: Any) -> bytes:
    """The shape's exact JSON (UTF-8; orjson: ~8x faster than ``json.dumps`` here). Keys
    that are not strings or strings with lone surrogates raise ``orjson.JSONEncodeError``
    (a ``TypeError``): such documents take the full path."""
    return orjson.dumps(shape)


def _shape_key(text: bytes) -> bytes:
    return hashlib.sha256(text).digest()


def _occurrences(
    expanded: Any, placeholders: dict[Any, int]
) -> tuple[dict[int, list[str]], set[int]]:
    """Where each placeholder landed: slot index -> list of positions; plus misplaced slots."""
    landed: dict[int, list[str]] = {}
    bad: set[int] = set()
    number_placeholders = {p: i for p, i in placeholders.items() if isinstance(p, int)}
    string_placeholders = {p: i for p, i in placeholders.items() if isinstance(p, str)}

    def scan_scalar(value: Any) -> None:
        if isinstance(value, str) and _MARK in value:
            for token in re.findall(f"{_MARK}(\\d+){_MARK}", value):
                bad.add(int(token))
        elif (
            isinstance(value, int) and not isinstance(value, bool) and value in number_placeholders
        ):
            bad.add(number_placeholders[value])

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            scan_scalar(node)
            return
        if "@value" in node:
            value = node["@value"]
            vtype = node.get("@type")
            if isinstance(value, str) and value in string_placeholders:
                index = string_placeholders[value]
                if vtype in _UNSAFE_STRING_TYPES:
                    bad.add(index)
                else:
                    landed.setdefault(index, []).append("value")
            elif (
                isinstance(value, int)
                and not isinstance(value, bool)
                and value in number_placeholders
            ):
                landed.setdefault(number_placeholders[value], []).append("number")
            else:
                walk(value)
            for key, item in node.items():
                if key != "@value":
                    walk(item)
            return
        for key, item in node.items():
            if key == "@id" and isinstance(item, str) and item in string_placeholders:
                index = string_placeholders[item]
                if item.startswith(_IRI_PREFIX):
                    landed.setdefault(index, []).append("id")
                else:
                    bad.add(index)
            else:
                walk(item)

    walk(expanded)
    return landed, bad


def _fill(
    shape_copy: Any, slots: list[tuple[Any, Any, Any]], literal: frozenset[int]
) -> tuple[Any, dict[Any, int]]:
    placeholders: dict[Any, int] = {}
    for index, (container, key, original) in enumerate(slots):
        if index in literal:
            container[key] = original
        else:
            kind = container[key][1]
            value = _placeholder(kind, index)
            container[key] = value
            placeholders[value] = index
    return shape_copy, placeholders


def _build(
    document: dict[str, Any], literal: frozenset[int]
) -> tuple[frozenset[int], Any, dict[Any, int], list[Any] | None]:
    """Expand ``document`` with placeholders for non-literal slots until every placeholder
    lands in an allowed place. Returns (literal set, template doc, placeholders, expanded)."""
    from credentials import jsonld  # local: jsonld imports this module

    for _ in range(_MAX_ROUNDS):
        shape, slots = _split(document)
        template_doc, placeholders = _fill(shape, slots, literal)
        expanded = jsonld.expand_uncached(template_doc, check_iris=False)
        landed, bad = _occurrences(expanded, placeholders)
        missing = {i for i in placeholders.values() if i not in landed}
        newly = bad | missing
        if not newly:
            jsonld.check_absolute(expanded)
            return literal, template_doc, placeholders, expanded
        literal = literal | frozenset(newly)
    return literal, None, {}, None


def _compile(expanded: list[Any], placeholders: dict[Any, int]) -> _Template:
    from credentials import jsonld

    quads = jsonld.expanded_to_quads(expanded)
    string_tokens = {p: i for p, i in placeholders.items() if isinstance(p, str)}
    number_types = _number_datatypes(expanded, placeholders)
    number_terms: dict[str, int] = {}
    for placeholder, index in placeholders.items():
        if isinstance(placeholder, int):
            number_terms[_render_number(placeholder, number_types.get(index))] = index
    token_re = re.compile(f"(?:{re.escape(_IRI_PREFIX)})?{_MARK}(\\d+){_MARK}")
    compiled: list[tuple[str | tuple[str], ...]] = []
    escaped: set[int] = set()
    for quad in quads:
        terms: list[str | tuple[str]] = []
        for term in quad:
            if term in number_terms:
                terms.append((f"{{r{number_terms[term]}}}",))
                continue
            if _MARK not in term:
                terms.append(term)
                continue
            in_literal = term.startswith('"')
            pattern: list[str] = []
            pos = 0
            for match in token_re.finditer(term):
                pattern.append(_format_escape(term[pos : match.start()]))
                index = string_tokens[match.group(0)]
                if in_literal:
                    escaped.add(index)
                pattern.append(f"{{{'e' if in_literal else 'r'}{index}}}")
                pos = match.end()
            pattern.append(_format_escape(term[pos:]))
            terms.append(("".join(pattern),))
        compiled.append(tuple(terms))
    return _Template(compiled, number_types, frozenset(escaped))


def _format_escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _number_datatypes(expanded: Any, placeholders: dict[Any, int]) -> dict[int, str | None]:
    numbers = {p: i for p, i in placeholders.items() if isinstance(p, int)}
    found: dict[int, str | None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            value = node.get("@value")
            if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
                found[numbers[value]] = node.get("@type")
            for item in node.values():
                walk(item)

    walk(expanded)
    return found


_PROCESSOR: Final = pyld_jsonld.JsonLdProcessor()
_RDF_OPTIONS: Final = {"processingMode": "json-ld-1.1", "rdfDirection": "i18n-datatype"}


def _render_number(value: int | float, datatype: str | None) -> str:
    item: dict[str, Any] = {"@value": value}
    if datatype:
        item["@type"] = datatype
    rdf = _PROCESSOR._object_to_rdf(item, None, [], _RDF_OPTIONS)
    return literal_term(rdf["value"], rdf.get("datatype"), rdf.get("language"))


@lru_cache(maxsize=4096)
def _render_number_cached(kind: str, value: int | float, datatype: str | None) -> str:
    del kind  # part of the key only: 1, 1.0 and True hash alike but render differently
    return _render_number(value, datatype)


def _substitute(template: _Template, fields: dict[str, str]) -> list[Quad]:
    out: list[Quad] = []
    seen: set[Quad] = set()
    for quad in template.quads:
        s, p, o, g = (
            term if isinstance(term, str) else term[0].format_map(fields) for term in quad
        )
        result: Quad = (s, p, o, g)
        if result not in seen:
            seen.add(result)
            out.append(result)
    return out


def _template_of(
    document: dict[str, Any],
) -> tuple[_Template, list[tuple[Any, Any, Any]], frozenset[int]] | None:
    """The shape template of ``document`` with its slots and the slots kept literal, or None
    if it must take the full path. Building a template runs full strict expansion of the
    shape, so the typed errors of an invalid shape are raised here."""
    if not _ENABLED:
        return None
    ctx = document.get("@context")
    ctx_items = ctx if isinstance(ctx, list) else [ctx]
    if not all(isinstance(c, str) for c in ctx_items):
        return None
    shape, slots = _split(document)
    if not slots:
        return None
    try:
        shape_text = _shape_text(shape)
    except TypeError:
        return None
    if shape_text.count(_MARK_UTF8) != len(slots):
        return None  # the document itself contains the placeholder character
    if len(shape_text) > _MAX_TEMPLATE_TEXT:
        return None  # huge documents are rare; not worth a cache entry
    text = _shape_key(shape_text)
    literal: frozenset[int] | None = _LITERAL_SLOTS.get(text)
    if literal is None:
        literal, template_doc, _placeholders, _expanded = _build(document, frozenset())
        if template_doc is None:
            return None
        _LITERAL_SLOTS.put(text, literal)
    if literal:
        for index in literal:
            container, key, original = slots[index]
            container[key] = original
        try:
            final_text = _shape_key(_shape_text(shape))
        except TypeError:
            return None
    else:
        final_text = text
    found: _Template | str | None = _TEMPLATES.get(final_text)
    if found is None:
        built, template_doc, placeholders, expanded = _build(document, literal)
        if template_doc is None or expanded is None or built != literal:
            found = _UNUSABLE
        else:
            found = _compile(expanded, placeholders)
        _TEMPLATES.put(final_text, found)
    if not isinstance(found, _Template):
        return None
    return found, slots, literal


def shape_expands(document: dict[str, Any]) -> bool:
    """True when ``document``'s shape has a template: its full strict expansion and RDF
    conversion succeeded, and every slot value (by the module's argument) expands without
    error wherever it lands — so ``document`` passes the strict JSON-LD checks exactly as
    :func:`template_quads` would, without substituting the values. False: take the full
    path. Raises the typed errors of an invalid shape."""
    return _template_of(document) is not None


def template_quads(document: dict[str, Any]) -> list[Quad] | None:
    """Quads of ``document`` through a shape template, or None if it must take the full path.

    Raises the same typed errors as full strict expansion for documents whose shape is
    invalid (undefined terms, unknown contexts, relative IRIs).
    """
    prepared = _template_of(document)
    if prepared is None:
        return None
    template, slots, literal = prepared
    fields: dict[str, str] = {}
    number_types = template.number_types
    escaped = template.escaped_slots
    for index, (_container, _key, original) in enumerate(slots):
        if index in literal:
            continue
        if original.__class__ is str:
            fields[f"r{index}"] = original
            if index in escaped:
                fields[f"e{index}"] = escape_literal(original)
        else:
            fields[f"r{index}"] = _render_number_cached(
                original.__class__.__name__, original, number_types.get(index)
            )
    return _substitute(template, fields)
