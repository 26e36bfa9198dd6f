"""Relay building blocks: opaque global IDs, the `Node` interface, keyset cursor connections.

A global ID is base64url("<TypeName>:<local id>") — opaque to clients, so a client cannot
guess another object's id from its own, and every `node(id:)` lookup goes through the same
authorization as the typed queries. Connections page by keyset (the cursor holds the last
row's sort key), so a page is one indexed range scan however deep the client pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import strawberry

from backend.kit.errors import InvalidInputError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

NodeT = TypeVar("NodeT")


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInputError("malformed id or cursor", field="id") from None


def to_global_id(type_name: str, local_id: str) -> strawberry.ID:
    return strawberry.ID(_b64encode(f"{type_name}:{local_id}"))


def from_global_id(global_id: str) -> tuple[str, str]:
    """(type name, local id) of a global ID; a malformed one is a typed INVALID_INPUT."""
    type_name, sep, local_id = _b64decode(global_id).partition(":")
    if not sep or not type_name or not local_id:
        raise InvalidInputError("malformed id", field="id")
    return type_name, local_id


def expect_global_id(global_id: str, type_name: str) -> str:
    kind, local_id = from_global_id(global_id)
    if kind != type_name:
        raise InvalidInputError(f"id is a {kind}, not a {type_name}", field="id")
    return local_id


def encode_cursor(key: Sequence[Any]) -> str:
    return _b64encode(json.dumps(list(key), separators=(",", ":")))


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = json.loads(_b64decode(cursor))
    except json.JSONDecodeError:
        raise InvalidInputError("malformed cursor", field="after") from None
    if not isinstance(key, list):
        raise InvalidInputError("malformed cursor", field="after")
    return key


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"first must be between 1 and {MAX_PAGE_SIZE}", field="first")
    return first


@strawberry.interface(description="An object with a global ID (Relay).")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @classmethod
    def from_rows(
        cls, rows: Sequence[tuple[Sequence[Any], NodeT]], limit: int
    ) -> Connection[NodeT]:
        """Rows fetched with `limit + 1`: (sort key, node) pairs; the extra one means more."""
        page = rows[:limit]
        edges = [Edge(cursor=encode_cursor(key), node=node) for key, node in page]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
