"""Drivers grant and withdraw consent per organisation (DID) and data group.

The data group is a string key named by the access module (e.g. a legitimate-interest group);
this service only checks its shape. `load_grants` answers for a whole batch in one query, for
DataLoaders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.policy import Action, ConsentGrants, Resource, ResourceKind, authorize
from backend.auth.principal import Principal
from backend.consent.models import Consent
from backend.kit.errors import InvalidInputError, NotFoundError
from backend.orgs.roles import Role

_DATA_GROUP: Final = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,79}$")
_DID: Final = re.compile(r"^did:[a-z0-9]+:\S{1,290}$")


def _validate(grantee_did: str, data_group: str) -> None:
    if not _DID.fullmatch(grantee_did):
        raise InvalidInputError("the grantee is an organisation's DID", field="grantee")
    if not _DATA_GROUP.fullmatch(data_group):
        raise InvalidInputError("not a data group name", field="dataGroup")


def _driver_resource(principal: Principal) -> Resource:
    return Resource(ResourceKind.DRIVER, id=principal.driver_id, owner_id=principal.driver_id)


async def active_consents(session: AsyncSession, driver_id: str) -> list[Consent]:
    rows = await session.exec(
        select(Consent)
        .where(Consent.driver_id == driver_id, col(Consent.withdrawn_at).is_(None))
        .order_by(col(Consent.id))
    )
    return list(rows.all())


async def grant_consent(
    session: AsyncSession,
    principal: Principal,
    grantee_did: str,
    data_group: str,
    purpose: str | None = None,
) -> Consent:
    """Grant (idempotent: an active grant for the same pair is returned as it is)."""
    authorize(principal, Action.MANAGE_CONSENT, _driver_resource(principal))
    _validate(grantee_did, data_group)
    assert principal.driver_id is not None
    existing = (
        await session.exec(
            select(Consent).where(
                Consent.driver_id == principal.driver_id,
                Consent.grantee_did == grantee_did,
                Consent.data_group == data_group,
                col(Consent.withdrawn_at).is_(None),
            )
        )
    ).first()
    if existing is not None:
        return existing
    consent = Consent(
        driver_id=principal.driver_id,
        grantee_did=grantee_did,
        data_group=data_group,
        purpose=purpose,
    )
    session.add(consent)
    await session.flush()
    return consent


async def withdraw_consent(
    session: AsyncSession, principal: Principal, grantee_did: str, data_group: str
) -> Consent:
    """Withdraw an active grant; effective for the next authorization check."""
    authorize(principal, Action.MANAGE_CONSENT, _driver_resource(principal))
    _validate(grantee_did, data_group)
    existing = (
        await session.exec(
            select(Consent).where(
                Consent.driver_id == principal.driver_id,
                Consent.grantee_did == grantee_did,
                Consent.data_group == data_group,
                col(Consent.withdrawn_at).is_(None),
            )
        )
    ).first()
    if existing is None:
        raise NotFoundError("no such consent is active", field="dataGroup")
    existing.withdrawn_at = datetime.now(UTC)
    session.add(existing)
    await session.flush()
    return existing


async def withdraw_all(session: AsyncSession, driver_id: str) -> int:
    rows = await active_consents(session, driver_id)
    now = datetime.now(UTC)
    for row in rows:
        row.withdrawn_at = now
        session.add(row)
    await session.flush()
    return len(rows)


async def load_grants(
    session: AsyncSession,
    owner_ids: Iterable[str | None],
    grantee_did: str | None,
    role_groups: Mapping[Role, frozenset[str]] | None = None,
) -> ConsentGrants:
    """The active grants of these owners to one organisation, in one query (plus the access
    module's groups-by-role table, when given, for the policy to use)."""
    owners = sorted({owner for owner in owner_ids if owner is not None})
    if not owners or grantee_did is None:
        return ConsentGrants.of([], role_groups)
    rows = await session.exec(
        select(Consent.driver_id, Consent.data_group).where(
            col(Consent.driver_id).in_(owners),
            Consent.grantee_did == grantee_did,
            col(Consent.withdrawn_at).is_(None),
        )
    )
    return ConsentGrants.of(
        ((owner, grantee_did, group) for owner, group in rows.all()), role_groups
    )
