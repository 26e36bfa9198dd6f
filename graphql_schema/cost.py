"""Static cost of an operation, computed from the document before it runs.

Every field that returns an object costs 1 per time it will be resolved; scalars are free.
How many times is the product of the list sizes above it: a connection's `first` (default
20) for its `edges`, and a plain list (attributes, events, …) counts as `LIST_SIZE` items. So
`batteries(first: 100) { edges { node { events { kind } } } }` costs
1 + 100 (edges) + 100 (node) + 100 × 1 (events lists) ≈ 301, and a request that asks for a
thousand nested objects is refused before it touches the database. The limit is per
operation (`Settings.graphql_max_cost`); the cost of every executed operation is reported in
`extensions.cost`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)

from graphql_schema.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

LIST_SIZE: Final = 10


def _is_list(field_type: Any) -> bool:
    while isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList)


def _first(field: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return min(max(int(value.value), 1), MAX_PAGE_SIZE)
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            if isinstance(given, int):
                return min(max(given, 1), MAX_PAGE_SIZE)
        return DEFAULT_PAGE_SIZE
    return None


class _Coster:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.seen_fragments: list[str] = []

    def selection(
        self, selection_set: SelectionSetNode | None, parent: Any, multiplier: int
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent, multiplier)
            elif isinstance(node, InlineFragmentNode):
                target = (
                    self.schema.get_type(node.type_condition.name.value)
                    if node.type_condition
                    else parent
                )
                total += self.selection(node.selection_set, target, multiplier)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in self.seen_fragments:
                    continue  # validation reports it (unknown or a cycle)
                self.seen_fragments.append(name)
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selection(fragment.selection_set, target, multiplier)
                self.seen_fragments.pop()
        return total

    def field(self, node: FieldNode, parent: Any, multiplier: int) -> int:
        fields = getattr(parent, "fields", None)
        if not fields or node.name.value not in fields:
            return 0  # __typename, or an unknown field validation will report
        definition = fields[node.name.value]
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        cost = multiplier
        first = _first(node, self.variables)
        parent_name = getattr(parent, "name", "")
        if first is not None:
            inner = multiplier * first
        elif _is_list(definition.type) and not parent_name.endswith("Connection"):
            inner = multiplier * LIST_SIZE
        else:
            inner = multiplier
        return cost + self.selection(node.selection_set, named, inner)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of the operation the request would run (0 if the document names none)."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if operation_name is not None:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
    if len(operations) != 1:
        return 0  # ambiguous or missing: execution refuses it anyway
    operation = operations[0]
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    coster = _Coster(schema, fragments, variables or {})
    return coster.selection(operation.selection_set, root, 1)
