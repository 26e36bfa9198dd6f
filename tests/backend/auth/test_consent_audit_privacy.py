"""Consent grant/withdraw, the audit log (writes and restricted reads, authority only, hash
chain), statistics, signed exports, and anonymisation that keeps hash chains intact."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlmodel import col, select

from backend.audit.models import AuditEntry
from backend.audit.service import (
    AuditFilter,
    AuditTrail,
    authorize_and_audit,
    read_entries,
    record,
    verify_chain,
)
from backend.audit.statistics import (
    batteries_by_chemistry,
    batteries_by_passport_status,
    credentials_issued_and_revoked,
    histogram,
    soh_distribution,
)
from backend.auth.errors import InvalidCredentialsError, TokenRevokedError
from backend.auth.models import Driver
from backend.auth.policy import Action, Resource, ResourceKind
from backend.auth.principal import Principal
from backend.auth.service import AuthServices
from backend.consent.privacy import (
    anonymise_driver,
    export_battery,
    export_driver,
    sign_package,
    verify_package,
    verify_package_via_did,
)
from backend.consent.service import active_consents, grant_consent, load_grants, withdraw_consent
from backend.issuance.models import IssuedCredential
from backend.kit.db import Database
from backend.kit.errors import ForbiddenError, InvalidInputError, NotFoundError
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports.models import Battery
from credentials.did import DidResolver, did_key_from_public_key, did_key_vm_id
from credentials.keys import KeyPair
from tests.backend.auth.conftest import org_did, unique_email

# Real database and Redis: repeated on PostgreSQL + Redis in CI.
pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
GROUP = "legitimate_interest.condition"
INSPECTOR = Principal(
    organisation_id=11, organisation_slug="inspecta", role=Role.INSPECTOR, did=org_did("inspecta")
)
AUTHORITY = Principal(
    organisation_id=12, organisation_slug="busan", role=Role.AUTHORITY, did=org_did("busan")
)


async def _driver(auth: AuthServices, db: Database) -> tuple[Driver, str]:
    email = unique_email()
    async with db.unit_of_work() as session:
        driver = await auth.drivers.sign_up(
            session, email=email, password=PASSWORD, display_name="Kim Min-jun"
        )
    return driver, email


def _battery_of(owner: str) -> Resource:
    return Resource(ResourceKind.BATTERY, id="battery-x", owner_id=owner, data_group=GROUP)


async def test_grant_and_withdraw_consent_change_access_at_once(
    auth: AuthServices, auth_db: Database
) -> None:
    driver, _ = await _driver(auth, auth_db)
    owner = Principal(driver_id=driver.id)
    assert INSPECTOR.did is not None
    async with auth_db.unit_of_work() as session:
        grants = await load_grants(session, [driver.id], INSPECTOR.did)
        with pytest.raises(ForbiddenError):
            await authorize_and_audit(
                session, INSPECTOR, Action.READ_RESTRICTED, _battery_of(driver.id), grants
            )
        await grant_consent(session, owner, INSPECTOR.did, GROUP, purpose="pre-sale inspection")
        again = await grant_consent(session, owner, INSPECTOR.did, GROUP)
        assert len(await active_consents(session, driver.id)) == 1
        assert again.withdrawn_at is None
    async with auth_db.unit_of_work() as session:
        grants = await load_grants(session, [driver.id, "someone-else"], INSPECTOR.did)
        decision = await authorize_and_audit(
            session, INSPECTOR, Action.READ_RESTRICTED, _battery_of(driver.id), grants
        )
        assert decision.allowed
    async with auth_db.unit_of_work() as session:
        await withdraw_consent(session, owner, INSPECTOR.did, GROUP)
        with pytest.raises(NotFoundError):
            await withdraw_consent(session, owner, INSPECTOR.did, GROUP)
    async with auth_db.unit_of_work() as session:
        grants = await load_grants(session, [driver.id], INSPECTOR.did)
        with pytest.raises(ForbiddenError):
            await authorize_and_audit(
                session, INSPECTOR, Action.READ_RESTRICTED, _battery_of(driver.id), grants
            )


async def test_only_the_driver_manages_their_consent(auth: AuthServices, auth_db: Database) -> None:
    assert INSPECTOR.did is not None
    async with auth_db.unit_of_work() as session:
        with pytest.raises(ForbiddenError):
            await grant_consent(session, INSPECTOR, INSPECTOR.did, GROUP)
        driver, _ = await _driver(auth, auth_db)
        with pytest.raises(InvalidInputError):
            await grant_consent(session, Principal(driver_id=driver.id), "not-a-did", GROUP)
        with pytest.raises(InvalidInputError):
            await grant_consent(
                session, Principal(driver_id=driver.id), INSPECTOR.did, "Bad Group!"
            )


async def test_writes_and_restricted_reads_are_audited_public_reads_are_not(
    auth: AuthServices, auth_db: Database
) -> None:
    driver, _ = await _driver(auth, auth_db)
    owner = Principal(driver_id=driver.id)
    battery = _battery_of(driver.id)
    request = f"req-{uuid.uuid4().hex[:8]}"
    async with auth_db.unit_of_work() as session:
        await authorize_and_audit(session, owner, Action.READ_PUBLIC, battery, request_id=request)
        await authorize_and_audit(
            session, owner, Action.READ_RESTRICTED, battery, request_id=request, why="app view"
        )
        await authorize_and_audit(
            session, owner, Action.TRANSFER_OWNERSHIP, battery, request_id=request
        )
    async with auth_db.read_only() as session:
        rows = (
            await session.exec(select(AuditEntry).where(AuditEntry.request_id == request))
        ).all()
    assert [(r.action, r.actor, r.resource_id) for r in rows] == [
        ("passport.read_restricted", f"driver:{driver.id}", "battery-x"),
        ("vehicle.transfer", f"driver:{driver.id}", "battery-x"),
    ]
    assert rows[0].reason == "app view"
    assert rows[0].details == {"basis": "owner", "data_group": GROUP}

    # A write that rolls back leaves no entry claiming it happened.
    async def failing_mutation() -> None:
        async with auth_db.unit_of_work() as session:
            await authorize_and_audit(
                session, owner, Action.TRANSFER_OWNERSHIP, battery, request_id=request + "-rb"
            )
            raise RuntimeError("the mutation failed later")

    with pytest.raises(RuntimeError):
        await failing_mutation()
    async with auth_db.read_only() as session:
        rolled = (
            await session.exec(select(AuditEntry).where(AuditEntry.request_id == request + "-rb"))
        ).all()
    assert rolled == []


async def test_audit_log_is_readable_by_authority_only_and_reading_is_audited(
    auth: AuthServices, auth_db: Database
) -> None:
    driver, _ = await _driver(auth, auth_db)
    async with auth_db.unit_of_work() as session:
        await record(session, Principal(driver_id=driver.id), "test.write", _battery_of(driver.id))
    for refused in (
        Principal(driver_id=driver.id),
        INSPECTOR,
        Principal(
            organisation_id=1,
            organisation_slug="platform",
            role=Role.PLATFORM,
            did=org_did("platform"),
        ),
    ):
        async with auth_db.unit_of_work() as session:
            with pytest.raises(ForbiddenError):
                await read_entries(session, refused)
    async with auth_db.unit_of_work() as session:
        entries = await read_entries(session, AUTHORITY, AuditFilter(actor=f"driver:{driver.id}"))
    assert [e.action for e in entries] == ["driver.sign_up", "test.write"]
    async with auth_db.unit_of_work() as session:
        mine = await read_entries(session, AUTHORITY, AuditFilter(action="audit.read"))
    assert any(e.actor == AUTHORITY.subject for e in mine)


async def test_audit_chain_detects_an_altered_entry(tmp_path: object) -> None:
    from pathlib import Path

    from backend.kit.migrations import upgrade_database

    db = Database(f"sqlite+aiosqlite:///{Path(str(tmp_path)) / 'chain.sqlite3'}")
    await upgrade_database(db.engine)
    try:
        async with db.unit_of_work() as session:
            for index in range(3):
                await record(session, AUTHORITY, f"test.{index}", Resource(ResourceKind.AUDIT_LOG))
        async with db.read_only() as session:
            assert (await verify_chain(session)).entries == 3
        async with db.unit_of_work() as session:
            second = (
                await session.exec(select(AuditEntry).where(AuditEntry.action == "test.1"))
            ).one()
            second.reason = "edited afterwards"
            session.add(second)
        async with db.read_only() as session:
            check = await verify_chain(session)
        assert not check.ok
        assert check.first_bad_id == second.id
    finally:
        await db.dispose()


async def test_anonymisation_erases_personal_data_and_keeps_the_chain(
    auth: AuthServices, auth_db: Database
) -> None:
    driver, email = await _driver(auth, auth_db)
    owner = Principal(driver_id=driver.id)
    assert INSPECTOR.did is not None
    async with auth_db.unit_of_work() as session:
        pair = await auth.drivers.login(session, email, PASSWORD)
        await grant_consent(session, owner, INSPECTOR.did, GROUP)
        for action in (Action.READ_RESTRICTED, Action.TRANSFER_OWNERSHIP):
            await authorize_and_audit(session, owner, action, _battery_of(driver.id))
    async with auth_db.read_only() as session:
        before = await verify_chain(session)
    assert before.ok

    async with auth_db.unit_of_work() as session:
        await authorize_and_audit(
            session,
            owner,
            Action.ERASE_DRIVER,
            Resource(ResourceKind.DRIVER, id=driver.id, owner_id=driver.id),
        )
        await anonymise_driver(session, driver.id, auth.revocations)

    async with auth_db.read_only() as session:
        row = await session.get(Driver, driver.id)
        after = await verify_chain(session)
        entries = (
            await session.exec(select(AuditEntry).where(AuditEntry.actor == f"driver:{driver.id}"))
        ).all()
        consents = await active_consents(session, driver.id)
    assert row is not None
    assert (row.email, row.phone, row.display_name, row.password_hash) == (None,) * 4
    assert row.anonymised_at is not None
    assert consents == []
    # The chain still verifies and still holds the pseudonymous entries, none of them personal.
    assert after.ok
    assert after.entries == before.entries + 1
    assert [e.action for e in entries] == [
        "driver.sign_up",
        "driver.login",
        "passport.read_restricted",
        "vehicle.transfer",
        "driver.erase",
    ]
    dumped = json.dumps([e.model_dump(mode="json") for e in entries])
    assert email not in dumped
    assert "Kim Min-jun" not in dumped
    # Sessions are dead and the account cannot log in any more.
    with pytest.raises(TokenRevokedError):
        await auth.resolver.resolve(pair.access_token)
    with pytest.raises(InvalidCredentialsError):
        async with auth_db.unit_of_work() as session:
            await auth.drivers.login(session, email, PASSWORD)


async def test_driver_export_is_complete_and_signed(auth: AuthServices, auth_db: Database) -> None:
    driver, email = await _driver(auth, auth_db)
    owner = Principal(driver_id=driver.id)
    assert INSPECTOR.did is not None

    async def vehicles(session: object, driver_id: str) -> list[dict[str, str]]:
        return [{"vin": "KMHXX00XXXX000000", "owner": driver_id}]

    async with auth_db.unit_of_work() as session:
        await auth.drivers.login(session, email, PASSWORD)
        await grant_consent(session, owner, INSPECTOR.did, GROUP)
        await authorize_and_audit(session, owner, Action.READ_RESTRICTED, _battery_of(driver.id))
        package = await export_driver(session, driver.id, {"vehicles": vehicles})
    assert package["driver"]["email"] == email
    assert [c["grantee"] for c in package["consents"]] == [INSPECTOR.did]
    assert len(package["sessions"]) == 1
    assert "token_hash" not in json.dumps(package)
    assert [e["action"] for e in package["auditEntries"]] == [
        "driver.sign_up",
        "driver.login",
        "passport.read_restricted",
    ]
    assert package["vehicles"][0]["owner"] == driver.id

    platform_key = KeyPair.generate("P-256", key_id="did:web:platform.example#key-1")
    token = sign_package(package, platform_key)
    assert verify_package(token, platform_key.public) == json.loads(json.dumps(package))
    header, payload, signature = token.split(".")
    with pytest.raises(InvalidInputError):
        verify_package(f"{header}.{payload[:-4]}AAAA.{signature}", platform_key.public)
    with pytest.raises(InvalidInputError):
        verify_package(token, KeyPair.generate("P-256").public)


async def test_statistics_and_battery_export(auth_db: Database) -> None:
    async with auth_db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, f"stats-{uuid.uuid4().hex[:6]}")
        assert organisation.id is not None
        before_chem = await batteries_by_chemistry(session)
        before_status = await batteries_by_passport_status(session)
        before_creds = await credentials_issued_and_revoked(session)
        ids = []
        for chemistry, soh, revoked in (
            ("NMC", 95.0, False),
            ("NMC", 81.5, True),
            ("LFP", 64.0, False),
        ):
            battery = Battery(
                id=str(uuid.uuid4()),
                identifier=f"STAT-{uuid.uuid4().hex[:10]}",
                model="M",
                manufacturer="Acme",
                chemistry=chemistry,
                rated_capacity_ah=100.0,
                nominal_voltage_v=400.0,
                organisation_id=organisation.id,
            )
            session.add(battery)
            await session.flush()
            ids.append(battery.id)
            for kind, document in (
                ("BatteryPassportCredential", {"credentialSubject": {"id": battery.id}}),
                ("BatteryConditionCredential", {"credentialSubject": {"stateOfHealth": soh}}),
            ):
                session.add(
                    IssuedCredential(
                        id=str(uuid.uuid4()),
                        credential_id=f"urn:uuid:{uuid.uuid4()}",
                        type=kind,
                        battery_id=battery.id,
                        issuer_did="did:web:platform.example",
                        document=document,
                        revoked_at=(
                            battery.created_at
                            if revoked and kind == "BatteryPassportCredential"
                            else None
                        ),
                    )
                )
        await session.flush()
        chem = await batteries_by_chemistry(session)
        status = await batteries_by_passport_status(session)
        creds = await credentials_issued_and_revoked(session)
        soh_buckets = await soh_distribution(session, bucket_width=10)
        package = await export_battery(session, ids[0])

    assert chem["NMC"] - before_chem.get("NMC", 0) == 2
    assert chem["LFP"] - before_chem.get("LFP", 0) == 1
    assert status.get("active", 0) - before_status.get("active", 0) == 2
    assert status.get("revoked", 0) - before_status.get("revoked", 0) == 1
    passports = creds["BatteryPassportCredential"]
    old = before_creds.get("BatteryPassportCredential")
    assert passports.issued - (old.issued if old else 0) == 3
    assert passports.revoked - (old.revoked if old else 0) == 1
    for bucket in ("90-100", "80-90", "60-70"):
        assert soh_buckets.get(bucket, 0) >= 1, bucket
    assert package["battery"]["id"] == ids[0]
    # No attribute data outside the policy-filtered sections (item data, condition are restricted).
    assert set(package["battery"]) == {"id", "identifier", "passportId"}
    assert {c["type"] for c in package["credentials"]} == {
        "BatteryPassportCredential",
        "BatteryConditionCredential",
    }


def test_histogram_buckets() -> None:
    assert histogram([100.0, 99.9, 90.0, 0.0, 45.5], 10) == {
        "0-10": 1,
        "40-50": 1,
        "90-100": 3,
    }


async def test_export_verifies_through_the_signers_did_document() -> None:
    key = KeyPair.generate("Ed25519")
    did = did_key_from_public_key(key.public)
    signer = key.with_key_id(did_key_vm_id(did))
    token = sign_package({"type": "DriverDataExport", "driver": {"id": "d-1"}}, signer)
    resolver = DidResolver()
    package = await verify_package_via_did(token, resolver, expected_controller=did)
    assert package["driver"] == {"id": "d-1"}
    with pytest.raises(InvalidInputError):
        await verify_package_via_did(token, resolver, expected_controller="did:web:elsewhere")
    impostor = KeyPair.generate("Ed25519").with_key_id(did_key_vm_id(did))
    with pytest.raises(InvalidInputError):
        await verify_package_via_did(sign_package({"type": "x"}, impostor), resolver)


async def test_audit_trail_collects_reads_and_writes_them_in_one_go(
    auth: AuthServices, auth_db: Database
) -> None:
    driver, _ = await _driver(auth, auth_db)
    owner = Principal(driver_id=driver.id)
    request = f"trail-{uuid.uuid4().hex[:8]}"
    trail = AuditTrail(owner, request_id=request)
    own = [
        Resource(ResourceKind.BATTERY, id=f"b-{i}", owner_id=driver.id, data_group=GROUP)
        for i in range(3)
    ]
    foreign = Resource(ResourceKind.BATTERY, id="b-foreign", owner_id="someone", data_group=GROUP)
    async with auth_db.read_only() as session:  # a query's session: nothing commits here
        trail.authorize_read(Action.READ_PUBLIC, own[0])
        trail.authorize_read(Action.READ_RESTRICTED, own[0], why="battery screen")
        decisions = trail.decide_reads(Action.READ_RESTRICTED, [*own[1:], foreign])
        with pytest.raises(ForbiddenError):
            trail.authorize_read(Action.READ_RESTRICTED, foreign)
        assert (
            await session.exec(select(AuditEntry).where(AuditEntry.request_id == request))
        ).all() == []
    assert [d.allowed for d in decisions] == [True, True, False]
    assert await trail.flush(auth_db) == 3
    assert await trail.flush(auth_db) == 0
    async with auth_db.read_only() as session:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.request_id == request)
                .order_by(col(AuditEntry.id))
            )
        ).all()
        chain = await verify_chain(session)
    assert [(r.action, r.resource_id) for r in rows] == [
        ("passport.read_restricted", "b-0"),
        ("passport.read_restricted", "b-1"),
        ("passport.read_restricted", "b-2"),
    ]
    assert rows[0].reason == "battery screen"
    assert rows[1].prev_hash == rows[0].entry_hash
    assert chain.ok


async def test_concurrent_flushes_share_commits_and_keep_one_chain(
    auth: AuthServices, auth_db: Database
) -> None:
    """Many requests flushing at once: every one returns with its entries committed, in one
    unbroken chain; a transaction that fails fails the requests it held, not later ones."""
    import asyncio

    from backend.audit import service as audit_service

    driver, _ = await _driver(auth, auth_db)
    owner = Principal(driver_id=driver.id)
    prefix = f"group-{uuid.uuid4().hex[:8]}"

    def trail(index: int) -> AuditTrail:
        made = AuditTrail(owner, request_id=f"{prefix}-{index}")
        made.authorize_read(
            Action.READ_RESTRICTED,
            Resource(ResourceKind.BATTERY, id=f"b-{index}", owner_id=driver.id, data_group=GROUP),
        )
        return made

    counts = await asyncio.gather(*(trail(i).flush(auth_db) for i in range(40)))
    assert counts == [1] * 40
    async with auth_db.read_only() as session:
        rows = (
            await session.exec(
                select(AuditEntry).where(col(AuditEntry.request_id).startswith(prefix))
            )
        ).all()
        assert sorted(str(r.resource_id) for r in rows) == sorted(f"b-{i}" for i in range(40))
        assert (await verify_chain(session)).ok

    real = audit_service.append_entries
    calls = 0

    async def fail_once(session: Any, pending: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return await real(session, pending)

    audit_service.append_entries = fail_once
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            await trail(100).flush(auth_db)
        assert await trail(101).flush(auth_db) == 1
    finally:
        audit_service.append_entries = real
    async with auth_db.read_only() as session:
        written = {
            r.request_id
            for r in (
                await session.exec(
                    select(AuditEntry).where(col(AuditEntry.request_id).startswith(prefix))
                )
            ).all()
        }
    assert f"{prefix}-100" not in written
    assert f"{prefix}-101" in written
