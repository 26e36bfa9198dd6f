"""Battery models, batteries and their attribute data. SQL stays here; the caller's unit of
work commits.

Every attribute write goes through `backend.passports.attributes.validate_value`; the
model's core values (name, manufacturer, chemistry, rated capacity, nominal voltage,
category) are typed columns, the other model-level static attributes are validated JSON
documents per attribute group, item-level data and the latest dynamic values live on the
battery. A ceased battery (recycled, or succeeded by a repurposed passport) refuses writes.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.policy import Entitlements, visible_attributes
from backend.auth.principal import Principal
from backend.kit.errors import AlreadyExistsError, ForbiddenError, InvalidInputError, NotFoundError
from backend.orgs.roles import BATTERY_WRITERS, Role
from backend.passports.attributes import (
    BY_TERM,
    AttributeDefinition,
    AttributeGroup,
    BatteryStatus,
    Behaviour,
    Level,
    render_static,
    validate_value,
)
from backend.passports.errors import PassportCeasedError
from backend.passports.models import Battery, BatteryMeasurement, BatteryModel

# The MOLIT battery ID is at most 24 characters including the production year-month; a
# manufacturer's own id fits the same shape. Upper-case letters, digits and hyphens only, so
# an identifier printed on a label and typed in by a person compares equal.
BATTERY_IDENTIFIER = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,23}$")
CHEMISTRIES = frozenset({"LFP", "NMC", "NCA", "LMO", "LTO", "NMCA", "LMFP", "SODIUM-ION"})
CATEGORIES = frozenset({"EV", "LMT", "SLI", "INDUSTRIAL", "PORTABLE"})
# Model attributes held in typed columns; writing them as attributes would create a second
# copy, so the attribute path refuses them.
COLUMN_TERMS = frozenset(
    {
        "manufacturerInformation",
        "batteryCategory",
        "batteryChemistry",
        "ratedCapacity",
        "nominalVoltage",
    }
)
# Roles that can be a battery's responsible organisation (the operator placing it on the
# market): manufacturers and issuers for new batteries, second-life operators for repurposed,
# re-used and remanufactured ones. Writes also need the organisation to match.
RESPONSIBLE_ROLES = BATTERY_WRITERS | {Role.SECOND_LIFE_OPERATOR}
# Dynamic attributes written by the platform itself, not by a measurement upload.
PLATFORM_DYNAMIC_TERMS = frozenset({"batteryStatus"})


@dataclass(frozen=True, slots=True)
class BatteryRegistration:
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float


@dataclass(frozen=True, slots=True)
class ModelRegistration:
    name: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    category: str = "EV"
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Measurement:
    """A dynamic value with its provenance (Annex XIII: when, by whom, how, how exact)."""

    value: Any
    measured_at: datetime
    originator: str
    method: str
    uncertainty: float | None = None


def _require_text(value: str, field: str, max_length: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInputError(f"{field} is required", field=field)
    if len(cleaned) > max_length:
        raise InvalidInputError(f"{field} is longer than {max_length} characters", field=field)
    return cleaned


def _require_range(value: float, field: str, low: float, high: float, unit: str) -> float:
    if not math.isfinite(value) or not low < value <= high:
        raise InvalidInputError(
            f"{field} must be above {low} and at most {high} {unit}", field=field
        )
    return value


def validate_identifier(identifier: str) -> str:
    cleaned = identifier.strip()
    if not BATTERY_IDENTIFIER.fullmatch(cleaned):
        raise InvalidInputError(
            "a battery identifier is 4-24 upper-case letters, digits or hyphens "
            "(the MOLIT battery ID or the manufacturer's id)",
            field="identifier",
        )
    return cleaned


def validate_chemistry(chemistry: str) -> str:
    cleaned = chemistry.strip().upper()
    if cleaned not in CHEMISTRIES:
        raise InvalidInputError(
            f"unknown chemistry {chemistry!r}; one of {', '.join(sorted(CHEMISTRIES))}",
            field="chemistry",
        )
    return cleaned


def validate_registration(data: BatteryRegistration) -> BatteryRegistration:
    return BatteryRegistration(
        identifier=validate_identifier(data.identifier),
        model=_require_text(data.model, "model", 120),
        manufacturer=_require_text(data.manufacturer, "manufacturer", 200),
        chemistry=validate_chemistry(data.chemistry),
        rated_capacity_ah=_require_range(data.rated_capacity_ah, "ratedCapacityAh", 0, 2000, "Ah"),
        nominal_voltage_v=_require_range(data.nominal_voltage_v, "nominalVoltageV", 0, 1500, "V"),
    )


def _definition(term: str) -> AttributeDefinition:
    definition = BY_TERM.get(term)
    if definition is None:
        raise InvalidInputError(f"{term!r} is not a passport attribute", field=term)
    return definition


def validate_model_attributes(
    attributes: Mapping[str, Any],
) -> dict[AttributeGroup, dict[str, Any]]:
    """Model-level static attributes split by group (`None` values mean "remove")."""
    groups: dict[AttributeGroup, dict[str, Any]] = {}
    for term, value in attributes.items():
        definition = _definition(term)
        if definition.level is not Level.MODEL or definition.behaviour is not Behaviour.STATIC:
            raise InvalidInputError(
                f"{term} is {definition.level.value}-level {definition.behaviour.value} data, "
                "not a model attribute",
                field=term,
            )
        if term in COLUMN_TERMS:
            raise InvalidInputError(f"{term} is a field of the model itself", field=term)
        stored = None if value is None else validate_value(definition, value)
        groups.setdefault(definition.group, {})[term] = stored
    return groups


def validate_item_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Item-level static attributes (`None` values mean "remove")."""
    valid: dict[str, Any] = {}
    for term, value in attributes.items():
        definition = _definition(term)
        if definition.level is not Level.ITEM or definition.behaviour is not Behaviour.STATIC:
            raise InvalidInputError(
                f"{term} is {definition.level.value}-level {definition.behaviour.value} data, "
                "not an item attribute",
                field=term,
            )
        valid[term] = None if value is None else validate_value(definition, value)
    return valid


def _merge(document: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(document)
    for term, value in changes.items():
        if value is None:
            merged.pop(term, None)
        else:
            merged[term] = value
    return merged


def _require_writer(principal: Principal, organisation_id: int) -> None:
    principal.require_role(RESPONSIBLE_ROLES)
    if principal.role is not Role.PLATFORM and principal.organisation_id != organisation_id:
        raise ForbiddenError("only the responsible organisation may change this record")


def ensure_writable(battery: Battery) -> None:
    if battery.ceased_at is not None:
        raise PassportCeasedError(
            f"the passport of battery {battery.identifier} has ceased ({battery.status}); "
            "its record is read-only",
            field="batteryId",
        )


# -- models ------------------------------------------------------------------------------------


async def register_model(
    session: AsyncSession, principal: Principal, data: ModelRegistration
) -> BatteryModel:
    principal.require_role(BATTERY_WRITERS)
    assert principal.organisation_id is not None
    name = _require_text(data.name, "name", 120)
    category = data.category.strip().upper()
    if category not in CATEGORIES:
        raise InvalidInputError(
            f"unknown battery category {data.category!r}; one of {', '.join(sorted(CATEGORIES))}",
            field="category",
        )
    groups = validate_model_attributes(data.attributes)
    taken = (
        await session.exec(
            select(BatteryModel.id).where(
                BatteryModel.organisation_id == principal.organisation_id,
                BatteryModel.name == name,
            )
        )
    ).first()
    if taken is not None:
        raise AlreadyExistsError(f"a battery model {name!r} is already registered", field="name")
    model = BatteryModel(
        id=str(uuid.uuid4()),
        organisation_id=principal.organisation_id,
        name=name,
        manufacturer=_require_text(data.manufacturer, "manufacturer", 200),
        chemistry=validate_chemistry(data.chemistry),
        category=category,
        rated_capacity_ah=_require_range(data.rated_capacity_ah, "ratedCapacityAh", 0, 2000, "Ah"),
        nominal_voltage_v=_require_range(data.nominal_voltage_v, "nominalVoltageV", 0, 1500, "V"),
    )
    for group, values in groups.items():
        setattr(model, group.value, _merge({}, values))
    session.add(model)
    await session.flush()
    return model


def parse_uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value.removeprefix("urn:uuid:")))
    except ValueError:
        raise InvalidInputError(f"{value!r} is not an id (a UUID)", field=field) from None


async def get_model(session: AsyncSession, model_id: str) -> BatteryModel:
    model = await session.get(BatteryModel, parse_uuid(model_id, "modelId"))
    if model is None:
        raise NotFoundError(f"no battery model {model_id}", field="modelId")
    return model


async def update_model_attributes(
    session: AsyncSession, principal: Principal, model_id: str, attributes: Mapping[str, Any]
) -> BatteryModel:
    """Set (or with `None` remove) model-level static attributes; returns the model.

    Passports of the model's batteries are re-issued by the caller
    (`PassportIssuer.sync_model`), which compares each passport's data digest.
    """
    model = await get_model(session, model_id)
    _require_writer(principal, model.organisation_id)
    for group, values in validate_model_attributes(attributes).items():
        setattr(model, group.value, _merge(getattr(model, group.value), values))
    model.updated_at = datetime.now(UTC)
    session.add(model)
    await session.flush()
    return model


def model_attributes(model: BatteryModel) -> dict[str, Any]:
    """Every model-level attribute the model holds, rendered as credentials carry it."""
    stored: dict[str, Any] = {
        "manufacturerInformation": model.manufacturer,
        "batteryCategory": model.category,
        "batteryChemistry": model.chemistry,
        "ratedCapacity": model.rated_capacity_ah,
        "nominalVoltage": model.nominal_voltage_v,
    }
    for group in AttributeGroup:
        stored.update(getattr(model, group.value))
    return {term: render_static(BY_TERM[term], value) for term, value in stored.items()}


async def list_models(session: AsyncSession, organisation_id: int) -> list[BatteryModel]:
    return list(
        await session.exec(
            select(BatteryModel)
            .where(BatteryModel.organisation_id == organisation_id)
            .order_by(col(BatteryModel.name))
        )
    )


# -- batteries ---------------------------------------------------------------------------------


def _status_measurement(status: BatteryStatus, at: datetime, originator: str) -> dict[str, Any]:
    return {
        "type": "Measurement",
        "value": status.value,
        "measuredAt": xsd_datetime(at),
        "originator": originator,
        "method": "lifecycle event",
    }


def xsd_datetime(value: datetime) -> str:
    """UTC, second precision, `Z` (what the credentials' xsd:dateTime terms carry)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def ensure_identifier_free(session: AsyncSession, identifier: str) -> None:
    taken = (await session.exec(select(Battery.id).where(Battery.identifier == identifier))).first()
    if taken is not None:
        raise AlreadyExistsError(
            f"a battery with identifier {identifier} is already registered", field="identifier"
        )


def new_battery(
    model: BatteryModel,
    identifier: str,
    *,
    organisation_id: int,
    originator: str,
    item_data: Mapping[str, Any] | None = None,
    status: BatteryStatus = BatteryStatus.ORIGINAL,
    predecessor_id: str | None = None,
    owner_id: str | None = None,
) -> Battery:
    now = datetime.now(UTC)
    return Battery(
        id=str(uuid.uuid4()),
        identifier=identifier,
        model=model.name,
        manufacturer=model.manufacturer,
        chemistry=model.chemistry,
        rated_capacity_ah=model.rated_capacity_ah,
        nominal_voltage_v=model.nominal_voltage_v,
        organisation_id=organisation_id,
        model_id=model.id,
        status=status.value,
        owner_id=owner_id,
        predecessor_id=predecessor_id,
        item_data=_merge({}, item_data or {}),
        condition={"batteryStatus": _status_measurement(status, now, originator)},
    )


async def register_battery_of_model(
    session: AsyncSession,
    principal: Principal,
    model_id: str,
    identifier: str,
    *,
    attributes: Mapping[str, Any] | None = None,
    owner_id: str | None = None,
) -> Battery:
    model = await get_model(session, model_id)
    _require_writer(principal, model.organisation_id)
    valid_identifier = validate_identifier(identifier)
    item_data = validate_item_attributes(attributes or {})
    await ensure_identifier_free(session, valid_identifier)
    assert principal.organisation_id is not None
    battery = new_battery(
        model,
        valid_identifier,
        organisation_id=model.organisation_id,
        originator=principal.organisation_slug or "platform",
        item_data=item_data,
        owner_id=owner_id,
    )
    session.add(battery)
    await session.flush()
    return battery


async def register_battery(
    session: AsyncSession, principal: Principal, data: BatteryRegistration
) -> Battery:
    """Register a battery by its model's core values (the model is found or created)."""
    principal.require_role(BATTERY_WRITERS)
    assert principal.organisation_id is not None
    valid = validate_registration(data)
    await ensure_identifier_free(session, valid.identifier)
    model = (
        await session.exec(
            select(BatteryModel).where(
                BatteryModel.organisation_id == principal.organisation_id,
                BatteryModel.name == valid.model,
            )
        )
    ).first()
    if model is None:
        model = await register_model(
            session,
            principal,
            ModelRegistration(
                name=valid.model,
                manufacturer=valid.manufacturer,
                chemistry=valid.chemistry,
                rated_capacity_ah=valid.rated_capacity_ah,
                nominal_voltage_v=valid.nominal_voltage_v,
            ),
        )
    elif (
        model.manufacturer,
        model.chemistry,
        model.rated_capacity_ah,
        model.nominal_voltage_v,
    ) != (valid.manufacturer, valid.chemistry, valid.rated_capacity_ah, valid.nominal_voltage_v):
        raise InvalidInputError(
            f"model {valid.model!r} is registered with other core values", field="model"
        )
    battery = new_battery(
        model,
        valid.identifier,
        organisation_id=principal.organisation_id,
        originator=principal.organisation_slug or "platform",
    )
    session.add(battery)
    await session.flush()
    return battery


def parse_battery_id(value: str) -> str:
    """A battery id is its UUID; `urn:uuid:` passport ids are accepted too."""
    raw = value.removeprefix("urn:uuid:")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidInputError(
            f"{value!r} is not a battery id (a UUID)", field="batteryId"
        ) from None


async def get_battery(
    session: AsyncSession, battery_id: str, *, for_update: bool = False
) -> Battery:
    battery = await session.get(Battery, parse_battery_id(battery_id), with_for_update=for_update)
    if battery is None:
        raise NotFoundError(f"no battery {battery_id}", field="batteryId")
    return battery


async def get_writable_battery(
    session: AsyncSession, principal: Principal | None, battery_id: str
) -> Battery:
    """The battery, row-locked, after the writer and ceased checks (None = platform-internal)."""
    battery = await get_battery(session, battery_id, for_update=True)
    if principal is not None:
        _require_writer(principal, battery.organisation_id)
    ensure_writable(battery)
    return battery


async def list_batteries(session: AsyncSession, *, limit: int, after: str | None) -> list[Battery]:
    query = select(Battery).order_by(col(Battery.id)).limit(limit)
    if after is not None:
        query = query.where(col(Battery.id) > after)
    return list(await session.exec(query))


async def count_batteries(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(Battery))).one())


async def set_item_attributes(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    attributes: Mapping[str, Any],
) -> Battery:
    battery = await get_writable_battery(session, principal, battery_id)
    battery.item_data = _merge(battery.item_data, validate_item_attributes(attributes))
    battery.updated_at = datetime.now(UTC)
    session.add(battery)
    await session.flush()
    return battery


def measurement_document(
    definition: AttributeDefinition, measurement: Measurement
) -> dict[str, Any]:
    """A validated measurement as credentials carry it."""
    value = validate_value(definition, measurement.value)
    originator = _require_text(measurement.originator, "originator", 300)
    method = _require_text(measurement.method, "method", 200)
    document: dict[str, Any] = {"type": "Measurement", "value": value}
    if definition.symbol is not None:
        document["unit"] = definition.symbol
    document["measuredAt"] = xsd_datetime(measurement.measured_at)
    document["originator"] = originator
    document["method"] = method
    if measurement.uncertainty is not None:
        if not math.isfinite(measurement.uncertainty) or measurement.uncertainty < 0:
            raise InvalidInputError("uncertainty is a finite number ≥ 0", field="uncertainty")
        document["uncertainty"] = float(measurement.uncertainty)
    return document


async def record_measurements(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    measurements: Mapping[str, Measurement],
) -> Battery:
    """Record dynamic values (history row each; the battery keeps the latest per term).

    A measurement older than the one held does not replace it (uploads arrive out of order).
    """
    battery = await get_writable_battery(session, principal, battery_id)
    for term in measurements:
        definition = _definition(term)
        if definition.behaviour is not Behaviour.DYNAMIC or term in PLATFORM_DYNAMIC_TERMS:
            raise InvalidInputError(f"{term} is not a measured attribute", field=term)
    for term, measurement in measurements.items():
        apply_measurement(session, battery, term, measurement)
    session.add(battery)
    await session.flush()
    return battery


def apply_measurement(
    session: AsyncSession, battery: Battery, term: str, measurement: Measurement
) -> dict[str, Any]:
    """Validate and record one dynamic value on a (locked, writable) battery; the platform's
    own values (e.g. `accidentInformation` from an accident event) come through here too."""
    document = measurement_document(_definition(term), measurement)
    session.add(
        BatteryMeasurement(
            battery_id=battery.id,
            term=term,
            value=document["value"],
            unit=document.get("unit"),
            measured_at=measurement.measured_at,
            originator=document["originator"],
            method=document["method"],
            uncertainty=document.get("uncertainty"),
        )
    )
    held = battery.condition.get(term)
    if held is None or held["measuredAt"] <= document["measuredAt"]:
        battery.condition = {**battery.condition, term: document}
        if term == "stateOfCertifiedEnergy":
            battery.state_of_certified_energy = document["value"]
    battery.updated_at = datetime.now(UTC)
    return document


def set_status(battery: Battery, status: BatteryStatus, at: datetime, originator: str) -> None:
    """The battery's status column and its `batteryStatus` value (lifecycle events only)."""
    battery.status = status.value
    battery.condition = {
        **battery.condition,
        "batteryStatus": _status_measurement(status, at, originator),
    }
    battery.updated_at = datetime.now(UTC)


def numeric_value(value: Any) -> float | None:
    """The number an attribute value holds: a plain number or a measurement's `value`."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


async def battery_attributes(session: AsyncSession, battery: Battery) -> dict[str, Any]:
    """Every attribute value held for the battery, keyed by term, rendered for credentials.

    Unfiltered: callers pass it through `backend.access.policy.visible_attributes`.
    """
    model = await get_model(session, battery.model_id) if battery.model_id is not None else None
    return assemble_attributes(battery, model)


def assemble_attributes(battery: Battery, model: BatteryModel | None) -> dict[str, Any]:
    """`battery_attributes` from rows already loaded (a DataLoader's batch)."""
    values: dict[str, Any] = {}
    if model is not None:
        values.update(model_attributes(model))
    else:  # registered before models existed
        values.update(
            {
                "manufacturerInformation": battery.manufacturer,
                "batteryChemistry": battery.chemistry,
                "ratedCapacity": render_static(BY_TERM["ratedCapacity"], battery.rated_capacity_ah),
                "nominalVoltage": render_static(
                    BY_TERM["nominalVoltage"], battery.nominal_voltage_v
                ),
            }
        )
    values["batteryPassportIdentifier"] = passport_id(battery)
    values["batteryIdentifier"] = battery.identifier
    values.update(
        {term: render_static(BY_TERM[term], value) for term, value in battery.item_data.items()}
    )
    values.update(battery.condition)
    return values


async def readable_attributes(
    session: AsyncSession, battery: Battery, entitlements: Entitlements
) -> dict[str, Any]:
    """The battery's attribute values this caller may read (GraphQL fields, exports, pages)."""
    return visible_attributes(await battery_attributes(session, battery), entitlements)


def passport_id(battery: Battery) -> str:
    return f"urn:uuid:{battery.id}"


async def measurement_history(
    session: AsyncSession, battery_id: str, term: str, *, limit: int = 100
) -> list[BatteryMeasurement]:
    _definition(term)
    return list(
        await session.exec(
            select(BatteryMeasurement)
            .where(BatteryMeasurement.battery_id == battery_id, BatteryMeasurement.term == term)
            .order_by(col(BatteryMeasurement.measured_at).desc())
            .limit(limit)
        )
    )
