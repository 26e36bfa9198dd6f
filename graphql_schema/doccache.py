"""Parsed and validated documents, remembered by their text.

Mobile apps and gateways send the same few documents (persisted queries in production), so
parsing and validating each one again is wasted work: for a small ingest mutation it was a
fifth of the server's time. A document's validity depends only on its text and the schema
with its validation rules (depth, aliases, tokens, introspection) — never on variables — so a
document that once parsed and validated cleanly under this schema is valid again. One cache
per built schema; only valid documents are kept, at most `maxsize`, least recently used out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

DEFAULT_MAXSIZE = 1024
# Longer documents are not kept (a persisted mobile query is a few hundred bytes).
MAX_DOCUMENT_CHARS = 20_000


class DocumentCache:
    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get(self, text: str) -> DocumentNode | None:
        with self._lock:
            document = self._documents.get(text)
            if document is not None:
                self._documents.move_to_end(text)
            return document

    def keep(self, text: str, document: DocumentNode) -> None:
        if len(text) > MAX_DOCUMENT_CHARS:
            return
        with self._lock:
            self._documents[text] = document
            self._documents.move_to_end(text)
            while len(self._documents) > self._maxsize:
                self._documents.popitem(last=False)

    def __len__(self) -> int:
        return len(self._documents)

    def extension(self) -> Callable[[], SchemaExtension]:
        """The extension factory for `strawberry.Schema(extensions=...)`."""
        return lambda: _DocumentCacheExtension(self)


class _DocumentCacheExtension(SchemaExtension):
    def __init__(self, cache: DocumentCache) -> None:
        super().__init__()
        self._cache = cache
        self._hit = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            document = self._cache.get(context.query)
            if document is not None:
                context.graphql_document = document
                self._hit = True
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self._hit:
            # Validated cleanly under this schema before; strawberry skips validation when
            # the errors are already set.
            context.pre_execution_errors = []
        yield
        if (
            not self._hit
            and context.pre_execution_errors == []
            and context.query
            and context.graphql_document is not None
        ):
            self._cache.keep(context.query, context.graphql_document)
