"""What one caller may do with a batch of batteries: the bridge from rows to the policy.

`battery_views(session, principal, batteries, organisation_did)` loads what the policy needs
for a whole batch in two queries (the responsible organisations, the owners' consents to the
caller) and answers, per battery, the `Resource` the policy decides on and the caller's
`Entitlements` — which attribute groups it sees. GraphQL resolvers, DataLoaders, `node`
lookups, exports and pages all come through here, so one policy answers every read path.

Custody (who holds the battery now) is the battery's owner when that owner is an
organisation's DID (ownership transferred to a second-life operator or recycler), or an
organisation the owning driver handed the vehicle to by granting it the `custody` consent
(a workshop for a repair).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.policy import ROLE_GROUPS, Entitlements
from backend.auth.policy import (
    Action,
    ConsentGrants,
    Decision,
    Resource,
    ResourceKind,
    decide,
)
from backend.auth.principal import Principal, PrincipalKind
from backend.consent.service import load_grants
from backend.orgs.models import Organisation
from backend.passports.attributes import AttributeGroup
from backend.passports.models import Battery

CUSTODY_GROUP: Final = "custody"
"""The consent a driver grants an organisation while it holds the vehicle (a workshop)."""

CONSENT_GROUPS: Final = frozenset({*(group.value for group in AttributeGroup), CUSTODY_GROUP})

_ROLE_GROUPS: Final = {role: frozenset(map(str, groups)) for role, groups in ROLE_GROUPS.items()}


@dataclass(frozen=True, slots=True)
class BatteryView:
    """One battery as one caller sees it."""

    battery: Battery
    principal: Principal
    resource: Resource
    consents: ConsentGrants
    entitlements: Entitlements

    def decide(self, action: Action, data_group: str | None = None) -> Decision:
        """The policy's answer for this caller on this battery (optionally one data group)."""
        resource = self.resource
        if data_group != resource.data_group:
            resource = Resource(
                resource.kind,
                id=resource.id,
                owner_id=resource.owner_id,
                responsible_did=resource.responsible_did,
                custodian_did=resource.custodian_did,
                data_group=data_group,
            )
        return decide(self.principal, action, resource, self.consents)


def custodian_of(battery: Battery, principal: Principal, consents: ConsentGrants) -> str | None:
    owner = battery.owner_id
    if owner is not None and owner.startswith("did:"):
        return owner
    if principal.did is not None and consents.allows(owner, principal.did, CUSTODY_GROUP):
        return principal.did
    return None


def entitlements_on(
    principal: Principal, resource: Resource, consents: ConsentGrants
) -> Entitlements:
    """The attribute groups the policy lets this caller read on this battery."""
    if principal.kind is PrincipalKind.ANONYMOUS:
        return Entitlements.public()
    if decide(principal, Action.READ_AUTHORITY, resource, consents).allowed:
        return Entitlements.authorities()
    groups = [
        group
        for group in AttributeGroup
        if decide(
            principal,
            Action.READ_RESTRICTED,
            Resource(
                resource.kind,
                id=resource.id,
                owner_id=resource.owner_id,
                responsible_did=resource.responsible_did,
                custodian_did=resource.custodian_did,
                data_group=group.value,
            ),
            consents,
        ).allowed
    ]
    return Entitlements.legitimate_interest(groups)


async def battery_views(
    session: AsyncSession,
    principal: Principal,
    batteries: Sequence[Battery],
    organisation_did: Callable[[str], str],
) -> list[BatteryView]:
    """A view per battery, in order; two queries for the whole batch."""
    organisation_ids = sorted({battery.organisation_id for battery in batteries})
    slugs: dict[int, str] = {}
    if organisation_ids:
        rows = await session.exec(
            select(Organisation.id, Organisation.slug).where(
                col(Organisation.id).in_(organisation_ids)
            )
        )
        slugs = {row_id: slug for row_id, slug in rows.all() if row_id is not None}
    consents = (
        await load_grants(
            session, (battery.owner_id for battery in batteries), principal.did, _ROLE_GROUPS
        )
        if principal.kind is PrincipalKind.ORGANISATION
        else ConsentGrants.of([], _ROLE_GROUPS)
    )
    views = []
    for battery in batteries:
        slug = slugs.get(battery.organisation_id)
        resource = Resource(
            ResourceKind.BATTERY,
            id=battery.id,
            owner_id=battery.owner_id,
            responsible_did=organisation_did(slug) if slug is not None else None,
            custodian_did=custodian_of(battery, principal, consents),
        )
        views.append(
            BatteryView(
                battery=battery,
                principal=principal,
                resource=resource,
                consents=consents,
                entitlements=entitlements_on(principal, resource, consents),
            )
        )
    return views
