"""Subscriptions (graphql-transport-ws only), fed by Redis pub/sub across API processes."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from backend.kit.events import battery_channel, credential_channel
from graphql_schema.passports import CredentialStatus, Info, battery_id_from


@strawberry.type(description="A credential's status changed.")
class CredentialStatusEvent:
    credential_id: str
    status: CredentialStatus


@strawberry.type(
    description="Something happened to a battery: PASSPORT_ISSUED, or a lifecycle event kind "
    "(INSTALLED, REMOVED, ACCIDENT, …) with its event id."
)
class BatteryEvent:
    battery_id: str
    kind: str
    credential_id: str | None
    event_id: str | None = None


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Status changes of one credential, as they happen.")
    async def credential_status(
        self, info: Info, credential_id: str
    ) -> AsyncGenerator[CredentialStatusEvent, None]:
        async for event in info.context.runtime.events.subscribe(credential_channel(credential_id)):
            yield CredentialStatusEvent(
                credential_id=str(event["credentialId"]),
                status=CredentialStatus(event["status"]),
            )

    @strawberry.subscription(description="Lifecycle events of one battery, as they happen.")
    async def battery_events(
        self, info: Info, battery_id: strawberry.ID
    ) -> AsyncGenerator[BatteryEvent, None]:
        local = battery_id_from(str(battery_id))
        async for event in info.context.runtime.events.subscribe(battery_channel(local)):
            yield BatteryEvent(
                battery_id=local,
                kind=str(event["kind"]),
                credential_id=event.get("credentialId"),
                event_id=event.get("eventId"),
            )
