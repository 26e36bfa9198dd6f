"""The committed SDL matches the code, and no unapproved breaking change reaches the apps."""

from __future__ import annotations

from graphql_schema.sdl import EXPORTED, breaking_changes, current_sdl, unapproved_breaking_changes


def test_the_committed_schema_file_is_the_codes_schema() -> None:
    assert EXPORTED.read_text() == current_sdl(), "run `bpp graphql export-schema` and commit"


def test_no_breaking_change_against_the_released_schema_without_an_allow_list_entry() -> None:
    assert unapproved_breaking_changes() == []


def test_the_gate_sees_a_removed_field_and_a_narrowed_argument() -> None:
    old = (
        "type Query { battery(id: ID!): Battery  batteries(first: Int): [Battery] }\n"
        "type Battery { id: ID! identifier: String! }"
    )
    new = (
        "type Query { battery(id: ID!): Battery  batteries(first: Int!): [Battery] }\n"
        "type Battery { id: ID! }"
    )
    changes = breaking_changes(old, new)
    assert "FIELD_REMOVED: Field Battery.identifier was removed." in changes
    assert any(
        change.startswith("ARG_CHANGED_KIND: Argument Query.batteries(first:)")
        for change in changes
    )
    assert breaking_changes(old, old) == []
