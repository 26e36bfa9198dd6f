"""The authorization matrix: every principal kind and role × every action, on a battery that a
driver owns, that another organisation is responsible for, held by nobody, with no consent.
The expected table is written out by hand (it is the spec); a change of policy changes it."""

from __future__ import annotations

import pytest

from backend.auth.policy import (
    ACTION_SCOPE,
    Action,
    Basis,
    ConsentGrants,
    Resource,
    ResourceKind,
    authorize,
    decide,
)
from backend.auth.principal import ANONYMOUS, Principal, PrincipalKind
from backend.kit.errors import ForbiddenError, UnauthenticatedError
from backend.orgs.roles import Role

OWNER = "driver-owner"
STRANGER = "driver-stranger"
MAKER = "did:web:platform.example:orgs:maker"
GROUP = "legitimate_interest.condition"

A = Action
# Actions on the owner's battery / vehicle / driver record. `x` = allowed.
ALL_ACTIONS = tuple(Action)


def org(role: Role, slug: str | None = None) -> Principal:
    return Principal(
        organisation_id=1,
        organisation_slug=slug or role.value,
        role=role,
        did=f"did:web:platform.example:orgs:{slug or role.value}",
    )


PRINCIPALS: dict[str, Principal] = {
    "anonymous": ANONYMOUS,
    "owner": Principal(driver_id=OWNER),
    "stranger": Principal(driver_id=STRANGER),
    "device": Principal(device_id="gateway-1"),
    **{role.value: org(role) for role in Role},
}

ALLOWED: dict[str, set[Action]] = {
    "anonymous": {A.READ_PUBLIC},
    "owner": {
        A.READ_PUBLIC,
        A.READ_RESTRICTED,
        A.UPLOAD_TELEMETRY,
        A.READ_VEHICLE,
        A.TRANSFER_OWNERSHIP,
        A.MANAGE_CONSENT,
        A.READ_PERSONAL_DATA,
        A.EXPORT_DRIVER,
        A.ERASE_DRIVER,
        A.EXPORT_BATTERY,
    },
    "stranger": {A.READ_PUBLIC},
    "device": {A.UPLOAD_TELEMETRY},
    "platform": set(Action)
    - {
        A.READ_AUDIT_LOG,
        A.ACCREDIT_ISSUER,
        A.TRANSFER_OWNERSHIP,
        A.MANAGE_CONSENT,
    },
    "issuer": {A.READ_PUBLIC, A.REGISTER_BATTERY},
    "manufacturer": {A.READ_PUBLIC, A.REGISTER_BATTERY},
    "charge-point-operator": {
        A.READ_PUBLIC,
        A.REQUEST_CHARGING_DECISION,
        A.REPORT_CHARGING_SESSION,
        A.UPLOAD_TELEMETRY,
    },
    "parking-operator": {A.READ_PUBLIC, A.DECIDE_PARKING, A.REQUEST_CHARGING_DECISION},
    "inspector": {A.READ_PUBLIC, A.UPLOAD_TELEMETRY},
    "repairer": {A.READ_PUBLIC, A.UPLOAD_TELEMETRY},
    "second-life-operator": {A.READ_PUBLIC, A.REGISTER_BATTERY},
    "recycler": {A.READ_PUBLIC},
    "authority": {
        A.READ_PUBLIC,
        A.READ_RESTRICTED,
        A.READ_AUTHORITY,
        A.READ_VEHICLE,
        A.EXPORT_BATTERY,
        A.READ_AUDIT_LOG,
        A.READ_STATISTICS,
        A.ACCREDIT_ISSUER,
    },
}


def resource_for(action: Action) -> Resource:
    if action in (A.MANAGE_CONSENT, A.READ_PERSONAL_DATA, A.EXPORT_DRIVER, A.ERASE_DRIVER):
        return Resource(ResourceKind.DRIVER, id=OWNER, owner_id=OWNER)
    if action in (A.READ_VEHICLE, A.TRANSFER_OWNERSHIP):
        return Resource(ResourceKind.VEHICLE, id="vehicle-1", owner_id=OWNER, data_group=GROUP)
    return Resource(
        ResourceKind.BATTERY,
        id="battery-1",
        owner_id=OWNER,
        responsible_did=MAKER,
        data_group=GROUP,
    )


def test_every_principal_and_every_action_is_in_the_table() -> None:
    assert set(PRINCIPALS) == set(ALLOWED)
    assert {r.value for r in Role} <= set(PRINCIPALS)
    assert set(ACTION_SCOPE) == set(Action)


@pytest.mark.parametrize("who", sorted(PRINCIPALS))
@pytest.mark.parametrize("action", ALL_ACTIONS, ids=str)
def test_authorization_matrix(who: str, action: Action) -> None:
    decision = decide(PRINCIPALS[who], action, resource_for(action))
    expected = action in ALLOWED[who]
    assert decision.allowed is expected, (who, action, decision.reason)


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=str)
def test_refusals_raise_typed_errors(action: Action) -> None:
    resource = resource_for(action)
    if action is not A.READ_PUBLIC:
        with pytest.raises(UnauthenticatedError):
            authorize(ANONYMOUS, action, resource)
    if action not in ALLOWED["stranger"]:
        with pytest.raises(ForbiddenError):
            authorize(PRINCIPALS["stranger"], action, resource)


def test_responsible_manufacturer_writes_its_own_battery_only() -> None:
    maker = Principal(
        organisation_id=7, organisation_slug="maker", role=Role.MANUFACTURER, did=MAKER
    )
    other = Principal(
        organisation_id=8,
        organisation_slug="rival",
        role=Role.MANUFACTURER,
        did="did:web:platform.example:orgs:rival",
    )
    battery = resource_for(A.ISSUE_PASSPORT)
    for action in (
        A.UPDATE_BATTERY,
        A.ISSUE_PASSPORT,
        A.REVOKE_CREDENTIAL,
        A.RECORD_LIFECYCLE_EVENT,
        A.READ_RESTRICTED,
        A.EXPORT_BATTERY,
    ):
        assert decide(maker, action, battery).basis is Basis.RESPONSIBLE, action
        assert not decide(other, action, battery).allowed, action


@pytest.mark.parametrize(
    "role",
    [
        Role.INSPECTOR,
        Role.REPAIRER,
        Role.SECOND_LIFE_OPERATOR,
        Role.RECYCLER,
        Role.CHARGE_POINT_OPERATOR,
    ],
)
def test_consent_opens_exactly_the_granted_data_group(role: Role) -> None:
    who = org(role)
    assert who.did is not None
    battery = resource_for(A.READ_RESTRICTED)
    consents = ConsentGrants.of([(OWNER, who.did, GROUP)])
    assert decide(who, A.READ_RESTRICTED, battery, consents).basis is Basis.CONSENT
    battery_other = Resource(
        ResourceKind.BATTERY,
        id="battery-1",
        owner_id=OWNER,
        responsible_did=MAKER,
        data_group="legitimate_interest.materials",
    )
    assert not decide(who, A.READ_RESTRICTED, battery_other, consents).allowed
    # Consent of another owner is no consent for this battery.
    foreign = ConsentGrants.of([(STRANGER, who.did, GROUP)])
    assert not decide(who, A.READ_RESTRICTED, battery, foreign).allowed
    # Consent given to another organisation does not carry over.
    elsewhere = ConsentGrants.of([(OWNER, "did:web:platform.example:orgs:else", GROUP)])
    assert not decide(who, A.READ_RESTRICTED, battery, elsewhere).allowed


def test_parking_operator_never_reads_restricted_data_even_with_consent() -> None:
    gate = org(Role.PARKING_OPERATOR)
    assert gate.did is not None
    consents = ConsentGrants.of([(OWNER, gate.did, GROUP)])
    assert not decide(gate, A.READ_RESTRICTED, resource_for(A.READ_RESTRICTED), consents).allowed


def test_inspection_needs_consent_or_custody() -> None:
    inspector = org(Role.INSPECTOR)
    assert inspector.did is not None
    battery = Resource(ResourceKind.BATTERY, id="b", owner_id=OWNER, data_group="inspection")
    assert not decide(inspector, A.RECORD_INSPECTION, battery).allowed
    consents = ConsentGrants.of([(OWNER, inspector.did, "inspection")])
    assert decide(inspector, A.RECORD_INSPECTION, battery, consents).basis is Basis.CONSENT
    in_bay = Resource(ResourceKind.BATTERY, id="b", owner_id=OWNER, custodian_did=inspector.did)
    assert decide(inspector, A.RECORD_INSPECTION, in_bay).basis is Basis.CUSTODY


@pytest.mark.parametrize("role", [Role.RECYCLER, Role.REPAIRER, Role.SECOND_LIFE_OPERATOR])
def test_custody_allows_lifecycle_events_and_restricted_reads(role: Role) -> None:
    holder = org(role)
    held = Resource(
        ResourceKind.BATTERY, id="b", owner_id=OWNER, custodian_did=holder.did, data_group=GROUP
    )
    assert decide(holder, A.RECORD_LIFECYCLE_EVENT, held).basis is Basis.CUSTODY
    assert decide(holder, A.READ_RESTRICTED, held).basis is Basis.CUSTODY
    someone_elses = Resource(
        ResourceKind.BATTERY,
        id="b",
        owner_id=OWNER,
        custodian_did="did:web:platform.example:orgs:other",
        data_group=GROUP,
    )
    assert not decide(holder, A.RECORD_LIFECYCLE_EVENT, someone_elses).allowed
    assert not decide(holder, A.READ_RESTRICTED, someone_elses).allowed


def test_unowned_battery_is_readable_by_legitimate_interest_roles_only() -> None:
    stock = Resource(ResourceKind.BATTERY, id="b", responsible_did=MAKER, data_group=GROUP)
    for role in (Role.INSPECTOR, Role.REPAIRER, Role.SECOND_LIFE_OPERATOR, Role.RECYCLER):
        assert decide(org(role), A.READ_RESTRICTED, stock).basis is Basis.LEGITIMATE_INTEREST
    for role in (Role.CHARGE_POINT_OPERATOR, Role.PARKING_OPERATOR, Role.ISSUER):
        assert not decide(org(role), A.READ_RESTRICTED, stock).allowed
    assert not decide(Principal(driver_id=OWNER), A.READ_RESTRICTED, stock).allowed


def test_no_idor_a_driver_reaches_only_their_own_objects() -> None:
    stranger = PRINCIPALS["stranger"]
    for action in ALL_ACTIONS:
        if action is A.READ_PUBLIC:
            continue
        assert not decide(stranger, action, resource_for(action)).allowed, action
    own = Resource(ResourceKind.VEHICLE, id="vehicle-2", owner_id=STRANGER)
    assert decide(stranger, A.READ_VEHICLE, own).basis is Basis.OWNER


def test_principal_kinds_and_subjects() -> None:
    assert ANONYMOUS.kind is PrincipalKind.ANONYMOUS
    assert not ANONYMOUS.is_authenticated
    assert PRINCIPALS["owner"].subject == f"driver:{OWNER}"
    assert PRINCIPALS["recycler"].kind is PrincipalKind.ORGANISATION
    assert PRINCIPALS["recycler"].subject == "org:did:web:platform.example:orgs:recycler"
    # An API-key principal built the old way (no DID) still gets its role's scopes.
    legacy = Principal(organisation_id=3, organisation_slug="acme", role=Role.MANUFACTURER)
    assert legacy.is_organisation
    assert decide(legacy, A.REGISTER_BATTERY, resource_for(A.REGISTER_BATTERY)).allowed


def test_require_role_needs_a_registered_organisation() -> None:
    keyed = Principal(organisation_id=5, organisation_slug="acme", role=Role.INSPECTOR)
    keyed.require_role(frozenset({Role.INSPECTOR}))
    presented = Principal(did="did:key:z6Mk-inspector", role=Role.INSPECTOR)
    assert presented.is_organisation
    with pytest.raises(ForbiddenError):
        presented.require_role(frozenset({Role.INSPECTOR}))
    with pytest.raises(ForbiddenError):
        keyed.require_role(frozenset({Role.MANUFACTURER}))
    with pytest.raises(UnauthenticatedError):
        ANONYMOUS.require_role(frozenset({Role.INSPECTOR}))


def test_role_groups_open_their_data_groups_without_consent() -> None:
    recycler = org(Role.RECYCLER)
    grants = ConsentGrants.of([], {Role.RECYCLER: frozenset({"materials"})})

    def group(name: str) -> Resource:
        return Resource(ResourceKind.BATTERY, id="b", owner_id=OWNER, data_group=name)

    assert decide(recycler, A.READ_RESTRICTED, group("materials"), grants).basis is (
        Basis.LEGITIMATE_INTEREST
    )
    assert not decide(recycler, A.READ_RESTRICTED, group("performance"), grants).allowed
    # Only the legitimate-interest roles: a charge-point operator listed there gains nothing.
    cpo_table = ConsentGrants.of([], {Role.CHARGE_POINT_OPERATOR: frozenset({"materials"})})
    cpo = org(Role.CHARGE_POINT_OPERATOR)
    assert not decide(cpo, A.READ_RESTRICTED, group("materials"), cpo_table).allowed


def test_groups_for_lists_one_owners_consents_to_one_grantee() -> None:
    grants = ConsentGrants.of(
        [(OWNER, "did:a", "performance"), (OWNER, "did:a", "materials"), (OWNER, "did:b", "x")]
    )
    assert grants.groups_for(OWNER, "did:a") == {"performance", "materials"}
    assert grants.groups_for(STRANGER, "did:a") == frozenset()
