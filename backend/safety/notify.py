"""What a committed safety change announces: the battery's subscription channel (the owner's
app), the parking cache (the next gate decision reads fresh), an urgent status-list publish
(suspended or resumed charging credentials). Called after the unit of work committed; Redis
trouble is logged, never raised (the change itself is stored)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from redis.exceptions import RedisError

from backend.kit.events import battery_channel
from backend.safety.service import Notice, open_alerts

if TYPE_CHECKING:
    from backend.runtime import Runtime

log = structlog.get_logger("bpp.safety")


async def publish(runtime: Runtime, notices: Sequence[Notice]) -> None:
    if not notices:
        return
    if any(n.credentials_changed for n in notices):
        runtime.issuance.status_changed(urgent=True)
    try:
        await runtime.parking.invalidate(n.battery_id for n in notices)
        for notice in notices:
            await runtime.events.publish(
                battery_channel(notice.battery_id),
                {
                    "kind": notice.kind,
                    "batteryId": notice.battery_id,
                    "eventId": notice.event_id,
                    "alertId": notice.alert_id,
                    "rule": notice.rule,
                    "severity": notice.severity,
                },
            )
    except (RedisError, OSError) as error:
        log.warning("safety notices not published", error=type(error).__name__)
    if runtime.outbox is not None:
        runtime.outbox.wake()


async def announce_accident(runtime: Runtime, battery_id: str, event_id: str) -> None:
    """After a committed accident event: announce the alert it opened (if it opened one)."""
    async with runtime.db.read_only() as session:
        alerts = await open_alerts(session, battery_id)
    notices = [
        Notice(
            kind="SAFETY_ALERT",
            battery_id=battery_id,
            alert_id=alert.id,
            rule=alert.rule,
            severity=alert.severity,
            event_id=alert.event_id,
            credentials_changed=1,
        )
        for alert in alerts
        if alert.rule == "accident" and alert.evidence.get("lifecycleEvent") == event_id
    ]
    await publish(runtime, notices)
