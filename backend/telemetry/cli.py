"""`bpp devices …` (gateways of an organisation) and `bpp telemetry compact` (retention).

The device commands are the operator's: they act for the organisation named by `--org` with
the platform's authority (the same checks as the GraphQL mutations, audited likewise).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from backend.admin import open_admin
from backend.auth.principal import Principal
from backend.kit.errors import DomainError
from backend.kit.models import as_utc
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.settings import Settings
from backend.telemetry import devices
from backend.telemetry.compaction import compact
from backend.telemetry.models import TelemetryDevice

devices_app = typer.Typer(
    help="BLE gateways (did:key devices) of organisations.", no_args_is_help=True
)
telemetry_app = typer.Typer(help="Telemetry storage.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organisation slug, e.g. charge-co.")]


def _settings() -> Settings:
    from backend.cli import load_settings

    return load_settings()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _device_json(row: TelemetryDevice, sources: dict[str, str]) -> dict[str, Any]:
    return {
        "deviceId": row.id,
        "organisationId": row.organisation_id,
        "label": row.label,
        "status": row.status,
        "predecessorId": row.predecessor_id,
        "successorId": row.successor_id,
        "createdAt": as_utc(row.created_at).isoformat(),
        "retiredAt": as_utc(row.retired_at).isoformat() if row.retired_at else None,
        "sources": sources,
    }


def _parse_sources(values: list[str]) -> list[devices.SourceBinding]:
    bindings = []
    for value in values:
        source, sep, battery = value.partition("=")
        if not sep or not source or not battery:
            raise _fail(f"--source wants SOURCE_ID=BATTERY_ID, got {value!r}")
        bindings.append(devices.SourceBinding(source_id=source, battery_id=battery))
    return bindings


def _run_as_org(org: str, action: Any) -> dict[str, Any] | list[dict[str, Any]]:
    settings = _settings()

    async def run() -> Any:
        async with open_admin(settings) as admin, admin.db.unit_of_work() as session:
            organisation = await get_or_create_organisation(session, org)
            principal = Principal(
                organisation_id=organisation.id,
                organisation_slug=organisation.slug,
                role=Role.PLATFORM,
                did=admin.platform.did,
            )
            return await action(session, principal)

    try:
        result: dict[str, Any] | list[dict[str, Any]] = asyncio.run(run())
    except DomainError as error:
        raise _fail(error.message) from error
    return result


@devices_app.command("register")
def register(
    device_id: Annotated[str, typer.Argument(help="did:key from `bpp-bridge keygen`.")],
    org: OrgOption,
    label: Annotated[str | None, typer.Option("--label", help="Where the gateway is.")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="SOURCE_ID=BATTERY_ID (repeatable): which battery a "
            "device of the gateway's config reads.",
        ),
    ] = None,
) -> None:
    """Register a gateway for an organisation; prints the device as JSON."""
    bindings = _parse_sources(source or [])

    async def action(session: Any, principal: Principal) -> dict[str, Any]:
        row = await devices.register_device(
            session, principal, device_id, label=label, sources=bindings
        )
        return _device_json(row, dict(await devices.sources_of(session, row.id)))

    typer.echo(json.dumps(_run_as_org(org, action), indent=2))


@devices_app.command("rotate")
def rotate(
    device_id: Annotated[str, typer.Argument(help="The current did:key.")],
    new_device_id: Annotated[str, typer.Argument(help="The new did:key (a new outbox).")],
    org: OrgOption,
) -> None:
    """Replace a gateway's key; the old did:key is refused from now on."""

    async def action(session: Any, principal: Principal) -> dict[str, Any]:
        row = await devices.rotate_device_key(session, principal, device_id, new_device_id)
        return _device_json(row, dict(await devices.sources_of(session, row.id)))

    typer.echo(json.dumps(_run_as_org(org, action), indent=2))


@devices_app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(help="The did:key to refuse.")],
    org: OrgOption,
) -> None:
    """Revoke a gateway: its batches are refused with DEVICE_REVOKED."""

    async def action(session: Any, principal: Principal) -> dict[str, Any]:
        row = await devices.revoke_device(session, principal, device_id)
        return _device_json(row, dict(await devices.sources_of(session, row.id)))

    typer.echo(json.dumps(_run_as_org(org, action), indent=2))


@devices_app.command("list")
def list_(org: OrgOption) -> None:
    """The organisation's gateways as a JSON list."""

    async def action(session: Any, principal: Principal) -> list[dict[str, Any]]:
        rows = await devices.list_devices(
            session, principal, organisation_id=principal.organisation_id
        )
        return [_device_json(r, dict(await devices.sources_of(session, r.id))) for r in rows]

    typer.echo(json.dumps(_run_as_org(org, action), indent=2))


@telemetry_app.command("compact")
def compact_command(
    raw_days: Annotated[
        int | None,
        typer.Option("--raw-days", min=1, help="Override BPP_TELEMETRY_RAW_DAYS."),
    ] = None,
) -> None:
    """Fold raw samples older than the retention into hourly aggregates; prints a report."""
    settings = _settings()

    async def run() -> dict[str, Any]:
        async with open_admin(settings) as admin:
            report = await compact(admin.db, raw_days=raw_days or settings.telemetry_raw_days)
            return report.as_json()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))
