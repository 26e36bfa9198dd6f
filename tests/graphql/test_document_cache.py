"""Cached documents: reused only when they validated cleanly under the same schema."""

from __future__ import annotations

from typing import Any

import pytest

from graphql_schema.doccache import DocumentCache
from graphql_schema.schema import MAX_DEPTH, build_schema

INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_a_valid_document_is_parsed_once_and_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import strawberry.schema.schema as strawberry_schema

    parsed: list[str] = []
    real_parse = strawberry_schema.parse  # type: ignore[attr-defined]

    def counting_parse(source: Any, **options: Any) -> Any:
        parsed.append(str(source))
        return real_parse(source, **options)

    monkeypatch.setattr(strawberry_schema, "parse", counting_parse)
    schema = build_schema(production=False)
    first = await schema.execute(INTROSPECTION)
    again = await schema.execute(INTROSPECTION)
    assert first.errors is None
    assert again.data == first.data
    assert parsed == [INTROSPECTION]
    await build_schema(production=False).execute(INTROSPECTION)  # another schema, own cache
    assert parsed == [INTROSPECTION, INTROSPECTION]


async def test_each_schema_keeps_its_own_rules() -> None:
    """Introspection cached as valid in development is still refused in production."""
    assert (await build_schema(production=False).execute(INTROSPECTION)).errors is None
    production = build_schema(production=True)
    for _ in range(2):
        result = await production.execute(INTROSPECTION)
        assert result.errors
        assert "introspection" in result.errors[0].message.lower()


async def test_invalid_documents_are_refused_every_time() -> None:
    schema = build_schema(production=False)
    too_deep = (
        '{ battery(id: "QmF0dGVyeTox") { '
        + "successor { " * MAX_DEPTH
        + "id"
        + " }" * MAX_DEPTH
        + " } }"
    )
    for document, words in (("{ noSuchField }", "cannot query"), (too_deep, "depth")):
        for _ in range(2):
            result = await schema.execute(document)
            assert result.errors, document
            assert words in result.errors[0].message.lower()


def test_least_recently_used_documents_leave_first() -> None:
    from graphql import parse

    cache = DocumentCache(maxsize=2)
    docs = {text: parse(text) for text in ("{ a }", "{ b }", "{ c }")}
    cache.keep("{ a }", docs["{ a }"])
    cache.keep("{ b }", docs["{ b }"])
    assert cache.get("{ a }") is docs["{ a }"]
    cache.keep("{ c }", docs["{ c }"])
    assert cache.get("{ b }") is None
    assert cache.get("{ a }") is docs["{ a }"]
    assert len(cache) == 2
    cache.keep("{ " + "x " * 20_000 + "}", docs["{ a }"])
    assert len(cache) == 2
