"""JSON-LD processing with pyld, offline: bundled contexts only, strict expansion.

* :func:`document_loader` answers only for the bundled context URLs
  (:data:`credentials.contexts.BUNDLED_CONTEXTS`); any other URL raises
  :class:`~credentials.errors.ContextError` — nothing is ever fetched.
* Processed contexts are cached in a cache private to this module, keyed by URL; the loader
  only ever returns the sha256-pinned bytes for a URL, so the URL determines the digest and
  the key covers everything that can change the result.
* Expansion is *strict* (as Data Integrity requires): a property that does not expand to an
  absolute IRI, or a relative ``@type`` / ``@id``, raises
  :class:`~credentials.errors.JsonLdProcessingError` with code ``undefined_term`` instead of
  being silently dropped (a dropped term would be left unsigned).
* :func:`to_quads` turns a document into RDF quads for :mod:`credentials.rdfc`.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Final

from cachetools import LRUCache
from pyld import jsonld
from pyld.context_resolver import ContextResolver
from pyld.identifier_issuer import IdentifierIssuer

from credentials import templates
from credentials.caching import SharedCache, text_key
from credentials.contexts import BUNDLED_CONTEXTS, context_bytes
from credentials.errors import ContextError, CredentialError, ErrorCode, JsonLdProcessingError
from credentials.rdfc import Quad, blank_term, iri_term, literal_term

_THREAD: Final = threading.local()


def _context_cache() -> LRUCache[str, Any]:
    # pyld's resolver mutates the cache and its entries: one cache per thread
    cache: LRUCache[str, Any] | None = getattr(_THREAD, "contexts", None)
    if cache is None:
        cache = LRUCache(maxsize=64)
        _THREAD.contexts = cache
    return cache


_ABSOLUTE_IRI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$")


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader over the bundled contexts; raises ContextError otherwise."""
    del options  # pyld passes request options; nothing to negotiate offline
    if url not in BUNDLED_CONTEXTS:
        raise ContextError(f"unknown JSON-LD context {url!r}: only bundled contexts are loaded")
    # pyld mutates context documents while resolving them, so hand out a fresh parse; the
    # processed result is cached by the resolver, so this runs once per URL per process.
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": json.loads(context_bytes(url)),
        "tag": "static",
    }


def _options() -> dict[str, Any]:
    return {
        "documentLoader": document_loader,
        "contextResolver": ContextResolver(_context_cache(), document_loader),
        "processingMode": "json-ld-1.1",
        # no base: pyld resolves relative IRIs against http://example.org/base/ when the
        # base is "", which would silently sign made-up IRIs; None keeps them relative so
        # _check_absolute refuses them
        "base": None,
    }


def _find_credential_error(exc: BaseException) -> CredentialError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CredentialError):
            return current
        current = current.__cause__ or current.__context__
    return None


class _DroppedPropertyError(Exception):
    def __init__(self, prop: str | None) -> None:
        super().__init__(prop)
        self.prop = prop


def _on_dropped(prop: str | None) -> None:
    raise _DroppedPropertyError(prop)


def _check_absolute(node: Any) -> None:
    """Relative @id / @type values are dropped by RDF conversion: refuse them."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key == "@id":
                    if (
                        isinstance(value, str)
                        and not value.startswith("_:")
                        and not _ABSOLUTE_IRI.match(value)
                    ):
                        raise JsonLdProcessingError(
                            f"identifier {value!r} is not an absolute IRI",
                            code=ErrorCode.UNDEFINED_TERM,
                        )
                elif key == "@type":
                    types = value if isinstance(value, list) else [value]
                    for t in types:
                        if isinstance(t, str) and t != "@json" and not _ABSOLUTE_IRI.match(t):
                            raise JsonLdProcessingError(
                                f"type {t!r} is not defined by any context",
                                code=ErrorCode.UNDEFINED_TERM,
                            )
                elif key != "@value":
                    stack.append(value)


_EXPANSION_CACHE: Final = SharedCache(maxsize=32)


def expand(document: dict[str, Any]) -> list[Any]:
    """Strictly expand a JSON-LD document with the bundled contexts.

    Raises :class:`ContextError` for an unknown context and
    :class:`JsonLdProcessingError` for an undefined term or any JSON-LD error.

    The result is shared with a small cache keyed by the document's exact JSON text (the
    contexts are pinned, so the text is everything that can change the result): issuing
    and verifying validate and then sign the same document, which expands it once. Treat
    the returned list as read-only.
    """
    try:
        key = text_key(json.dumps(document, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise JsonLdProcessingError(f"document is not JSON: {exc}") from None
    cached: list[Any] | None = _EXPANSION_CACHE.get(key)
    if cached is not None:
        return cached
    expanded = expand_uncached(document)
    _EXPANSION_CACHE.put(key, expanded)
    return expanded


def expand_uncached(document: dict[str, Any], *, check_iris: bool = True) -> list[Any]:
    """Strict expansion without the cache. ``check_iris=False`` skips only the refusal of
    relative ``@id``/``@type`` values (shape templates place placeholders first and run
    :func:`check_absolute` on the final template)."""
    processor = jsonld.JsonLdProcessor(on_property_dropped=_on_dropped)
    try:
        expanded: list[Any] = processor.expand(document, _options())
    except _DroppedPropertyError as exc:
        raise JsonLdProcessingError(
            f"term {exc.prop!r} is not defined by the document's contexts",
            code=ErrorCode.UNDEFINED_TERM,
        ) from None
    except jsonld.JsonLdError as exc:
        inner = _find_credential_error(exc)
        if inner is not None:
            raise inner from None
        dropped = exc
        while dropped is not None and not isinstance(dropped, _DroppedPropertyError):
            dropped = dropped.__cause__
        if isinstance(dropped, _DroppedPropertyError):
            raise JsonLdProcessingError(
                f"term {dropped.prop!r} is not defined by the document's contexts",
                code=ErrorCode.UNDEFINED_TERM,
            ) from None
        code = getattr(exc, "code", None) or getattr(exc, "type", "")
        raise JsonLdProcessingError(f"JSON-LD error: {code}: {exc}") from None
    except RecursionError:
        raise JsonLdProcessingError("JSON-LD document nested too deeply") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # pyld has crash bugs on some valid-looking input (e.g. a context {"@vocab": null}
        # when no vocabulary is set raises KeyError): refuse, never crash
        raise JsonLdProcessingError(
            f"JSON-LD processor failed on this input: {type(exc).__name__}: {exc}"
        ) from None
    if check_iris:
        _check_absolute(expanded)
    return expanded


def check_absolute(expanded: Any) -> None:
    """Refuse relative ``@id`` / ``@type`` values in an expanded document."""
    _check_absolute(expanded)


def _term(node: dict[str, Any]) -> str:
    kind = node["type"]
    value: str = node["value"]
    if kind == "IRI":
        return iri_term(value)
    if kind == "blank node":
        return blank_term(value[2:])
    return literal_term(value, node.get("datatype"), node.get("language"))


def _dataset_of(expanded: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """pyld's RDF dataset of an expanded document, without expanding it a second time.

    ``JsonLdProcessor.to_rdf`` always re-runs expansion on its input; for input that is
    already expanded we call the two steps it runs afterwards (node map, graph to RDF).
    """
    processor = jsonld.JsonLdProcessor()
    options = {
        "produceGeneralizedRdf": False,
        "rdfDirection": "i18n-datatype",
        "processingMode": "json-ld-1.1",
    }
    issuer = IdentifierIssuer("_:b")
    node_map: dict[str, Any] = {"@default": {}}
    processor._create_node_map(expanded, node_map, "@default", issuer)
    dataset: dict[str, list[dict[str, Any]]] = {}
    for graph_name, graph in sorted(node_map.items()):
        if (
            graph_name == "@default"
            or _ABSOLUTE_IRI.match(graph_name)
            or graph_name.startswith("_:")
        ):
            dataset[graph_name] = processor._graph_to_rdf(graph, issuer, options)
    return dataset


def expanded_to_quads(expanded: list[Any]) -> list[Quad]:
    """RDF quads (canonical term strings) of an already expanded document."""
    try:
        dataset = _dataset_of(expanded)
    except jsonld.JsonLdError as exc:
        raise JsonLdProcessingError(f"RDF conversion failed: {exc}") from None
    quads: list[Quad] = []
    seen: set[Quad] = set()
    for graph_name, triples in dataset.items():
        if graph_name == "@default":
            graph = ""
        elif graph_name.startswith("_:"):
            graph = blank_term(graph_name[2:])
        else:
            graph = iri_term(graph_name)
        for triple in triples:
            quad: Quad = (
                _term(triple["subject"]),
                _term(triple["predicate"]),
                _term(triple["object"]),
                graph,
            )
            if quad not in seen:
                seen.add(quad)
                quads.append(quad)
    return quads


_QUADS_CACHE: Final = SharedCache(maxsize=64)


def to_quads(document: dict[str, Any], *, use_templates: bool = True) -> list[Quad]:
    """Strictly expand ``document`` and convert it to RDF quads.

    Documents whose shape was seen before take the template path
    (:mod:`credentials.templates`): the same quads and the same errors, without running
    JSON-LD expansion again. ``use_templates=False`` forces the full pyld path. Results are
    also kept briefly by the document's exact JSON text, since validating and then signing
    or verifying one document converts it twice.
    """
    try:
        key = text_key(json.dumps(document, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise JsonLdProcessingError(f"document is not JSON: {exc}") from None
    if use_templates:
        hit: tuple[Quad, ...] | None = _QUADS_CACHE.get(key)
        if hit is not None:
            return list(hit)
        quads = templates.template_quads(document)
        if quads is None:
            quads = expanded_to_quads(expand(document))
        _QUADS_CACHE.put(key, tuple(quads))
        return quads
    return expanded_to_quads(expand(document))
