"""A battery's whole life through the GraphQL API, from manufacture to recycling: installed,
owned by a driver, swapped into another vehicle, sold, removed, repurposed with a linked new
passport, handed to a recycler and recycled. At every step every credential held is verified
(current ones pass, superseded and ceased ones fail on their revocation status) and every
lifecycle event's inclusion proof checks offline and against the chain.

Runs on embedded SQLite + Valkey + in-process EVM, and (integration) on PostgreSQL + Redis +
anvil. Also: a failing step inside a mutation writes nothing and queues no chain write.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from backend.issuance.models import IssuedCredential, StatusChange
from backend.lifecycle.models import LifecycleEvent
from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.test_authorization_matrix import Actor, Api, a_vin, make_driver, make_org

pytestmark = pytest.mark.integration

CREDENTIALS = """
query($id: ID!) {
  battery(id: $id) {
    batteryId status ceasedAt
    predecessor { batteryId } successor { batteryId }
    passport { credentialId status document }
    conditionCredential { credentialId document }
    passportVersions { version credentialId previousCredentialId }
    events { eventId kind sequence hash previousHash }
  }
}
"""
VERIFY = """
query($c: JSON!) { verifyCredential(credential: $c) { __typename
  ... on VerificationResult { verified checks { name status reason } } } }
"""
PROOF = """
query($e: String!) { eventProof(eventId: $e) { __typename
  ... on EventProof { verified onChain confirmed root index count }
  ... on PassportError { code message } } }
"""


class Life:
    """The test's bookkeeping: every credential document seen, and whether it should pass."""

    def __init__(self, api: Api, runtime: Runtime) -> None:
        self.api = api
        self.runtime = runtime
        self.documents: dict[str, dict[str, Any]] = {}
        self.batteries: list[str] = []

    async def do(self, actor: Actor, mutation: str, variables: dict[str, Any]) -> dict[str, Any]:
        data = await self.api(mutation, variables, actor)
        result: dict[str, Any] = next(iter(data.values()))
        assert "code" not in result, result
        return result

    async def settle(self) -> None:
        """What the background tasks do: publish status changes, anchor events, send."""
        await self.runtime.issuance.publish_status_changes()
        assert self.runtime.anchorer is not None
        await self.runtime.anchorer.anchor_once()
        await self.runtime.outbox.drain_once()

    async def check(self) -> None:
        """Every credential verifies iff it is a battery's current one; every event proves."""
        await self.settle()
        current: set[str] = set()
        for battery_id in self.batteries:
            battery = (await self.api(CREDENTIALS, {"id": battery_id}))["battery"]
            for field in ("passport",):
                held = battery[field]
                if held is not None:
                    self.documents[held["credentialId"]] = held["document"]
                    if held["status"] == "ACTIVE":
                        current.add(held["credentialId"])
            # Condition data needs restricted access: read it as the platform.
            condition = (await self.api(CREDENTIALS, {"id": battery_id}, self.platform))["battery"][
                "conditionCredential"
            ]
            if condition is not None:
                self.documents[condition["credentialId"]] = condition["document"]
                current.add(condition["credentialId"])
            events = battery["events"]
            previous = "0" * 64
            for event in events:
                if event["sequence"] > 1 or battery["predecessor"] is None:
                    assert event["previousHash"] == previous, event
                previous = event["hash"]
                proof = (await self.api(PROOF, {"e": event["eventId"]}))["eventProof"]
                assert proof["__typename"] == "EventProof", proof
                assert proof["verified"] is True
                assert proof["confirmed"] is True
                assert proof["onChain"] is True, proof
        for credential_id, document in self.documents.items():
            result = (await self.api(VERIFY, {"c": document}))["verifyCredential"]
            checks = {c["name"]: c["status"] for c in result["checks"]}
            assert checks["signature"] == "PASS", (credential_id, result)
            if credential_id in current:
                assert result["verified"] is True, (credential_id, result)
            else:
                assert result["verified"] is False, credential_id
                assert checks["status_revocation"] == "FAIL", (credential_id, result)

    platform: Actor


def lifecycle(name: str, arguments: str, variables: str) -> str:
    return (
        f"mutation({variables}) {{ {name}(input: {{{arguments}}}) {{ __typename "
        "... on LifecycleSuccess { battery { batteryId status } events { eventId kind } "
        "successor { id batteryId } } ... on PassportError { code message } } }"
    )


INSTALL = lifecycle("installBattery", "batteryId: $b, vehicleId: $v", "$b: ID!, $v: ID!")
SWAP = lifecycle("swapBattery", "batteryId: $b, toVehicleId: $v", "$b: ID!, $v: ID!")
REMOVE = lifecycle("removeBattery", 'batteryId: $b, reason: "sold"', "$b: ID!")
TRANSFER = lifecycle("transferOwnership", "batteryId: $b, newOwnerId: $o", "$b: ID!, $o: String!")
EVENT = lifecycle(
    "recordLifecycleEvent",
    "batteryId: $b, kind: $k, data: $d",
    "$b: ID!, $k: PlainEventKind!, $d: JSON",
)
SECOND_LIFE = lifecycle(
    "startSecondLife",
    "batteryId: $b, kind: REPURPOSED, newIdentifier: $i",
    "$b: ID!, $i: String!",
)
RECYCLE = lifecycle("recycleBattery", 'batteryId: $b, data: {facility: "city-plant"}', "$b: ID!")
ISSUE = """mutation($b: ID!, $k: PassportCredentialKind!) { issuePassport(input: {batteryId: $b,
  kind: $k}) { __typename ... on IssuePassportSuccess { reissued credential { credentialId } }
  ... on PassportError { code message } } }"""
MEASURE = """mutation($b: ID!, $v: JSON!) { recordMeasurements(input: {batteryId: $b,
  measurements: [{term: "stateOfCertifiedEnergy", value: $v, measuredAt: "2026-06-01T08:00:00Z",
  method: "capacity test", uncertainty: 1.0}]}) { __typename ... on PassportError { code } } }"""


async def test_manufacture_to_recycling_with_swap_and_repurposing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    api = Api(client)
    life = Life(api, runtime)
    maker = await make_org(runtime, "life-maker", Role.MANUFACTURER)
    life.platform = await make_org(runtime, "life-platform", Role.PLATFORM)
    second_life = await make_org(runtime, "life-slo", Role.SECOND_LIFE_OPERATOR)
    recycler = await make_org(runtime, "life-recycler", Role.RECYCLER)
    alice = await make_driver(api, "alice")
    bob = await make_driver(api, "bob")

    model = await life.do(
        maker,
        """mutation($i: RegisterBatteryModelInput!) { registerBatteryModel(input: $i) {
             __typename ... on RegisterBatteryModelSuccess { model { id } }
             ... on PassportError { code message } } }""",
        {
            "i": {
                "name": f"Life {uuid.uuid4().hex[:6]}",
                "manufacturer": "Life Cells",
                "chemistry": "NMC",
                "ratedCapacityAh": 111,
                "nominalVoltageV": 653,
                "attributes": {"dismantlingInformation": "https://example.org/d"},
            }
        },
    )
    registered = await life.do(
        maker,
        """mutation($i: RegisterBatteryOfModelInput!) { registerBatteryOfModel(input: $i) {
             __typename ... on RegisterBatterySuccess { battery { id batteryId } }
             ... on PassportError { code message } } }""",
        {
            "i": {
                "modelId": model["model"]["id"],
                "identifier": f"LF-{uuid.uuid4().hex[:8].upper()}",
            }
        },
    )
    battery = registered["battery"]["id"]
    life.batteries.append(battery)
    await life.do(maker, EVENT, {"b": battery, "k": "MANUFACTURED", "d": {"plant": "Ochang"}})
    await life.do(maker, MEASURE, {"b": battery, "v": 100.0})
    for kind in ("PASSPORT", "CONDITION"):
        await life.do(maker, ISSUE, {"b": battery, "k": kind})
    await life.do(maker, EVENT, {"b": battery, "k": "PLACED_ON_MARKET", "d": None})
    await life.check()

    vehicles = []
    for owner in (alice, bob):
        answer = await life.do(
            maker,
            """mutation($vin: String!, $o: String!) { registerVehicle(input: {vin: $vin,
                 ownerId: $o}) { __typename ... on RegisterVehicleSuccess { vehicleId }
                 ... on PassportError { code message } } }""",
            {"vin": a_vin(), "o": owner.driver_id},
        )
        vehicles.append(answer["vehicleId"])
    await life.do(maker, INSTALL, {"b": battery, "v": vehicles[0]})
    await life.do(maker, TRANSFER, {"b": battery, "o": alice.driver_id})
    await life.check()

    # A swap between vehicles: one unit of work, two events.
    swapped = await life.do(maker, SWAP, {"b": battery, "v": vehicles[1]})
    assert [e["kind"] for e in swapped["events"]] == ["REMOVED", "INSTALLED"]
    # Alice sells to Bob; an accident changes condition data: the condition credential is
    # re-issued (the old one revoked), the passport (public data) is not.
    await life.do(alice, TRANSFER, {"b": battery, "o": bob.driver_id})
    await life.do(maker, EVENT, {"b": battery, "k": "ACCIDENT", "d": {"description": "kerb"}})
    reissued = await life.do(maker, ISSUE, {"b": battery, "k": "CONDITION"})
    assert reissued["reissued"] is True
    unchanged = await life.do(maker, ISSUE, {"b": battery, "k": "PASSPORT"})
    assert unchanged["reissued"] is False
    await life.check()

    # Bob sells the used battery to a second-life operator, which then holds it.
    await life.do(maker, REMOVE, {"b": battery})
    await life.do(bob, TRANSFER, {"b": battery, "o": second_life.did})
    repurposed = await life.do(
        second_life, SECOND_LIFE, {"b": battery, "i": f"SL-{uuid.uuid4().hex[:8].upper()}"}
    )
    successor = repurposed["successor"]["id"]
    life.batteries.append(successor)
    assert repurposed["battery"]["status"] == "repurposed"
    linked = (await api(CREDENTIALS, {"id": successor}))["battery"]
    assert linked["predecessor"]["batteryId"] == registered["battery"]["batteryId"]
    old = (await api(CREDENTIALS, {"id": battery}))["battery"]
    assert old["successor"]["batteryId"] == linked["batteryId"]
    assert old["ceasedAt"] is not None
    await life.do(second_life, ISSUE, {"b": successor, "k": "PASSPORT"})
    # The ceased passport is read-only: a write is refused with a code.
    refused = (await api(EVENT, {"b": battery, "k": "REPAIRED", "d": None}, maker))[
        "recordLifecycleEvent"
    ]
    assert refused["code"] == "PASSPORT_CEASED"
    await life.check()

    # End of the second life: the recycler takes the battery and recycles it.
    await life.do(second_life, TRANSFER, {"b": successor, "o": recycler.did})
    await life.do(recycler, EVENT, {"b": successor, "k": "WASTE", "d": None})
    recycled = await life.do(recycler, RECYCLE, {"b": successor})
    assert recycled["battery"]["status"] == "waste"
    await life.check()
    final = (await api(CREDENTIALS, {"id": successor}))["battery"]
    assert final["passport"]["status"] == "REVOKED"
    assert [e["kind"] for e in final["events"]] == [
        "REPURPOSED",
        "OWNERSHIP_TRANSFERRED",
        "WASTE",
        "RECYCLED",
    ]


async def counts(runtime: Runtime, battery_id: str) -> tuple[int, int, int]:
    """This battery's events, status changes of its credentials' entries, and revocations.

    Scoped to the battery: the runtime's background tasks (anchorer, status publisher) write
    chain transactions of their own at any moment. A chain write for a revocation needs a
    status change first, so no new status change means nothing was queued for the chain.
    """
    async with runtime.db.read_only() as session:
        events = (
            await session.exec(
                select(func.count())
                .select_from(LifecycleEvent)
                .where(LifecycleEvent.battery_id == battery_id)
            )
        ).one()
        credentials = (
            await session.exec(
                select(IssuedCredential).where(IssuedCredential.battery_id == battery_id)
            )
        ).all()
        entries = {(c.status_list_id, c.status_index) for c in credentials}
        changes = [
            row
            for row in (await session.exec(select(StatusChange))).all()
            if (row.status_list_id, row.index) in entries
        ]
        revoked = sum(1 for c in credentials if c.revoked_at is not None)
    return int(events), len(changes), revoked


async def test_a_failing_step_inside_a_mutation_writes_nothing_and_queues_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """startSecondLife revokes the old passport before it finds the new identifier taken:
    the whole unit of work rolls back — no event, no revocation, no chain write."""
    api = Api(client)
    maker = await make_org(runtime, "rollback-maker", Role.MANUFACTURER)
    second_life = await make_org(runtime, "rollback-slo", Role.SECOND_LIFE_OPERATOR)
    identifiers = [f"RB-{uuid.uuid4().hex[:8].upper()}" for _ in range(2)]
    ids, internal_ids = [], []
    for identifier in identifiers:
        answer = (
            await api(
                """mutation($i: RegisterBatteryInput!) { registerBattery(input: $i) {
                     ... on RegisterBatterySuccess { battery { id batteryId } } } }""",
                {
                    "i": {
                        "identifier": identifier,
                        "model": "Rollback",
                        "manufacturer": "RB",
                        "chemistry": "LFP",
                        "ratedCapacityAh": 50,
                        "nominalVoltageV": 350,
                    }
                },
                maker,
            )
        )["registerBattery"]
        ids.append(answer["battery"]["id"])
        internal_ids.append(answer["battery"]["batteryId"])
    battery, battery_internal_id = ids[0], internal_ids[0]
    await api(EVENT, {"b": battery, "k": "MANUFACTURED", "d": None}, maker)
    await api(ISSUE, {"b": battery, "k": "PASSPORT"}, maker)
    await api(TRANSFER, {"b": battery, "o": second_life.did}, maker)
    await runtime.issuance.publish_status_changes()
    before = await counts(runtime, battery_internal_id)
    failed = (await api(SECOND_LIFE, {"b": battery, "i": identifiers[1]}, second_life))[
        "startSecondLife"
    ]
    assert failed["__typename"] == "PassportError"
    assert failed["code"] == "ALREADY_EXISTS"
    assert await counts(runtime, battery_internal_id) == before
    state = (await api(CREDENTIALS, {"id": battery}))["battery"]
    assert state["ceasedAt"] is None
    assert state["passport"]["status"] == "ACTIVE"


async def test_export_is_signed_and_erasure_keeps_passports_and_chains(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A driver's battery export is a platform-signed package of what the driver may see;
    erasing the driver's personal data ends every session and forgets them as owner, while
    the battery's credentials and hash-chained events still verify."""
    from backend.consent.privacy import verify_package_via_did

    api = Api(client)
    maker = await make_org(runtime, "erase-maker", Role.MANUFACTURER)
    driver = await make_driver(api, "erased")
    battery = (
        await api(
            """mutation($i: RegisterBatteryInput!) { registerBattery(input: $i) {
                 ... on RegisterBatterySuccess { battery { id batteryId } } } }""",
            {
                "i": {
                    "identifier": f"ER-{uuid.uuid4().hex[:8].upper()}",
                    "model": "Erase",
                    "manufacturer": "Erase",
                    "chemistry": "LFP",
                    "ratedCapacityAh": 70,
                    "nominalVoltageV": 380,
                }
            },
            maker,
        )
    )["registerBattery"]["battery"]
    life = Life(api, runtime)
    life.platform = await make_org(runtime, "erase-platform", Role.PLATFORM)
    life.batteries.append(battery["id"])
    await life.do(maker, EVENT, {"b": battery["id"], "k": "MANUFACTURED", "d": None})
    await life.do(maker, ISSUE, {"b": battery["id"], "k": "PASSPORT"})
    await life.do(maker, TRANSFER, {"b": battery["id"], "o": driver.driver_id})

    exported = (
        await api(
            """query($id: ID!) { exportBattery(batteryId: $id) { __typename
                 ... on DataExport { package signed } ... on AccountError { code } } }""",
            {"id": battery["id"]},
            driver,
        )
    )["exportBattery"]
    assert exported["__typename"] == "DataExport", exported
    resolver = runtime.issuance.verifier.verifier._resolver
    package = await verify_package_via_did(
        exported["signed"], resolver, expected_controller=runtime.platform.did
    )
    assert package == exported["package"]
    assert package["battery"]["id"] == battery["batteryId"]
    assert [e["type"] for e in package["lifecycleEvents"]] == [
        "manufactured",
        "ownership_transferred",
    ]
    assert "complianceTestReports" not in package["attributes"]  # authorities only

    erased = (
        await api(
            "mutation { eraseMyData { __typename ... on AccountError { code } } }", None, driver
        )
    )["eraseMyData"]
    assert erased["__typename"] == "Done"
    assert (await api("{ me { driverId } }", None, driver))["me"] is None
    after = (
        await api(
            "query($id: ID!) { exportBattery(batteryId: $id) { __typename } }",
            {"id": battery["id"]},
            driver,
        )
    )["exportBattery"]
    assert after["__typename"] == "AccountError"  # no longer the owner (nor signed in)
    await life.check()  # the passport still verifies; every event still proves on chain
