"""What the passport page shows, read through the one access policy.

Everything restricted comes from a `BatteryView` (`backend.access.battery.battery_views`):
the public section is filtered with public entitlements, the restricted section with the
caller's, the SOH history only when the caller's view reaches the `performance` group, and
the telemetry histograms through `battery_telemetry` (which authorizes and audits itself).
Restricted reads are noted on the request's `AuditTrail`; the route flushes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.battery import BatteryView, battery_views
from backend.access.policy import PUBLIC, Entitlements, visible_attributes
from backend.audit.service import AuditTrail
from backend.auth.policy import Action
from backend.auth.principal import Principal
from backend.issuance.models import IssuedCredential, StatusList
from backend.kit.models import as_utc
from backend.passports import service as passports
from backend.passports.attributes import BY_TERM, AttributeGroup
from backend.passports.issuing import PassportCredentialType, version_chain
from backend.passports.models import Battery, BatteryModel
from backend.telemetry.service import BatteryTelemetry, battery_telemetry
from backend.web.charts import BarChart, LineChart, bar_chart, line_chart

SOH_TERM: Final = "stateOfCertifiedEnergy"
"""The SOH of the passport: Annex XIII 'state of certified energy' (SOCE), in %."""

BADGES: Final = ("valid", "suspended", "revoked", "ceased", "none")


@dataclass(frozen=True, slots=True)
class AttributeRow:
    term: str
    title: str
    value: str
    unit: str | None
    measured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupSection:
    group: str
    rows: list[AttributeRow]


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    created_at: datetime
    credential_id: str
    revoked: bool


@dataclass
class PassportPage:
    battery: Battery
    model: BatteryModel | None
    view: BatteryView
    badge: str
    credential: IssuedCredential | None
    public: list[GroupSection]
    restricted: list[GroupSection] | None = None
    versions: list[VersionRow] = field(default_factory=list)
    predecessor_id: str | None = None
    successor_id: str | None = None
    soh_chart: LineChart | None = None
    soc_chart: BarChart | None = None
    temperature_chart: BarChart | None = None
    telemetry_samples: int = 0

    @property
    def authorised(self) -> bool:
        return self.restricted is not None


def render_value(value: Any) -> str:
    """A stored attribute value as text for a person (lists joined, objects as compact JSON)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def attribute_row(term: str, rendered: Any) -> AttributeRow:
    """One row; measurements and quantities are unwrapped into value, unit and time."""
    definition = BY_TERM[term]
    measured = isinstance(rendered, dict) and rendered.get("type") == "Measurement"
    quantity = isinstance(rendered, dict) and set(rendered) == {"value", "unit"}
    value = rendered["value"] if measured or quantity else rendered
    unit = rendered.get("unit") if measured or quantity else definition.symbol
    measured_at = None
    if measured and isinstance(rendered.get("measuredAt"), str):
        try:
            measured_at = datetime.fromisoformat(rendered["measuredAt"].replace("Z", "+00:00"))
        except ValueError:
            measured_at = None
    return AttributeRow(term, definition.title, render_value(value), unit, measured_at)


def grouped(
    values: dict[str, Any], keep: Callable[[str], bool] | None = None
) -> list[GroupSection]:
    """Attribute values by group, in the attribute table's order."""
    sections = []
    for group in AttributeGroup:
        rows = [
            attribute_row(term, value)
            for term, value in sorted(values.items(), key=lambda item: BY_TERM[item[0]].no)
            if BY_TERM[term].group is group and (keep is None or keep(term))
        ]
        if rows:
            sections.append(GroupSection(group.value, rows))
    return sections


async def find_battery(session: AsyncSession, battery_id: str) -> Battery | None:
    return await session.get(Battery, battery_id)


async def passport_credential(session: AsyncSession, battery_id: str) -> IssuedCredential | None:
    """The active passport credential, or for a ceased passport the last (revoked) one."""
    rows = list(
        await session.exec(
            select(IssuedCredential)
            .where(
                IssuedCredential.battery_id == battery_id,
                IssuedCredential.type == PassportCredentialType.PASSPORT.value,
            )
            .order_by(col(IssuedCredential.issued_at))
        )
    )
    active = [row for row in rows if row.revoked_at is None]
    if active:
        return active[-1]
    return rows[-1] if rows else None


def _status_entries(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    raw = document.get("credentialStatus")
    entries = raw if isinstance(raw, list) else [raw]
    return [entry for entry in entries if isinstance(entry, dict)]


async def suspended(session: AsyncSession, document: dict[str, Any], base_url: str) -> bool:
    """Whether a suspension entry of the credential points at a set bit of one of the
    platform's own status lists (lists elsewhere are the verifier's business)."""
    prefix = f"{base_url}/status/"
    for entry in _status_entries(document):
        url = entry.get("statusListCredential")
        if entry.get("statusPurpose") != "suspension" or not isinstance(url, str):
            continue
        if not url.startswith(prefix):
            continue
        status_list = await session.get(StatusList, url.removeprefix(prefix))
        try:
            index = int(entry.get("statusListIndex", -1))
        except (TypeError, ValueError):
            continue
        if (
            status_list is not None
            and 0 <= index < len(status_list.bits)
            and status_list.bits[index]
        ):
            return True
    return False


async def badge_of(
    session: AsyncSession, battery: Battery, credential: IssuedCredential | None, base_url: str
) -> str:
    """valid / suspended / revoked / ceased, or none before the first passport."""
    if battery.ceased_at is not None:
        return "ceased"
    if credential is None:
        return "none"
    if credential.revoked_at is not None:
        return "revoked"
    if await suspended(session, credential.document, base_url):
        return "suspended"
    return "valid"


async def versions_of(session: AsyncSession, battery_id: str) -> list[VersionRow]:
    chain = await version_chain(session, battery_id, PassportCredentialType.PASSPORT)
    ids = [row.credential_id for row in chain]
    revoked: dict[str, bool] = {}
    if ids:
        rows = await session.exec(
            select(IssuedCredential.credential_id, IssuedCredential.revoked_at).where(
                col(IssuedCredential.credential_id).in_(ids)
            )
        )
        revoked = {credential_id: at is not None for credential_id, at in rows.all()}
    return [
        VersionRow(
            row.version,
            as_utc(row.created_at),
            row.credential_id,
            revoked.get(row.credential_id, False),
        )
        for row in chain
    ]


async def successor_of(session: AsyncSession, battery_id: str) -> str | None:
    found = await session.exec(select(Battery.id).where(Battery.predecessor_id == battery_id))
    return found.first()


async def soh_chart(session: AsyncSession, battery_id: str) -> LineChart | None:
    history = await passports.measurement_history(session, battery_id, SOH_TERM, limit=200)
    points = [
        (as_utc(row.measured_at), number)
        for row in reversed(history)
        if (number := passports.numeric_value(row.value)) is not None
    ]
    return line_chart(points) if points else None


def _histograms(telemetry: BatteryTelemetry) -> tuple[BarChart | None, BarChart | None]:
    charts: list[BarChart | None] = []
    for histogram in (telemetry.soc_histogram, telemetry.temperature_histogram):
        if histogram is None or not any(histogram.counts):
            charts.append(None)
        else:
            charts.append(bar_chart(histogram.edges, histogram.counts, histogram.unit))
    return charts[0], charts[1]


async def load_page(
    session: AsyncSession,
    principal: Principal,
    battery: Battery,
    *,
    organisation_did: Callable[[str], str],
    base_url: str,
    audit: AuditTrail,
) -> PassportPage:
    """Everything the page shows for this caller; restricted reads noted on `audit`."""
    (view,) = await battery_views(session, principal, [battery], organisation_did)
    model = await session.get(BatteryModel, battery.model_id) if battery.model_id else None
    every = passports.assemble_attributes(battery, model)
    credential = await passport_credential(session, battery.id)
    page = PassportPage(
        battery=battery,
        model=model,
        view=view,
        badge=await badge_of(session, battery, credential, base_url),
        credential=credential,
        public=grouped(visible_attributes(every, PUBLIC)),
        versions=await versions_of(session, battery.id),
        predecessor_id=battery.predecessor_id,
        successor_id=await successor_of(session, battery.id),
    )
    entitlements: Entitlements = view.entitlements
    if not (entitlements.legitimate_interest_groups or entitlements.authority):
        return page
    visible = visible_attributes(every, entitlements)
    public_terms = set(visible_attributes(every, PUBLIC))
    page.restricted = grouped(visible, lambda term: term not in public_terms)
    shown = sorted({section.group for section in page.restricted})
    decision = view.decide(Action.READ_RESTRICTED)
    audit.note(
        Action.READ_RESTRICTED,
        view.resource,
        decision,
        why="passport page",
        details={"groups": shown},
    )
    performance = view.decide(Action.READ_RESTRICTED, AttributeGroup.PERFORMANCE.value)
    if performance.allowed:
        page.soh_chart = await soh_chart(session, battery.id)
        telemetry = await battery_telemetry(
            session, principal, battery.id, organisation_did, audit=audit
        )
        page.telemetry_samples = telemetry.samples
        page.soc_chart, page.temperature_chart = _histograms(telemetry)
    return page
