"""One access policy for every read path: GraphQL fields, credentials, exports, pages.

A caller's `Entitlements` say which access groups it reaches: everyone has `public`; a
legitimate interest is granted per attribute group (by the driver's consent to an
organisation, or by an organisation's accredited role); authorities (market surveillance,
notified bodies, the Commission — Art. 77(2)(c)) reach everything. `visible_attributes`
filters any mapping keyed by attribute term and drops what the caller may not see — and
anything it does not recognise, so a new field is hidden until someone classifies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from backend.access.audience import Audience
from backend.orgs.roles import Role
from backend.passports.attributes import (
    ATTRIBUTES,
    BY_TERM,
    AttributeDefinition,
    AttributeGroup,
    Behaviour,
)

V = TypeVar("V")

ALL_GROUPS: Final = frozenset(AttributeGroup)


@dataclass(frozen=True, slots=True)
class Entitlements:
    """What one caller may read: legitimate-interest groups, and whether it is an authority."""

    legitimate_interest_groups: frozenset[AttributeGroup] = frozenset()
    authority: bool = False

    @classmethod
    def public(cls) -> Entitlements:
        return cls()

    @classmethod
    def legitimate_interest(cls, groups: Iterable[AttributeGroup]) -> Entitlements:
        return cls(legitimate_interest_groups=frozenset(groups))

    @classmethod
    def authorities(cls) -> Entitlements:
        return cls(legitimate_interest_groups=ALL_GROUPS, authority=True)

    def __or__(self, other: Entitlements) -> Entitlements:
        return Entitlements(
            legitimate_interest_groups=self.legitimate_interest_groups
            | other.legitimate_interest_groups,
            authority=self.authority or other.authority,
        )

    def can_see(self, definition: AttributeDefinition) -> bool:
        if definition.audience is Audience.PUBLIC:
            return True
        if definition.audience is Audience.LEGITIMATE_INTEREST:
            return self.authority or definition.group in self.legitimate_interest_groups
        return self.authority


PUBLIC: Final = Entitlements.public()

# Which legitimate-interest groups an organisation's role reaches on its own, without a
# driver's consent (Annex XIII points 2-4: repairers, second-life operators and recyclers
# need dismantling, materials and performance data). Everything else comes from consent.
ROLE_GROUPS: Final[Mapping[Role, frozenset[AttributeGroup]]] = {
    Role.RECYCLER: frozenset({AttributeGroup.MATERIALS, AttributeGroup.CIRCULARITY}),
    Role.REPAIRER: frozenset(
        {AttributeGroup.IDENTIFICATION, AttributeGroup.CIRCULARITY, AttributeGroup.PERFORMANCE}
    ),
    Role.SECOND_LIFE_OPERATOR: frozenset(
        {
            AttributeGroup.IDENTIFICATION,
            AttributeGroup.MATERIALS,
            AttributeGroup.CIRCULARITY,
            AttributeGroup.PERFORMANCE,
        }
    ),
    Role.INSPECTOR: frozenset({AttributeGroup.IDENTIFICATION, AttributeGroup.PERFORMANCE}),
}


def entitlements_for(
    role: Role | None, consented_groups: Iterable[AttributeGroup] = ()
) -> Entitlements:
    """A caller's entitlements from its role plus the groups a driver consented to."""
    if role is Role.AUTHORITY:
        return Entitlements.authorities()
    groups = ROLE_GROUPS.get(role, frozenset()) if role is not None else frozenset()
    return Entitlements.legitimate_interest(groups | frozenset(consented_groups))


def visible_attributes(attributes: Mapping[str, V], entitlements: Entitlements) -> dict[str, V]:
    """The entries of `attributes` (keyed by attribute term) the caller may see.

    Keys that are not attribute terms are dropped: callers add structural members (`id`,
    `type`, links) after filtering, never through it.
    """
    return {
        term: value
        for term, value in attributes.items()
        if (definition := BY_TERM.get(term)) is not None and entitlements.can_see(definition)
    }


def visible_definitions(
    entitlements: Entitlements, *, behaviour: Behaviour | None = None
) -> tuple[AttributeDefinition, ...]:
    """The attribute definitions the caller may see (optionally only static or dynamic)."""
    return tuple(
        definition
        for definition in ATTRIBUTES
        if entitlements.can_see(definition)
        and (behaviour is None or definition.behaviour is behaviour)
    )
