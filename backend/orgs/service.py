"""Organisations and API keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import ANONYMOUS, Principal
from backend.kit.errors import InvalidInputError, NotFoundError
from backend.orgs.apikeys import api_key_matches, generate_api_key, hash_api_key, parse_api_key
from backend.orgs.models import ApiKey, Organisation
from backend.orgs.roles import Role

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug):
        raise InvalidInputError(
            "an organisation slug is 1-64 lowercase letters, digits and inner hyphens",
            field="slug",
        )
    return slug


async def get_or_create_organisation(
    session: AsyncSession, slug: str, name: str | None = None
) -> Organisation:
    validate_slug(slug)
    existing = (await session.exec(select(Organisation).where(Organisation.slug == slug))).first()
    if existing is not None:
        return existing
    organisation = Organisation(slug=slug, name=name or slug)
    session.add(organisation)
    await session.flush()
    return organisation


async def get_organisation(session: AsyncSession, slug: str) -> Organisation:
    found = (await session.exec(select(Organisation).where(Organisation.slug == slug))).first()
    if found is None:
        raise NotFoundError(f"no organisation {slug!r}", field="slug")
    return found


async def create_api_key(
    session: AsyncSession,
    organisation: Organisation,
    role: Role,
    secret_key: str,
    label: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    assert organisation.id is not None
    new = generate_api_key()
    row = ApiKey(
        organisation_id=organisation.id,
        role=role.value,
        prefix=new.prefix,
        key_hash=hash_api_key(new.plaintext, secret_key),
        label=label,
    )
    session.add(row)
    await session.flush()
    return row, new.plaintext


async def revoke_api_key(session: AsyncSession, prefix: str) -> ApiKey:
    row = (await session.exec(select(ApiKey).where(ApiKey.prefix == prefix))).first()
    if row is None:
        raise NotFoundError(f"no API key with prefix {prefix!r}", field="prefix")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
    return row


async def authenticate_api_key(session: AsyncSession, plaintext: str, secret_key: str) -> Principal:
    """The principal of a valid, unrevoked key; anonymous for anything else."""
    prefix = parse_api_key(plaintext)
    if prefix is None:
        return ANONYMOUS
    row = (await session.exec(select(ApiKey).where(ApiKey.prefix == prefix))).first()
    if row is None or row.revoked_at is not None:
        return ANONYMOUS
    if not api_key_matches(plaintext, row.key_hash, secret_key):
        return ANONYMOUS
    organisation = await session.get(Organisation, row.organisation_id)
    assert organisation is not None
    return Principal(
        organisation_id=organisation.id,
        organisation_slug=organisation.slug,
        role=Role(row.role),
        api_key_id=row.id,
    )
