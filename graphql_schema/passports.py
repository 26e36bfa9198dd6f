"""Battery models, batteries, their passport credentials, verification — types, queries,
mutations.

A `Battery` is always built from a `BatteryView` (backend.access.battery): the caller's
entitlements decide which attributes it returns, so the field, the `node` lookup, a
connection page and a nested object all go through the same policy. Public passport data is
everyone's; restricted attributes come back only for the groups the caller reaches, and each
such read lands in the audit log (`Context.audit`, flushed when the operation ends).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import strawberry
from sqlalchemy import tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.access.audience import Audience
from backend.access.battery import BatteryView
from backend.access.policy import visible_attributes
from backend.auth.policy import Action, Resource, ResourceKind
from backend.issuance import service as issuance
from backend.issuance.models import IssuedCredential
from backend.kit.errors import DomainError, InvalidInputError, NotFoundError
from backend.kit.events import battery_channel, credential_channel
from backend.kit.models import as_utc
from backend.passports import service as passports
from backend.passports.attributes import BY_TERM, AttributeGroup
from backend.passports.issuing import PassportCredentialType
from backend.passports.models import Battery as BatteryRow
from backend.passports.models import BatteryModel as BatteryModelRow
from backend.passports.models import PassportVersion as PassportVersionRow
from backend.passports.service import BatteryRegistration, Measurement, ModelRegistration
from graphql_schema.context import Context
from graphql_schema.errors import PassportError, run_mutation
from graphql_schema.relay import (
    Connection,
    Node,
    decode_cursor,
    from_global_id,
    page_size,
    to_global_id,
)

if TYPE_CHECKING:
    from graphql_schema.lifecycle import Installation, LifecycleEvent
    from graphql_schema.telemetry import LatestState

Info = strawberry.Info[Context, None]
T = TypeVar("T")
Replay = Callable[[AsyncSession, dict[str, Any]], Awaitable[T]]


@strawberry.enum(description="An attribute group of the passport: the unit of consent.")
class DataGroup(Enum):
    IDENTIFICATION = AttributeGroup.IDENTIFICATION.value
    LABELS = AttributeGroup.LABELS.value
    CARBON_FOOTPRINT = AttributeGroup.CARBON_FOOTPRINT.value
    DUE_DILIGENCE = AttributeGroup.DUE_DILIGENCE.value
    MATERIALS = AttributeGroup.MATERIALS.value
    CIRCULARITY = AttributeGroup.CIRCULARITY.value
    PERFORMANCE = AttributeGroup.PERFORMANCE.value


@strawberry.enum(description="Who may read an attribute (Art. 77(2) access groups).")
class AccessClass(Enum):
    PUBLIC = Audience.PUBLIC.value
    LEGITIMATE_INTEREST = Audience.LEGITIMATE_INTEREST.value
    AUTHORITIES = Audience.AUTHORITIES.value


@strawberry.enum
class CredentialStatus(Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


@strawberry.enum(description="The passport credentials a battery carries.")
class PassportCredentialKind(Enum):
    PASSPORT = PassportCredentialType.PASSPORT.value
    CONDITION = PassportCredentialType.CONDITION.value


@strawberry.type(description="A credential the platform issued, with its current status.")
class Credential(Node):
    credential_id: str = strawberry.field(description="The credential's own `id` (a URI).")
    type: str
    issuer: str
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    document: JSON

    @strawberry.field
    def status(self) -> CredentialStatus:
        return CredentialStatus.REVOKED if self.revoked_at is not None else CredentialStatus.ACTIVE

    @classmethod
    def from_row(cls, row: IssuedCredential) -> Credential:
        return cls(
            id=to_global_id("Credential", row.id),
            credential_id=row.credential_id,
            type=row.type,
            issuer=row.issuer_did,
            issued_at=as_utc(row.issued_at),
            revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
            revocation_reason=row.revocation_reason,
            document=cast(JSON, row.document),
        )


async def readable_credential(info: Info, row: IssuedCredential) -> Credential | None:
    """The credential if the caller may read it: a passport credential (public data) is
    everyone's; one carrying restricted data needs that data's access on its battery; one
    about no battery, its issuer (or the platform and authorities)."""
    if row.type == PassportCredentialType.PASSPORT.value:
        return Credential.from_row(row)
    principal = info.context.principal
    if row.battery_id is not None:
        view = await info.context.loaders.battery_view.load(row.battery_id)
        if view is None:
            return None
        decision = view.decide(Action.READ_RESTRICTED, AttributeGroup.PERFORMANCE.value)
        if not decision.allowed:
            return None
        info.context.audit.note(
            Action.READ_RESTRICTED, view.resource, decision, why=f"credential {row.type}"
        )
        return Credential.from_row(row)
    if principal.did is not None and principal.did == row.issuer_did:
        return Credential.from_row(row)
    if principal.role is not None and principal.role.value in ("platform", "authority"):
        return Credential.from_row(row)
    return None


@strawberry.type(description="One passport attribute value the caller may read.")
class AttributeValue:
    term: str = strawberry.field(description="The attribute's term in the passport context.")
    name: str = strawberry.field(description="Its title in the attribute table.")
    group: DataGroup
    access: AccessClass
    value: JSON
    unit: str | None
    measured_at: datetime | None = strawberry.field(description="Dynamic values: when.")
    originator: str | None = strawberry.field(description="Dynamic values: by whom.")
    method: str | None = strawberry.field(description="Dynamic values: how.")
    uncertainty: float | None

    @classmethod
    def of(cls, term: str, rendered: Any) -> AttributeValue:
        definition = BY_TERM[term]
        measured = isinstance(rendered, dict) and rendered.get("type") == "Measurement"
        quantity = isinstance(rendered, dict) and set(rendered) == {"value", "unit"}
        value = rendered["value"] if measured or quantity else rendered
        measured_at = None
        if measured and isinstance(rendered.get("measuredAt"), str):
            measured_at = datetime.fromisoformat(rendered["measuredAt"].replace("Z", "+00:00"))
        return cls(
            term=term,
            name=definition.title,
            group=DataGroup(definition.group.value),
            access=AccessClass(definition.audience.value),
            value=cast(JSON, value),
            unit=(rendered.get("unit") if measured or quantity else definition.symbol),
            measured_at=measured_at,
            originator=rendered.get("originator") if measured else None,
            method=rendered.get("method") if measured else None,
            uncertainty=rendered.get("uncertainty") if measured else None,
        )


@strawberry.type(description="Which attribute groups the caller reaches on this battery.")
class BatteryAccess:
    groups: list[DataGroup]
    authority: bool


@strawberry.type(description="A battery model: the model-level static data of its batteries.")
class BatteryModel(Node):
    model_id: str
    name: str
    manufacturer: str
    chemistry: str
    category: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    attributes: list[AttributeValue] = strawberry.field(
        description="The model's public attributes (restricted ones come through a battery)."
    )

    @classmethod
    def from_row(cls, row: BatteryModelRow) -> BatteryModel:
        from backend.access.policy import PUBLIC

        rendered = visible_attributes(passports.model_attributes(row), PUBLIC)
        return cls(
            id=to_global_id("BatteryModel", row.id),
            model_id=row.id,
            name=row.name,
            manufacturer=row.manufacturer,
            chemistry=row.chemistry,
            category=row.category,
            rated_capacity_ah=row.rated_capacity_ah,
            nominal_voltage_v=row.nominal_voltage_v,
            attributes=[AttributeValue.of(term, value) for term, value in rendered.items()],
        )


@strawberry.type(description="One version of a battery's passport or condition credential.")
class PassportVersion:
    version: int
    credential_type: str
    credential_id: str
    previous_credential_id: str | None
    digest: str = strawberry.field(description="SHA-256 of the JCS of the credential subject.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: PassportVersionRow) -> PassportVersion:
        return cls(
            version=row.version,
            credential_type=row.credential_type,
            credential_id=row.credential_id,
            previous_credential_id=row.previous_credential_id,
            digest=row.digest,
            created_at=as_utc(row.created_at),
        )


@strawberry.type(description="A battery registered on the platform, as the caller may see it.")
class Battery(Node):
    battery_id: str = strawberry.field(description="The battery's UUID.")
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    created_at: datetime
    status: str = strawberry.field(description="Annex XIII battery status (original, …, waste).")
    ceased_at: datetime | None = strawberry.field(
        description="When the passport ceased (recycled, or succeeded by a second life)."
    )
    view: strawberry.Private[BatteryView]

    @strawberry.field(description="The passport identifier: urn:uuid:<battery id>.")
    def passport_id(self) -> str:
        return f"urn:uuid:{self.battery_id}"

    @strawberry.field(description="The attribute groups the caller reaches on this battery.")
    def access(self) -> BatteryAccess:
        entitlements = self.view.entitlements
        groups = sorted(entitlements.legitimate_interest_groups, key=list(AttributeGroup).index)
        return BatteryAccess(
            groups=[DataGroup(group.value) for group in groups], authority=entitlements.authority
        )

    @strawberry.field(
        description="The attribute values the caller may read (optionally of some groups): "
        "public data for everyone, restricted groups by ownership, consent, role or custody."
    )
    async def attributes(
        self, info: Info, groups: list[DataGroup] | None = None
    ) -> list[AttributeValue]:
        model = (
            await info.context.loaders.model.load(self.view.battery.model_id)
            if self.view.battery.model_id is not None
            else None
        )
        every = passports.assemble_attributes(self.view.battery, model)
        visible = visible_attributes(every, self.view.entitlements)
        wanted = {group.value for group in groups} if groups else None
        values = [
            AttributeValue.of(term, value)
            for term, value in visible.items()
            if wanted is None or BY_TERM[term].group.value in wanted
        ]
        restricted = sorted({v.group.value for v in values if v.access is not AccessClass.PUBLIC})
        if restricted:
            info.context.audit.note(
                Action.READ_RESTRICTED,
                self.view.resource,
                self.view.decide(Action.READ_RESTRICTED),
                why="battery attributes",
                details={"groups": restricted},
            )
        return values

    @strawberry.field(
        description="The lifecycle events, oldest first (details only with restricted access)."
    )
    async def events(
        self, info: Info
    ) -> list[Annotated[LifecycleEvent, strawberry.lazy("graphql_schema.lifecycle")]]:
        from graphql_schema.lifecycle import battery_events

        return await battery_events(info, self.view)

    @strawberry.field(
        description="The newest sample's state (restricted: performance data); null without "
        "access or before the first sample."
    )
    async def latest_state(
        self, info: Info
    ) -> Annotated[LatestState, strawberry.lazy("graphql_schema.telemetry")] | None:
        from graphql_schema.telemetry import LatestState

        group = AttributeGroup.PERFORMANCE.value
        decision = self.view.decide(Action.READ_RESTRICTED, group)
        if not decision.allowed:
            return None
        state = await info.context.loaders.telemetry_state.load(self.view.battery.id)
        if state is None or state.samples == 0:
            return None
        resource = replace(self.view.resource, data_group=group)
        info.context.audit.note(Action.READ_RESTRICTED, resource, decision, why="latest state")
        return LatestState.from_row(state)

    @strawberry.field(
        description="Which vehicles the battery sat in (restricted: owner, responsible, holder)."
    )
    async def installations(
        self, info: Info
    ) -> list[Annotated[Installation, strawberry.lazy("graphql_schema.lifecycle")]]:
        from graphql_schema.lifecycle import battery_installations

        return await battery_installations(info, self.view)

    @strawberry.field(description="The battery model.")
    async def battery_model(self, info: Info) -> BatteryModel | None:
        model_id = self.view.battery.model_id
        row = await info.context.loaders.model.load(model_id) if model_id else None
        return BatteryModel.from_row(row) if row is not None else None

    @strawberry.field(
        description="The current BatteryPassportCredential (for a ceased passport its last, "
        "revoked one), if one was issued."
    )
    async def passport(self, info: Info) -> Credential | None:
        row = await info.context.loaders.passport_by_battery.load(self.battery_id)
        return Credential.from_row(row) if row is not None else None

    @strawberry.field(
        description="The current BatteryConditionCredential (legitimate-interest data), if one "
        "was issued and the caller may read it."
    )
    async def condition_credential(self, info: Info) -> Credential | None:
        row = await info.context.loaders.condition_by_battery.load(self.battery_id)
        return await readable_credential(info, row) if row is not None else None

    @strawberry.field(description="Every version of the passport credential, oldest first.")
    async def passport_versions(
        self, info: Info, kind: PassportCredentialKind = PassportCredentialKind.PASSPORT
    ) -> list[PassportVersion]:
        if (
            kind is PassportCredentialKind.CONDITION
            and not self.view.decide(
                Action.READ_RESTRICTED, AttributeGroup.PERFORMANCE.value
            ).allowed
        ):
            return []
        rows = await info.context.loaders.versions.load((self.battery_id, kind.value))
        return [PassportVersion.from_row(row) for row in rows]

    @strawberry.field(
        description="The battery this one was repurposed/re-used/remanufactured from."
    )
    async def predecessor(self, info: Info) -> Battery | None:
        predecessor_id = self.view.battery.predecessor_id
        if predecessor_id is None:
            return None
        view = await info.context.loaders.battery_view.load(predecessor_id)
        return Battery.from_view(view) if view is not None else None

    @strawberry.field(description="The second-life battery that succeeded this one.")
    async def successor(self, info: Info) -> Battery | None:
        successor_id = await info.context.loaders.successor_of.load(self.battery_id)
        if successor_id is None:
            return None
        view = await info.context.loaders.battery_view.load(successor_id)
        return Battery.from_view(view) if view is not None else None

    @classmethod
    def from_view(cls, view: BatteryView) -> Battery:
        row = view.battery
        return cls(
            id=to_global_id("Battery", row.id),
            battery_id=row.id,
            identifier=row.identifier,
            model=row.model,
            manufacturer=row.manufacturer,
            chemistry=row.chemistry,
            rated_capacity_ah=row.rated_capacity_ah,
            nominal_voltage_v=row.nominal_voltage_v,
            created_at=as_utc(row.created_at),
            status=row.status,
            ceased_at=as_utc(row.ceased_at) if row.ceased_at else None,
            view=view,
        )


async def battery_of(info: Info, row: BatteryRow, session: AsyncSession) -> Battery:
    """A row the caller just wrote or read (in `session`), as a `Battery` through the
    caller's view."""
    (view,) = await info.context.loaders.views([row], session)
    return Battery.from_view(view)


async def batteries_of(info: Info, rows: Sequence[BatteryRow]) -> list[Battery]:
    return [Battery.from_view(view) for view in await info.context.loaders.views(rows)]


def battery_id_from(value: str) -> str:
    """A battery's UUID from its global ID, its UUID or its passport id (urn:uuid:…)."""
    try:
        kind, local = from_global_id(value)
    except DomainError:
        return passports.parse_battery_id(value)
    if kind != "Battery":
        raise InvalidInputError(f"id is a {kind}, not a Battery", field="batteryId")
    return passports.parse_battery_id(local)


def model_id_from(value: str) -> str:
    try:
        kind, local = from_global_id(value)
    except DomainError:
        return passports.parse_uuid(value, "modelId")
    if kind != "BatteryModel":
        raise InvalidInputError(f"id is a {kind}, not a BatteryModel", field="modelId")
    return passports.parse_uuid(local, "modelId")


def battery_resource(battery_id: str) -> Resource:
    return Resource(ResourceKind.BATTERY, id=battery_id)


@strawberry.enum
class CheckStatus(Enum):
    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@strawberry.type(description="One verification check and why it ended as it did.")
class VerificationCheck:
    name: str
    status: CheckStatus
    reason: str | None


@strawberry.type(
    description="The verifier's result: verified when no check failed and none required is unknown."
)
class VerificationResult:
    verified: bool
    checks: list[VerificationCheck]
    snapshot_age_s: float | None

    @classmethod
    def from_json(cls, result: dict[str, Any]) -> VerificationResult:
        return cls(
            verified=bool(result["verified"]),
            checks=[
                VerificationCheck(
                    name=check["name"],
                    status=CheckStatus(check["status"]),
                    reason=check.get("reason"),
                )
                for check in result["checks"]
            ],
            snapshot_age_s=result.get("snapshot_age_s"),
        )


# ------------------------------------------------------------------------------ results


@strawberry.type
class RegisterBatterySuccess:
    battery: Battery

    def replay_data(self) -> dict[str, Any]:
        return {"battery_id": self.battery.battery_id}


@strawberry.type
class RegisterBatteryModelSuccess:
    model: BatteryModel
    reissued: list[Credential] = strawberry.field(
        default_factory=list, description="Passports re-issued because the model changed."
    )

    def replay_data(self) -> dict[str, Any]:
        return {"model_id": self.model.model_id, "reissued": [c.id for c in self.reissued]}


@strawberry.type
class IssuePassportSuccess:
    battery: Battery
    credential: Credential
    reissued: bool = strawberry.field(
        default=True, description="False when the data had not changed: the current one."
    )

    def replay_data(self) -> dict[str, Any]:
        return {
            "battery_id": self.battery.battery_id,
            "row_id": from_global_id(self.credential.id)[1],
            "reissued": self.reissued,
        }


@strawberry.type
class UpdateBatterySuccess:
    battery: Battery
    reissued: list[Credential] = strawberry.field(
        description="Credentials re-issued because their data changed (the old ones revoked)."
    )

    def replay_data(self) -> dict[str, Any]:
        return {"battery_id": self.battery.battery_id, "reissued": [c.id for c in self.reissued]}


@strawberry.type
class RevokeCredentialSuccess:
    credential: Credential

    def replay_data(self) -> dict[str, Any]:
        return {"row_id": from_global_id(self.credential.id)[1]}


async def credential_row(session: AsyncSession, global_id: str) -> IssuedCredential:
    row = await session.get(IssuedCredential, from_global_id(global_id)[1])
    if row is None:
        raise NotFoundError("the recorded credential no longer exists")
    return row


def replay_battery(info: Info) -> Replay[RegisterBatterySuccess]:
    async def replay(session: AsyncSession, data: dict[str, Any]) -> RegisterBatterySuccess:
        row = await passports.get_battery(session, data["battery_id"])
        return RegisterBatterySuccess(battery=await battery_of(info, row, session))

    return replay


RegisterBatteryResult = Annotated[
    RegisterBatterySuccess | PassportError, strawberry.union("RegisterBatteryResult")
]
RegisterBatteryModelResult = Annotated[
    RegisterBatteryModelSuccess | PassportError, strawberry.union("RegisterBatteryModelResult")
]
IssuePassportResult = Annotated[
    IssuePassportSuccess | PassportError, strawberry.union("IssuePassportResult")
]
UpdateBatteryResult = Annotated[
    UpdateBatterySuccess | PassportError, strawberry.union("UpdateBatteryResult")
]
RevokeCredentialResult = Annotated[
    RevokeCredentialSuccess | PassportError, strawberry.union("RevokeCredentialResult")
]
VerifyCredentialResult = Annotated[
    VerificationResult | PassportError, strawberry.union("VerifyCredentialResult")
]


# ------------------------------------------------------------------------------- inputs


@strawberry.input
class RegisterBatteryInput:
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    idempotency_key: str | None = None


@strawberry.input(description="A battery of a registered model, with its item-level data.")
class RegisterBatteryOfModelInput:
    model_id: strawberry.ID
    identifier: str
    attributes: JSON | None = strawberry.field(
        default=None, description="Item-level static attributes {term: value}."
    )
    idempotency_key: str | None = None


@strawberry.input(description="A battery model with its model-level static attributes.")
class RegisterBatteryModelInput:
    name: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    category: str = "EV"
    attributes: JSON | None = strawberry.field(
        default=None, description="Model-level static attributes {term: value}."
    )
    idempotency_key: str | None = None


@strawberry.input
class UpdateModelAttributesInput:
    model_id: strawberry.ID
    attributes: JSON
    idempotency_key: str | None = None


@strawberry.input
class UpdateBatteryAttributesInput:
    battery_id: strawberry.ID
    attributes: JSON = strawberry.field(description="Item-level static attributes {term: value}.")
    idempotency_key: str | None = None


@strawberry.input(description="One dynamic value with its provenance (Annex XIII).")
class MeasurementInput:
    term: str
    value: JSON
    measured_at: datetime
    method: str
    originator: str | None = strawberry.field(
        default=None, description="Who measured; defaults to the calling organisation."
    )
    uncertainty: float | None = None


@strawberry.input
class RecordMeasurementsInput:
    battery_id: strawberry.ID
    measurements: list[MeasurementInput]
    idempotency_key: str | None = None


@strawberry.input
class IssuePassportInput:
    battery_id: strawberry.ID
    kind: PassportCredentialKind = PassportCredentialKind.PASSPORT
    idempotency_key: str | None = None


@strawberry.input
class RevokeCredentialInput:
    credential_id: str
    reason: str | None = None
    urgent: bool = strawberry.field(
        default=False, description="Publish on chain at once (accident, theft, fraud)."
    )
    idempotency_key: str | None = None


def request_of(data: Any) -> dict[str, Any]:
    """The input as plain data (for the idempotency request hash), minus the key itself."""
    values = dict(strawberry.asdict(data))
    values.pop("idempotency_key", None)
    return values


def json_object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"{field} must be a JSON object", field=field)
    return value


# ------------------------------------------------------------------------------ queries


async def battery_page(
    session: AsyncSession, *, limit: int, after: str | None
) -> list[tuple[list[Any], BatteryRow]]:
    """Batteries newest first, keyset-paged on (created_at, id)."""
    query = (
        select(BatteryRow)
        .order_by(col(BatteryRow.created_at).desc(), col(BatteryRow.id).desc())
        .limit(limit + 1)
    )
    if after is not None:
        key = decode_cursor(after)
        if len(key) != 2 or not all(isinstance(part, str) for part in key):
            raise InvalidInputError("malformed cursor", field="after")
        created = datetime.fromisoformat(key[0])
        query = query.where(
            tuple_(col(BatteryRow.created_at), col(BatteryRow.id)) < tuple_(created, key[1])
        )
    rows = await session.exec(query)
    return [([as_utc(row.created_at).isoformat(), row.id], row) for row in rows]


@strawberry.type
class BatteryConnection(Connection[Battery]):
    pass


async def node_of(info: Info, kind: str, local: str) -> Node | None:
    """`node(id)`: every kind goes through the same authorization as its typed query."""
    context = info.context
    if kind == "Battery":
        view = await context.loaders.battery_view.load(local)
        return Battery.from_view(view) if view is not None else None
    if kind == "BatteryModel":
        model = await context.loaders.model.load(local)
        return BatteryModel.from_row(model) if model is not None else None
    if kind == "Credential":
        async with context.runtime.db.read_only() as session:
            credential = await session.get(IssuedCredential, local)
        return await readable_credential(info, credential) if credential is not None else None
    return None


@strawberry.type
class PassportQuery:
    @strawberry.field(description="One battery by its global ID, UUID or passport id.")
    async def battery(self, info: Info, id: strawberry.ID) -> Battery | None:
        try:
            battery_id = battery_id_from(str(id))
        except DomainError:
            return None
        view = await info.context.loaders.battery_view.load(battery_id)
        return Battery.from_view(view) if view is not None else None

    @strawberry.field(description="Batteries, newest first (keyset cursors, at most 100 a page).")
    async def batteries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> BatteryConnection:
        limit = page_size(first)
        async with info.context.runtime.db.read_only() as session:
            rows = await battery_page(session, limit=limit, after=after)
        views = await info.context.loaders.views([row for _, row in rows])
        connection = Connection.from_rows(
            [(key, Battery.from_view(view)) for (key, _), view in zip(rows, views, strict=True)],
            limit,
        )
        return BatteryConnection(edges=connection.edges, page_info=connection.page_info)

    @strawberry.field(description="One battery model by its global ID or UUID.")
    async def battery_model(self, info: Info, id: strawberry.ID) -> BatteryModel | None:
        try:
            model_id = model_id_from(str(id))
        except DomainError:
            return None
        row = await info.context.loaders.model.load(model_id)
        return BatteryModel.from_row(row) if row is not None else None

    @strawberry.field(description="A credential the platform issued, by its `id` (a URI).")
    async def credential(self, info: Info, id: str) -> Credential | None:
        async with info.context.runtime.db.read_only() as session:
            row = await issuance.find_credential(session, id)
        return await readable_credential(info, row) if row is not None else None

    @strawberry.field(description="Verify a credential: each check with pass/fail/unknown/skipped.")
    async def verify_credential(self, info: Info, credential: JSON) -> VerifyCredentialResult:
        if not isinstance(credential, dict):
            return PassportError.from_domain(
                InvalidInputError("credential must be a JSON object", field="credential")
            )
        try:
            result = await info.context.runtime.issuance.verify(credential)
        except DomainError as error:
            return PassportError.from_domain(error)
        return VerificationResult.from_json(result)


# ---------------------------------------------------------------------------- mutations


def passports_of(info: Info) -> Any:
    issuer = info.context.runtime.passports
    if issuer is None:
        raise DomainError("passport issuing is not running in this process")
    return issuer


async def credentials_of(session: AsyncSession, ids: Sequence[str]) -> list[Credential]:
    rows = [await session.get(IssuedCredential, row_id) for row_id in ids]
    return [Credential.from_row(row) for row in rows if row is not None]


@strawberry.type
class PassportMutation:
    @strawberry.mutation(description="Register a battery (manufacturer, issuer or platform key).")
    async def register_battery(
        self, info: Info, input: RegisterBatteryInput
    ) -> RegisterBatteryResult:
        data = BatteryRegistration(
            identifier=input.identifier,
            model=input.model,
            manufacturer=input.manufacturer,
            chemistry=input.chemistry,
            rated_capacity_ah=input.rated_capacity_ah,
            nominal_voltage_v=input.nominal_voltage_v,
        )

        async def work(session: AsyncSession) -> RegisterBatterySuccess:
            row = await passports.register_battery(session, info.context.principal, data)
            return RegisterBatterySuccess(battery=await battery_of(info, row, session))

        return await run_mutation(
            info,
            operation="registerBattery",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay_battery(info),
            audit=lambda result: battery_resource(result.battery.battery_id),
        )

    @strawberry.mutation(description="Register a battery of a registered model.")
    async def register_battery_of_model(
        self, info: Info, input: RegisterBatteryOfModelInput
    ) -> RegisterBatteryResult:
        async def work(session: AsyncSession) -> RegisterBatterySuccess:
            row = await passports.register_battery_of_model(
                session,
                info.context.principal,
                model_id_from(str(input.model_id)),
                input.identifier,
                attributes=json_object(input.attributes, "attributes"),
            )
            return RegisterBatterySuccess(battery=await battery_of(info, row, session))

        return await run_mutation(
            info,
            operation="registerBatteryOfModel",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay_battery(info),
            audit=lambda result: battery_resource(result.battery.battery_id),
        )

    @strawberry.mutation(description="Register a battery model with its model-level data.")
    async def register_battery_model(
        self, info: Info, input: RegisterBatteryModelInput
    ) -> RegisterBatteryModelResult:
        async def work(session: AsyncSession) -> RegisterBatteryModelSuccess:
            row = await passports.register_model(
                session,
                info.context.principal,
                ModelRegistration(
                    name=input.name,
                    manufacturer=input.manufacturer,
                    chemistry=input.chemistry,
                    rated_capacity_ah=input.rated_capacity_ah,
                    nominal_voltage_v=input.nominal_voltage_v,
                    category=input.category,
                    attributes=json_object(input.attributes, "attributes"),
                ),
            )
            return RegisterBatteryModelSuccess(model=BatteryModel.from_row(row))

        async def replay(
            session: AsyncSession, data: dict[str, Any]
        ) -> RegisterBatteryModelSuccess:
            row = await passports.get_model(session, data["model_id"])
            return RegisterBatteryModelSuccess(model=BatteryModel.from_row(row))

        return await run_mutation(
            info,
            operation="registerBatteryModel",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(
                ResourceKind.BATTERY, id=f"model:{result.model.model_id}"
            ),
        )

    @strawberry.mutation(
        description="Change a model's static attributes; its batteries' passports are re-issued."
    )
    async def update_model_attributes(
        self, info: Info, input: UpdateModelAttributesInput
    ) -> RegisterBatteryModelResult:
        async def work(session: AsyncSession) -> RegisterBatteryModelSuccess:
            model_id = model_id_from(str(input.model_id))
            versions = await passports_of(info).update_model(
                session,
                info.context.principal,
                model_id,
                json_object(input.attributes, "attributes"),
            )
            row = await passports.get_model(session, model_id)
            return RegisterBatteryModelSuccess(
                model=BatteryModel.from_row(row),
                reissued=[Credential.from_row(v.credential) for v in versions if v.reissued],
            )

        async def replay(
            session: AsyncSession, data: dict[str, Any]
        ) -> RegisterBatteryModelSuccess:
            row = await passports.get_model(session, data["model_id"])
            reissued = await credentials_of(
                session, [from_global_id(gid)[1] for gid in data["reissued"]]
            )
            return RegisterBatteryModelSuccess(model=BatteryModel.from_row(row), reissued=reissued)

        return await run_mutation(
            info,
            operation="updateModelAttributes",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(
                ResourceKind.BATTERY, id=f"model:{result.model.model_id}"
            ),
        )

    @strawberry.mutation(
        description="Change a battery's item-level attributes; changed credentials are re-issued."
    )
    async def update_battery_attributes(
        self, info: Info, input: UpdateBatteryAttributesInput
    ) -> UpdateBatteryResult:
        async def work(session: AsyncSession) -> UpdateBatterySuccess:
            battery_id = battery_id_from(str(input.battery_id))
            versions = await passports_of(info).update_battery(
                session,
                info.context.principal,
                battery_id,
                json_object(input.attributes, "attributes"),
            )
            row = await passports.get_battery(session, battery_id)
            return UpdateBatterySuccess(
                battery=await battery_of(info, row, session),
                reissued=[Credential.from_row(v.credential) for v in versions if v.reissued],
            )

        return await run_mutation(
            info,
            operation="updateBatteryAttributes",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay_update(info),
            audit=lambda result: battery_resource(result.battery.battery_id),
        )

    @strawberry.mutation(
        description="Record dynamic values (SOH, SOCE, …) with provenance; the battery's "
        "condition credential is re-issued when it has one."
    )
    async def record_measurements(
        self, info: Info, input: RecordMeasurementsInput
    ) -> UpdateBatteryResult:
        principal = info.context.principal

        async def work(session: AsyncSession) -> UpdateBatterySuccess:
            if not input.measurements:
                raise InvalidInputError("no measurements", field="measurements")
            battery_id = battery_id_from(str(input.battery_id))
            originator = principal.organisation_slug or principal.subject
            await passports.record_measurements(
                session,
                principal,
                battery_id,
                {
                    m.term: Measurement(
                        value=m.value,
                        measured_at=m.measured_at,
                        originator=m.originator or originator,
                        method=m.method,
                        uncertainty=m.uncertainty,
                    )
                    for m in input.measurements
                },
            )
            versions = await passports_of(info).sync(session, battery_id)
            row = await passports.get_battery(session, battery_id)
            return UpdateBatterySuccess(
                battery=await battery_of(info, row, session),
                reissued=[Credential.from_row(v.credential) for v in versions if v.reissued],
            )

        return await run_mutation(
            info,
            operation="recordMeasurements",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay_update(info),
            audit=lambda result: battery_resource(result.battery.battery_id),
        )

    @strawberry.mutation(
        description="Issue the battery's passport (or condition) credential; a new version "
        "only when its data changed, the previous one revoked and linked."
    )
    async def issue_passport(self, info: Info, input: IssuePassportInput) -> IssuePassportResult:
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> IssuePassportSuccess:
            issued = await passports_of(info).issue(
                session,
                info.context.principal,
                battery_id_from(str(input.battery_id)),
                PassportCredentialType(input.kind.value),
            )
            return IssuePassportSuccess(
                battery=await battery_of(info, issued.battery, session),
                credential=Credential.from_row(issued.credential),
                reissued=issued.reissued,
            )

        async def replay(session: AsyncSession, data: dict[str, Any]) -> IssuePassportSuccess:
            row = await session.get(IssuedCredential, data["row_id"])
            if row is None:
                raise NotFoundError("the recorded credential no longer exists")
            battery = await passports.get_battery(session, data["battery_id"])
            return IssuePassportSuccess(
                battery=await battery_of(info, battery, session),
                credential=Credential.from_row(row),
                reissued=bool(data.get("reissued", True)),
            )

        result = await run_mutation(
            info,
            operation="issuePassport",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: battery_resource(result.battery.battery_id),
        )
        if isinstance(result, IssuePassportSuccess) and result.reissued:
            runtime.issuance.status_changed(urgent=False)
            await runtime.events.publish(
                battery_channel(result.battery.battery_id),
                {"kind": "PASSPORT_ISSUED", "credentialId": result.credential.credential_id},
            )
        return result

    @strawberry.mutation(description="Revoke a credential; the change is published on chain.")
    async def revoke_credential(
        self, info: Info, input: RevokeCredentialInput
    ) -> RevokeCredentialResult:
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> RevokeCredentialSuccess:
            row = await runtime.issuance.revoke(
                session,
                info.context.principal,
                input.credential_id,
                reason=input.reason,
                urgent=input.urgent,
            )
            return RevokeCredentialSuccess(credential=Credential.from_row(row))

        async def replay(session: AsyncSession, data: dict[str, Any]) -> RevokeCredentialSuccess:
            row = await session.get(IssuedCredential, data["row_id"])
            if row is None:
                raise NotFoundError("the recorded credential no longer exists")
            return RevokeCredentialSuccess(credential=Credential.from_row(row))

        result = await run_mutation(
            info,
            operation="revokeCredential",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(
                ResourceKind.CREDENTIAL, id=result.credential.credential_id
            ),
            why=input.reason,
        )
        if isinstance(result, RevokeCredentialSuccess):
            runtime.issuance.status_changed(urgent=input.urgent)
            await runtime.events.publish(
                credential_channel(result.credential.credential_id),
                {"credentialId": result.credential.credential_id, "status": "revoked"},
            )
        return result


def replay_update(info: Info) -> Replay[UpdateBatterySuccess]:
    async def replay(session: AsyncSession, data: dict[str, Any]) -> UpdateBatterySuccess:
        row = await passports.get_battery(session, data["battery_id"])
        reissued = await credentials_of(
            session, [from_global_id(gid)[1] for gid in data["reissued"]]
        )
        return UpdateBatterySuccess(battery=await battery_of(info, row, session), reissued=reissued)

    return replay
