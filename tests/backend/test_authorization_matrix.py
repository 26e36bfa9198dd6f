"""The authorization matrix through the GraphQL API: every actor × every attribute group of
`passport-attributes.csv`, the restricted queries and the writes, allowed or refused exactly
as the access group, ownership, responsibility, role and consent say. Expected tables are
written out by hand (they are the spec); a policy change must change them.

Also: `node(id)` with another owner's ID answers nothing (no IDOR), and a revoked API key or
refresh token stops working on the next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backend.orgs.roles import Role
from backend.orgs.service import revoke_api_key
from backend.runtime import Runtime
from backend.vehicles.service import vin_check_digit
from tests.backend.conftest import make_key

pytestmark = pytest.mark.integration

LI_GROUPS = ("identification", "materials", "circularity", "performance")
ALL_LI = frozenset(LI_GROUPS)


def a_vin() -> str:
    body = ("KNA" + uuid.uuid4().hex.upper()).replace("I", "1").replace("O", "0")
    draft = (body[:8] + "0" + body[9:17]).replace("Q", "9")
    return draft[:8] + vin_check_digit(draft) + draft[9:]


@dataclass
class Actor:
    name: str
    token: str | None = None
    did: str | None = None
    driver_id: str | None = None
    key_prefix: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


class Api:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, actor: Actor | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=actor.headers if actor else {},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, actor: Actor | None = None
    ) -> dict[str, Any]:
        body = await self.raw(query, variables, actor)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


SIGN_UP = """
mutation($email: String!) {
  signUp(input: {email: $email, password: "correct horse battery staple"}) {
    __typename
    ... on AuthSession { accessToken refreshToken driver { driverId } }
    ... on AccountError { code message }
  }
}
"""

ATTRIBUTES = """
query($id: ID!) {
  battery(id: $id) { access { groups authority } attributes { term group access } }
}
"""

RESTRICTED_READS = """
query($id: ID!, $vehicle: String!, $vehicleNode: ID!) {
  battery(id: $id) {
    events { kind data }
    installations { vehicleId vin }
    conditionCredential { credentialId }
  }
  vehicle(id: $vehicle) { vin plate }
  node(id: $vehicleNode) { id }
  me { driverId }
  exportBattery(batteryId: $id) { __typename ... on AccountError { code } }
  auditLog(first: 1) { __typename ... on AuthorityError { code } }
  statistics { __typename ... on AuthorityError { code } }
}
"""


async def make_driver(api: Api, name: str) -> Actor:
    result = (await api(SIGN_UP, {"email": f"{name}-{uuid.uuid4().hex[:8]}@example.org"}))["signUp"]
    assert result["__typename"] == "AuthSession", result
    return Actor(name=name, token=result["accessToken"], driver_id=result["driver"]["driverId"])


async def make_org(runtime: Runtime, name: str, role: Role) -> Actor:
    slug = f"mx-{name}-{uuid.uuid4().hex[:6]}"
    key = await make_key(runtime, slug, role)
    return Actor(
        name=name,
        token=key.key,
        did=runtime.platform.did
        if role is Role.PLATFORM
        else runtime.platform.organisation_did(slug),
        key_prefix=key.key.split("_")[1],
    )


def result_of(data: dict[str, Any], field: str) -> Any:
    return data[field]


async def test_every_actor_every_group_query_and_write(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    api = Api(client)
    maker = await make_org(runtime, "manufacturer", Role.MANUFACTURER)
    actors: dict[str, Actor] = {
        "anonymous": Actor("anonymous"),
        "owner": await make_driver(api, "owner"),
        "stranger": await make_driver(api, "stranger"),
        "manufacturer": maker,
        "other-manufacturer": await make_org(runtime, "other", Role.MANUFACTURER),
        "platform": Actor(
            "platform", token=(await make_key(runtime, "platform", Role.PLATFORM)).key
        ),
        "issuer": await make_org(runtime, "issuer", Role.ISSUER),
        "charge-point-operator": await make_org(runtime, "cpo", Role.CHARGE_POINT_OPERATOR),
        "parking-operator": await make_org(runtime, "parking", Role.PARKING_OPERATOR),
        "inspector": await make_org(runtime, "inspector", Role.INSPECTOR),
        "repairer": await make_org(runtime, "repairer", Role.REPAIRER),
        "consented-repairer": await make_org(runtime, "repairer2", Role.REPAIRER),
        "second-life-operator": await make_org(runtime, "slo", Role.SECOND_LIFE_OPERATOR),
        "recycler": await make_org(runtime, "recycler", Role.RECYCLER),
        "authority": await make_org(runtime, "authority", Role.AUTHORITY),
    }
    owner = actors["owner"]

    # --- the battery: every access group present, owned by a driver, in a vehicle --------
    model = (
        await api(
            """mutation($input: RegisterBatteryModelInput!) { registerBatteryModel(input: $input) {
                 __typename ... on RegisterBatteryModelSuccess { model { id } }
                 ... on PassportError { code message } } }""",
            {
                "input": {
                    "name": f"Matrix {uuid.uuid4().hex[:6]}",
                    "manufacturer": "Matrix Cells",
                    "chemistry": "NMC",
                    "ratedCapacityAh": 180,
                    "nominalVoltageV": 697,
                    "attributes": {
                        "carbonFootprintPerFunctionalUnit": 62.5,
                        "cathodeAnodeElectrolyteMaterials": "NMC811 / graphite / LiPF6",
                        "dismantlingInformation": "https://example.org/dismantling",
                        "capacityFade": 20,
                        "complianceTestReports": "https://example.org/tests",
                    },
                }
            },
            maker,
        )
    )["registerBatteryModel"]
    assert model["__typename"] == "RegisterBatteryModelSuccess", model
    battery = (
        await api(
            """mutation($input: RegisterBatteryOfModelInput!) {
                 registerBatteryOfModel(input: $input) { __typename
                   ... on RegisterBatterySuccess { battery { id batteryId } }
                   ... on PassportError { code message } } }""",
            {
                "input": {
                    "modelId": model["model"]["id"],
                    "identifier": f"MX-{uuid.uuid4().hex[:10].upper()}",
                    "attributes": {"puttingIntoServiceDate": "2025-03"},
                }
            },
            maker,
        )
    )["registerBatteryOfModel"]
    assert battery["__typename"] == "RegisterBatterySuccess", battery
    battery_id = battery["battery"]["id"]
    measured = (
        await api(
            """mutation($id: ID!) { recordMeasurements(input: {batteryId: $id, measurements: [
                 {term: "stateOfCertifiedEnergy", value: 96.5, measuredAt: "2026-01-05T10:00:00Z",
                  method: "BMS readout", uncertainty: 1.5}]}) {
                 __typename ... on PassportError { code message } } }""",
            {"id": battery_id},
            maker,
        )
    )["recordMeasurements"]
    assert measured["__typename"] == "UpdateBatterySuccess", measured
    for kind in ("PASSPORT", "CONDITION"):
        issued = (
            await api(
                """mutation($id: ID!, $kind: PassportCredentialKind!) {
                     issuePassport(input: {batteryId: $id, kind: $kind}) {
                       __typename ... on PassportError { code message } } }""",
                {"id": battery_id, "kind": kind},
                maker,
            )
        )["issuePassport"]
        assert issued["__typename"] == "IssuePassportSuccess", issued
    vin = a_vin()
    vehicle = (
        await api(
            """mutation($vin: String!, $owner: String!) { registerVehicle(input: {vin: $vin,
                 plate: "12가3456", ownerId: $owner}) { __typename
                 ... on RegisterVehicleSuccess { vehicleId }
                 ... on PassportError { code message } } }""",
            {"vin": vin, "owner": owner.driver_id},
            maker,
        )
    )["registerVehicle"]
    assert vehicle["__typename"] == "RegisterVehicleSuccess", vehicle
    for query, variables in (
        (
            "mutation($id: ID!) { recordLifecycleEvent(input: {batteryId: $id, "
            "kind: MANUFACTURED}) { __typename ... on PassportError { code message } } }",
            {"id": battery_id},
        ),
        (
            "mutation($id: ID!, $v: ID!) { installBattery(input: {batteryId: $id, vehicleId: $v}) "
            "{ __typename ... on PassportError { code message } } }",
            {"id": battery_id, "v": vehicle["vehicleId"]},
        ),
        (
            "mutation($id: ID!, $o: String!) { transferOwnership(input: {batteryId: $id, "
            "newOwnerId: $o}) { __typename ... on PassportError { code message } } }",
            {"id": battery_id, "o": owner.driver_id},
        ),
    ):
        answer = next(iter((await api(query, variables, maker)).values()))
        assert answer["__typename"] == "LifecycleSuccess", answer
    consented = (
        await api(
            """mutation($g: String!) { grantConsent(input: {grantee: $g, dataGroup: "materials"})
                 { __typename ... on AccountError { code message } } }""",
            {"g": actors["consented-repairer"].did},
            owner,
        )
    )["grantConsent"]
    assert consented["__typename"] == "ConsentSuccess", consented

    # --- attribute groups ------------------------------------------------------------
    expected_groups: dict[str, frozenset[str]] = {
        "anonymous": frozenset(),
        "owner": ALL_LI,
        "stranger": frozenset(),
        "manufacturer": ALL_LI,  # responsible for the battery
        "other-manufacturer": frozenset(),
        "platform": ALL_LI,
        "issuer": frozenset(),
        "charge-point-operator": frozenset(),
        "parking-operator": frozenset(),
        "inspector": frozenset({"identification", "performance"}),
        "repairer": frozenset({"identification", "circularity", "performance"}),
        "consented-repairer": frozenset(
            {"identification", "circularity", "performance", "materials"}
        ),
        "second-life-operator": ALL_LI,
        "recycler": frozenset({"materials", "circularity"}),
        "authority": ALL_LI,
    }
    authorities_see = {"platform", "authority"}
    mismatches: list[str] = []
    for name, actor in actors.items():
        seen = (await api(ATTRIBUTES, {"id": battery_id}, actor))["battery"]
        restricted = {
            a["group"].lower() for a in seen["attributes"] if a["access"] == "LEGITIMATE_INTEREST"
        }
        authority = any(a["access"] == "AUTHORITIES" for a in seen["attributes"])
        public = {a["term"] for a in seen["attributes"] if a["access"] == "PUBLIC"}
        if restricted != expected_groups[name]:
            mismatches.append(f"{name}: groups {sorted(restricted)}")
        if authority != (name in authorities_see) or seen["access"]["authority"] != authority:
            mismatches.append(f"{name}: authority data {authority}")
        if not {"carbonFootprintPerFunctionalUnit", "batteryIdentifier"} <= public:
            mismatches.append(f"{name}: public data missing")
    assert not mismatches, mismatches

    # --- restricted queries ------------------------------------------------------------
    vehicle_node = (
        await api(
            "query($v: String!) { vehicle(id: $v) { id } }", {"v": vehicle["vehicleId"]}, owner
        )
    )["vehicle"]["id"]
    responsible = {"owner", "manufacturer", "platform", "authority"}
    performance_readers = {
        "owner",
        "manufacturer",
        "platform",
        "authority",
        "inspector",
        "repairer",
        "consented-repairer",
        "second-life-operator",
    }
    expected_reads: dict[str, set[str]] = {
        "eventData": responsible,
        "installations": responsible,
        "conditionCredential": performance_readers,
        "vehicle": {"owner", "platform", "authority"},
        "node": {"owner", "platform", "authority"},
        "me": {"owner", "stranger"},
        "exportBattery": responsible,
        "auditLog": {"authority"},
        "statistics": {"authority", "platform"},
    }
    got: dict[str, set[str]] = {key: set() for key in expected_reads}
    for name, actor in actors.items():
        data = await api(
            RESTRICTED_READS,
            {"id": battery_id, "vehicle": vin, "vehicleNode": vehicle_node},
            actor,
        )
        events = data["battery"]["events"]
        assert [e["kind"] for e in events] == ["MANUFACTURED", "INSTALLED", "OWNERSHIP_TRANSFERRED"]
        if all(event["data"] is not None for event in events):
            got["eventData"].add(name)
        if data["battery"]["installations"]:
            got["installations"].add(name)
        if data["battery"]["conditionCredential"] is not None:
            got["conditionCredential"].add(name)
        if data["vehicle"] is not None:
            got["vehicle"].add(name)
        if data["node"] is not None:
            got["node"].add(name)
        if data["me"] is not None:
            got["me"].add(name)
        for field, kind in (
            ("exportBattery", "DataExport"),
            ("auditLog", "AuditEntryConnection"),
            ("statistics", "CityStatistics"),
        ):
            answer = data[field]
            if answer["__typename"] == kind:
                got[field].add(name)
            else:
                expected_code = "UNAUTHENTICATED" if name == "anonymous" else "FORBIDDEN"
                assert answer["code"] == expected_code, (name, field, answer)
    assert got == expected_reads

    # --- writes: success for exactly these, FORBIDDEN / UNAUTHENTICATED for the rest -------
    def register_battery(name: str) -> tuple[str, dict[str, Any]]:
        return (
            """mutation($input: RegisterBatteryInput!) { registerBattery(input: $input)
                 { __typename ... on PassportError { code } } }""",
            {
                "input": {
                    "identifier": f"MW-{uuid.uuid4().hex[:10].upper()}",
                    "model": f"Write {name}",
                    "manufacturer": "Write",
                    "chemistry": "LFP",
                    "ratedCapacityAh": 100,
                    "nominalVoltageV": 400,
                }
            },
        )

    writes: dict[str, tuple[set[str], Any]] = {
        "registerBattery": (
            {"manufacturer", "other-manufacturer", "issuer", "platform"},
            register_battery,
        ),
        "updateBatteryAttributes": (
            {"manufacturer", "platform"},
            lambda name: (
                """mutation($id: ID!) { updateBatteryAttributes(input: {batteryId: $id,
                     attributes: {puttingIntoServiceDate: "2025-03"}}) {
                     __typename ... on PassportError { code } } }""",
                {"id": battery_id},
            ),
        ),
        "issuePassport": (
            {"manufacturer", "platform"},
            lambda name: (
                """mutation($id: ID!) { issuePassport(input: {batteryId: $id}) {
                     __typename ... on PassportError { code } } }""",
                {"id": battery_id},
            ),
        ),
        "recordLifecycleEvent": (
            {"manufacturer", "platform"},
            lambda name: (
                """mutation($id: ID!) { recordLifecycleEvent(input: {batteryId: $id,
                     kind: REPAIRED, data: {note: "matrix"}}) {
                     __typename ... on PassportError { code } } }""",
                {"id": battery_id},
            ),
        ),
        "registerVehicle": (
            {
                "owner",
                "stranger",
                "manufacturer",
                "other-manufacturer",
                "issuer",
                "platform",
                "repairer",
                "consented-repairer",
                "second-life-operator",
            },
            lambda name: (
                """mutation($vin: String!) { registerVehicle(input: {vin: $vin}) {
                     __typename ... on PassportError { code } } }""",
                {"vin": a_vin()},
            ),
        ),
        "grantConsent": (
            {"owner", "stranger"},
            lambda name: (
                """mutation($g: String!) { grantConsent(input: {grantee: $g,
                     dataGroup: "performance"}) { __typename ... on AccountError { code } } }""",
                {"g": actors["inspector"].did},
            ),
        ),
        "accreditIssuer": (
            {"authority"},
            lambda name: (
                """mutation($i: String!) { accreditIssuer(input: {issuer: $i, role: INSPECTOR,
                     days: 30}) { __typename ... on AuthorityError { code } } }""",
                {"i": actors["inspector"].did},
            ),
        ),
    }
    refused: list[str] = []
    for operation, (allowed, build) in writes.items():
        for name, actor in actors.items():
            query, variables = build(name)
            answer = (await api(query, variables, actor))[operation]
            if name in allowed:
                if "code" in answer:
                    refused.append(f"{operation} by {name}: {answer}")
            else:
                expected_code = "UNAUTHENTICATED" if name == "anonymous" else "FORBIDDEN"
                if answer.get("code") != expected_code:
                    refused.append(f"{operation} by {name}: {answer}, expected {expected_code}")
    assert not refused, refused

    # --- custody by consent: the owner hands the car to a workshop ----------------------
    repairer = actors["repairer"]
    repair = """mutation($id: ID!) { recordLifecycleEvent(input: {batteryId: $id, kind: REPAIRED})
                  { __typename ... on PassportError { code } } }"""
    assert (await api(repair, {"id": battery_id}, repairer))["recordLifecycleEvent"][
        "code"
    ] == "FORBIDDEN"
    custody = """mutation($g: String!) { grantConsent(input: {grantee: $g, dataGroup: "custody"})
                   { __typename } }"""
    await api(custody, {"g": repairer.did}, owner)
    assert (await api(repair, {"id": battery_id}, repairer))["recordLifecycleEvent"][
        "__typename"
    ] == "LifecycleSuccess"
    withdraw = """mutation($g: String!) { withdrawConsent(input: {grantee: $g,
                    dataGroup: "custody"}) { __typename } }"""
    await api(withdraw, {"g": repairer.did}, owner)
    assert (await api(repair, {"id": battery_id}, repairer))["recordLifecycleEvent"][
        "code"
    ] == "FORBIDDEN"

    # --- revocation takes effect on the next request ------------------------------------
    other = actors["other-manufacturer"]
    assert other.key_prefix is not None
    async with runtime.db.unit_of_work() as session:
        await revoke_api_key(session, other.key_prefix)
    query, variables = register_battery("revoked")
    answer = (await api(query, variables, other))["registerBattery"]
    assert answer["code"] == "UNAUTHENTICATED", answer

    stranger_session = (
        await api(
            SIGN_UP.replace("signUp", "logIn").replace(
                'input: {email: $email, password: "correct horse battery staple"}',
                'input: {identifier: $email, password: "correct horse battery staple"}',
            ),
            {"email": "nobody@example.org"},
        )
    )["logIn"]
    assert stranger_session["code"] == "INVALID_CREDENTIALS"
    fresh = (await api(SIGN_UP, {"email": f"leaver-{uuid.uuid4().hex[:6]}@example.org"}))["signUp"]
    leaver = Actor("leaver", token=fresh["accessToken"])
    assert (await api("{ me { driverId } }", None, leaver))["me"] is not None
    logged_out = (
        await api(
            "mutation($t: String!) { logOut(refreshToken: $t) { __typename } }",
            {"t": fresh["refreshToken"]},
        )
    )["logOut"]
    assert logged_out["__typename"] == "Done"
    assert (await api("{ me { driverId } }", None, leaver))["me"] is None
    again = (
        await api(
            """mutation($t: String!) { refreshSession(refreshToken: $t) { __typename
                 ... on AccountError { code } } }""",
            {"t": fresh["refreshToken"]},
        )
    )["refreshSession"]
    assert again["__typename"] == "AccountError"
    assert again["code"] in ("TOKEN_REVOKED", "REFRESH_TOKEN_REUSED", "TOKEN_INVALID")
