"""Per-request GraphQL context: the runtime, the caller, and request-scoped DataLoaders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import strawberry
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from backend.access.battery import BatteryView, battery_views
from backend.audit.service import AuditTrail
from backend.auth.principal import ANONYMOUS, Principal
from backend.issuance.models import IssuedCredential
from backend.kit.errors import DomainError
from backend.lifecycle.models import LifecycleEvent
from backend.passports.issuing import PassportCredentialType
from backend.passports.models import Battery, BatteryModel, PassportVersion
from backend.platform import PLATFORM_SLUG
from backend.telemetry.models import TelemetryState
from backend.vehicles.models import Installation

if TYPE_CHECKING:
    from backend.runtime import Runtime


class Loaders:
    """DataLoaders of one request: each batches the lookups of a whole result into one query."""

    def __init__(self, runtime: Runtime, principal: Principal) -> None:
        self.runtime = runtime
        self.principal = principal
        self.passport_by_battery: DataLoader[str, IssuedCredential | None] = DataLoader(
            self._passports
        )
        self.condition_by_battery: DataLoader[str, IssuedCredential | None] = DataLoader(
            self._conditions
        )
        self.battery_view: DataLoader[str, BatteryView | None] = DataLoader(self._views)
        self.model: DataLoader[str, BatteryModel | None] = DataLoader(self._models)
        self.events_by_battery: DataLoader[str, list[LifecycleEvent]] = DataLoader(self._events)
        self.installations_by_battery: DataLoader[str, list[Installation]] = DataLoader(
            self._installations
        )
        self.successor_of: DataLoader[str, str | None] = DataLoader(self._successors)
        self.versions: DataLoader[tuple[str, str], list[PassportVersion]] = DataLoader(
            self._versions
        )
        self.telemetry_state: DataLoader[str, TelemetryState | None] = DataLoader(
            self._telemetry_states
        )

    def organisation_did(self, slug: str) -> str:
        platform = self.runtime.platform
        return platform.did if slug == PLATFORM_SLUG else platform.organisation_did(slug)

    async def views(
        self, batteries: Sequence[Battery], session: AsyncSession | None = None
    ) -> list[BatteryView]:
        """Views of rows the caller already holds (a page, or a row a mutation just wrote, in
        the mutation's own session); primes the view loader too."""
        if session is None:
            async with self.runtime.db.read_only() as reader:
                views = await battery_views(
                    reader, self.principal, batteries, self.organisation_did
                )
        else:
            views = await battery_views(session, self.principal, batteries, self.organisation_did)
        for view in views:
            self.battery_view.prime(view.battery.id, view, force=True)
        return views

    async def _views(self, battery_ids: Sequence[str]) -> list[BatteryView | None]:
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(select(Battery).where(col(Battery.id).in_(battery_ids)))
            views = await battery_views(
                session, self.principal, list(rows.all()), self.organisation_did
            )
        found = {view.battery.id: view for view in views}
        return [found.get(battery_id) for battery_id in battery_ids]

    async def _passports(self, battery_ids: Sequence[str]) -> list[IssuedCredential | None]:
        """The active passport credential of each battery; for a ceased passport (recycled,
        succeeded by a second life) the last one, revoked — the record stays readable."""
        active: dict[str, IssuedCredential] = {}
        last: dict[str, IssuedCredential] = {}
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(IssuedCredential)
                .where(
                    col(IssuedCredential.battery_id).in_(battery_ids),
                    IssuedCredential.type == PassportCredentialType.PASSPORT.value,
                )
                .order_by(col(IssuedCredential.issued_at))
            )
            for row in rows.all():
                assert row.battery_id is not None
                last[row.battery_id] = row
                if row.revoked_at is None:
                    active[row.battery_id] = row
        return [active.get(key) or last.get(key) for key in battery_ids]

    async def _conditions(self, battery_ids: Sequence[str]) -> list[IssuedCredential | None]:
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(IssuedCredential)
                .where(
                    col(IssuedCredential.battery_id).in_(battery_ids),
                    IssuedCredential.type == PassportCredentialType.CONDITION.value,
                    col(IssuedCredential.revoked_at).is_(None),
                )
                .order_by(col(IssuedCredential.issued_at))
            )
            found = {row.battery_id: row for row in rows.all()}
        return [found.get(battery_id) for battery_id in battery_ids]

    async def _models(self, model_ids: Sequence[str]) -> list[BatteryModel | None]:
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(BatteryModel).where(col(BatteryModel.id).in_(model_ids))
            )
            found = {row.id: row for row in rows.all()}
        return [found.get(model_id) for model_id in model_ids]

    async def _events(self, battery_ids: Sequence[str]) -> list[list[LifecycleEvent]]:
        grouped: dict[str, list[LifecycleEvent]] = {battery_id: [] for battery_id in battery_ids}
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(LifecycleEvent)
                .where(col(LifecycleEvent.battery_id).in_(battery_ids))
                .order_by(col(LifecycleEvent.battery_id), col(LifecycleEvent.sequence))
            )
            for row in rows.all():
                grouped[row.battery_id].append(row)
        return [grouped[battery_id] for battery_id in battery_ids]

    async def _telemetry_states(self, battery_ids: Sequence[str]) -> list[TelemetryState | None]:
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(TelemetryState).where(col(TelemetryState.battery_id).in_(battery_ids))
            )
            found = {row.battery_id: row for row in rows.all()}
        return [found.get(battery_id) for battery_id in battery_ids]

    async def _successors(self, battery_ids: Sequence[str]) -> list[str | None]:
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(Battery.id, Battery.predecessor_id).where(
                    col(Battery.predecessor_id).in_(battery_ids)
                )
            )
            found = {predecessor: successor for successor, predecessor in rows.all()}
        return [found.get(battery_id) for battery_id in battery_ids]

    async def _versions(self, keys: Sequence[tuple[str, str]]) -> list[list[PassportVersion]]:
        """(battery id, credential type) → its versions, oldest first."""
        grouped: dict[tuple[str, str], list[PassportVersion]] = {key: [] for key in keys}
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(PassportVersion)
                .where(col(PassportVersion.battery_id).in_({key[0] for key in keys}))
                .order_by(col(PassportVersion.version))
            )
            for row in rows.all():
                key = (row.battery_id, row.credential_type)
                if key in grouped:
                    grouped[key].append(row)
        return [grouped[key] for key in keys]

    async def _installations(self, battery_ids: Sequence[str]) -> list[list[Installation]]:
        grouped: dict[str, list[Installation]] = {battery_id: [] for battery_id in battery_ids}
        async with self.runtime.db.read_only() as session:
            rows = await session.exec(
                select(Installation)
                .where(col(Installation.battery_id).in_(battery_ids))
                .order_by(col(Installation.installed_at), col(Installation.id))
            )
            for row in rows.all():
                grouped[row.battery_id].append(row)
        return [grouped[battery_id] for battery_id in battery_ids]


@dataclass
class Context(BaseContext):
    runtime: Runtime
    principal: Principal
    presented_credentials: bool
    # Why a presented bearer token was refused (expired, revoked, malformed): the request then
    # runs as anonymous, and a write answers UNAUTHENTICATED.
    auth_error: DomainError | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    loaders: Loaders = field(init=False)
    # Restricted reads of this request, written to the audit log when the operation ends.
    audit: AuditTrail = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = Loaders(self.runtime, self.principal)
        self.audit = AuditTrail(self.principal, self.request_id)


Info = strawberry.Info[Context, None]


async def resolve_principal(
    runtime: Runtime, authorization: str | None
) -> tuple[Principal, DomainError | None]:
    """The caller behind `Authorization: Bearer …` (API key, access token, trusted OIDC)."""
    if runtime.auth is None:
        return ANONYMOUS, None
    try:
        return await runtime.auth.resolver.resolve_header(authorization), None
    except DomainError as error:
        return ANONYMOUS, error


async def get_context(connection: HTTPConnection) -> Context:
    """Context of an HTTP request or a WebSocket connection (subscriptions)."""
    runtime: Runtime = connection.app.state.runtime
    authorization = connection.headers.get("authorization")
    principal, error = await resolve_principal(runtime, authorization)
    return Context(
        runtime=runtime,
        principal=principal,
        presented_credentials=authorization is not None,
        auth_error=error,
        request_id=connection.scope.get("state", {}).get("request_id") or str(uuid.uuid4()),
    )
