"""A passport worth looking at, built through the public GraphQL API.

Used by the page tests (ASGI client), the browser tests and the screenshot script (a real
server): a battery model with public and restricted attributes, one battery of it with an
issued passport, owned by a driver (through a vehicle and an ownership transfer), SOH
measurements over a year, telemetry from a gateway device (SoC and temperature histograms),
and the owner's `performance` consent to one repairer. API keys are made by the caller
(in-process `make_key`, or `bpp apikey create` beside a server process).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from backend.vehicles.service import vin_check_digit
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import b64url, signing_bytes
from ble_bridge.uploader import INGEST_MUTATION

PASSWORD = "correct horse battery staple"

MODEL_ATTRIBUTES: dict[str, Any] = {
    "manufacturingPlace": "Ulsan, Republic of Korea",
    "warrantyPeriod": "8 years or 160,000 km",
    "batteryMass": 478,
    "carbonFootprintPerFunctionalUnit": 62.5,
    "carbonFootprintPerformanceClass": "B",
    "criticalRawMaterials": "lithium, nickel, cobalt, natural graphite",
    "hazardousSubstances": "none above thresholds",
    "certifiedUsableEnergy": 74.0,
    "minimumVoltage": 520,
    "maximumVoltage": 800,
    "expectedLifetimeCycles": 3000,
    "capacityThresholdForExhaustion": 70,
    "postConsumerRecycledCobaltShare": 16,
    "cathodeAnodeElectrolyteMaterials": "NMC811 / graphite / LiPF6",
    "dismantlingInformation": "https://example.org/dismantling",
    "capacityFade": 8.5,
    "expectedLifetimeYears": 12,
    "complianceTestReports": "https://example.org/tests",
}

SOH_SERIES = (
    ("2025-03-01T09:00:00Z", 100.0),
    ("2025-06-01T09:00:00Z", 98.9),
    ("2025-09-01T09:00:00Z", 97.6),
    ("2025-12-01T09:00:00Z", 96.8),
    ("2026-03-01T09:00:00Z", 95.9),
    ("2026-06-01T09:00:00Z", 95.1),
)


@dataclass(frozen=True)
class Driver:
    email: str
    token: str
    driver_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Keys:
    """API keys the caller made: a manufacturer, a charge-point operator (the telemetry
    gateway's organisation), and two repairers (`repairer` gets the owner's consent)."""

    manufacturer: str
    operator: str
    repairer: str
    repairer_did: str
    other_repairer: str


@dataclass(frozen=True)
class Seeded:
    battery_id: str
    global_id: str
    credential: dict[str, Any]
    owner: Driver
    stranger: Driver
    keys: Keys


def a_vin() -> str:
    body = ("KNA" + uuid.uuid4().hex.upper()).replace("I", "1").replace("O", "0")
    draft = (body[:8] + "0" + body[9:17]).replace("Q", "9")
    return draft[:8] + vin_check_digit(draft) + draft[9:]


async def gql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    (result,) = data.values()
    assert isinstance(result, dict)
    return result


def succeeded(result: dict[str, Any], typename: str) -> dict[str, Any]:
    assert result.get("__typename") == typename, result
    return result


async def sign_up(http: httpx.AsyncClient, name: str) -> Driver:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
    result = await gql(
        http,
        """mutation($email: String!, $password: String!) {
             signUp(input: {email: $email, password: $password}) { __typename
               ... on AuthSession { accessToken driver { driverId } }
               ... on AccountError { code message } } }""",
        {"email": email, "password": PASSWORD},
    )
    succeeded(result, "AuthSession")
    return Driver(email, result["accessToken"], result["driver"]["driverId"])


async def revoke_passport(http: httpx.AsyncClient, key: str, credential_id: str) -> None:
    result = await gql(
        http,
        """mutation($c: String!) { revokeCredential(input: {credentialId: $c, urgent: true,
             reason: "test revocation"}) { __typename ... on PassportError { code message } } }""",
        {"c": credential_id},
        key,
    )
    succeeded(result, "RevokeCredentialSuccess")


async def _telemetry(http: httpx.AsyncClient, keys: Keys, battery_id: str) -> None:
    device = DeviceKey.generate()
    registered = await gql(
        http,
        """mutation($input: RegisterDeviceInput!) { registerDevice(input: $input) { __typename
             ... on PassportError { code message } } }""",
        {
            "input": {
                "deviceId": device.did,
                "label": "garage gateway",
                "sources": [{"sourceId": "car-1", "batteryId": battery_id}],
            }
        },
        keys.operator,
    )
    succeeded(registered, "DeviceSuccess")
    start = int(time.time() * 1000) - 6 * 3_600_000
    samples = []
    for sequence in range(1, 41):
        soc = 15.0 + (sequence * 37) % 80
        temperature = 12.0 + (sequence * 7) % 24
        samples.append(
            {
                "deviceId": device.did,
                "sequence": sequence,
                "sourceId": "car-1",
                "sourceSequence": sequence,
                "sourceAddress": "C8:47:8C:00:00:07",
                "adapterId": "jbd",
                "profileId": "jbd",
                "measurements": {
                    "pack_voltage_v": 690.0 + soc / 10,
                    "soc_pct": soc,
                    "temperatures_c": [temperature, temperature + 1.5],
                },
                "rawFrames": [],
                "errors": [],
                "monotonicNs": sequence * 1_000_000,
                "bootId": "9b1c0000-0000-4000-8000-000000000000",
                "wallTimeMs": start + sequence * 300_000,
                "clockSource": "system",
            }
        )
    batch_id = str(uuid.uuid4())
    batch: dict[str, Any] = {
        "deviceId": device.did,
        "batchId": batch_id,
        "idempotencyKey": f"{device.did}/{batch_id}",
        "samples": samples,
    }
    batch["signature"] = b64url(device.sign(signing_bytes(batch)))
    reply = await http.post(
        "/graphql", json={"query": INGEST_MUTATION, "variables": {"input": batch}}
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()["data"]["ingestSamples"]
    assert result["__typename"] == "IngestSamplesResult", result
    assert {row["status"] for row in result["results"]} == {"ACCEPTED"}, result


async def seed(http: httpx.AsyncClient, keys: Keys, *, telemetry: bool = True) -> Seeded:
    """The battery described in the module docstring; `http` talks to the app."""
    owner = await sign_up(http, "owner")
    stranger = await sign_up(http, "stranger")
    model = await gql(
        http,
        """mutation($input: RegisterBatteryModelInput!) { registerBatteryModel(input: $input) {
             __typename ... on RegisterBatteryModelSuccess { model { id } }
             ... on PassportError { code message } } }""",
        {
            "input": {
                "name": f"E-GMP 77.4 kWh ({uuid.uuid4().hex[:4]})",
                "manufacturer": "Busan Battery Works",
                "chemistry": "NMC",
                "ratedCapacityAh": 111.2,
                "nominalVoltageV": 697,
                "attributes": MODEL_ATTRIBUTES,
            }
        },
        keys.manufacturer,
    )
    succeeded(model, "RegisterBatteryModelSuccess")
    battery = await gql(
        http,
        """mutation($input: RegisterBatteryOfModelInput!) { registerBatteryOfModel(input: $input) {
             __typename ... on RegisterBatterySuccess { battery { id batteryId } }
             ... on PassportError { code message } } }""",
        {
            "input": {
                "modelId": model["model"]["id"],
                "identifier": f"KR2025{uuid.uuid4().hex[:6].upper()}NMC",
                "attributes": {"puttingIntoServiceDate": "2025-03", "manufacturingDate": "2025-01"},
            }
        },
        keys.manufacturer,
    )
    succeeded(battery, "RegisterBatterySuccess")
    global_id = battery["battery"]["id"]
    battery_id = battery["battery"]["batteryId"]
    for at, value in SOH_SERIES:  # one call each: a call holds one value per attribute
        measured = await gql(
            http,
            """mutation($id: ID!, $m: [MeasurementInput!]!) { recordMeasurements(input: {
                 batteryId: $id, measurements: $m}) { __typename
                 ... on PassportError { code message } } }""",
            {
                "id": global_id,
                "m": [
                    {
                        "term": "stateOfCertifiedEnergy",
                        "value": value,
                        "measuredAt": at,
                        "method": "BMS readout",
                        "uncertainty": 1.5,
                    }
                ],
            },
            keys.manufacturer,
        )
        succeeded(measured, "UpdateBatterySuccess")
    issued = await gql(
        http,
        """mutation($id: ID!) { issuePassport(input: {batteryId: $id, kind: PASSPORT}) {
             __typename ... on IssuePassportSuccess { credential { document } }
             ... on PassportError { code message } } }""",
        {"id": global_id},
        keys.manufacturer,
    )
    succeeded(issued, "IssuePassportSuccess")
    vehicle = await gql(
        http,
        """mutation($vin: String!, $owner: String!) { registerVehicle(input: {vin: $vin,
             plate: "12가3456", ownerId: $owner}) { __typename
             ... on RegisterVehicleSuccess { vehicleId }
             ... on PassportError { code message } } }""",
        {"vin": a_vin(), "owner": owner.driver_id},
        keys.manufacturer,
    )
    succeeded(vehicle, "RegisterVehicleSuccess")
    for query, variables in (
        (
            "mutation($id: ID!) { recordLifecycleEvent(input: {batteryId: $id, "
            "kind: MANUFACTURED}) { __typename ... on PassportError { code message } } }",
            {"id": global_id},
        ),
        (
            "mutation($id: ID!, $v: ID!) { installBattery(input: {batteryId: $id, vehicleId: $v}) "
            "{ __typename ... on PassportError { code message } } }",
            {"id": global_id, "v": vehicle["vehicleId"]},
        ),
        (
            "mutation($id: ID!, $o: String!) { transferOwnership(input: {batteryId: $id, "
            "newOwnerId: $o}) { __typename ... on PassportError { code message } } }",
            {"id": global_id, "o": owner.driver_id},
        ),
    ):
        succeeded(await gql(http, query, variables, keys.manufacturer), "LifecycleSuccess")
    consent = await gql(
        http,
        """mutation($g: String!) { grantConsent(input: {grantee: $g, dataGroup: "performance"})
             { __typename ... on AccountError { code message } } }""",
        {"g": keys.repairer_did},
        owner.token,
    )
    succeeded(consent, "ConsentSuccess")
    if telemetry:
        await _telemetry(http, keys, battery_id)
    return Seeded(
        battery_id=battery_id,
        global_id=global_id,
        credential=issued["credential"]["document"],
        owner=owner,
        stranger=stranger,
        keys=keys,
    )
