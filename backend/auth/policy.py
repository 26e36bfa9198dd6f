"""Authorization: one entry point, `authorize(principal, action, resource, consents)`.

Two layers, both plain functions without I/O so resolvers, DataLoaders and `node` lookups call
the same code: the action needs a scope (what this kind of principal may do at all), then an
object-level rule decides for this battery / vehicle / driver — owner of the vehicle, the
owner's consent to an organisation for a data group, custody of the battery (recyclers,
repairers, second-life operators hold it physically), or responsibility for it (the
manufacturer or issuer). Consents are loaded by the caller (`backend.consent.service`) in
one query for a whole batch and passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from backend.auth.principal import Principal, PrincipalKind
from backend.auth.scopes import Scope
from backend.kit.errors import ForbiddenError, UnauthenticatedError
from backend.orgs.roles import Role


class Action(StrEnum):
    READ_PUBLIC = "passport.read_public"
    READ_RESTRICTED = "passport.read_restricted"
    READ_AUTHORITY = "passport.read_authority"
    REGISTER_BATTERY = "battery.register"
    UPDATE_BATTERY = "battery.update"
    ISSUE_PASSPORT = "passport.issue"
    REVOKE_CREDENTIAL = "credential.revoke"
    RECORD_INSPECTION = "inspection.record"
    RECORD_LIFECYCLE_EVENT = "lifecycle.record"
    REQUEST_CHARGING_DECISION = "charging.decide"
    REPORT_CHARGING_SESSION = "charging.report"
    DECIDE_PARKING = "parking.decide"
    UPLOAD_TELEMETRY = "telemetry.upload"
    READ_VEHICLE = "vehicle.read"
    TRANSFER_OWNERSHIP = "vehicle.transfer"
    MANAGE_CONSENT = "consent.manage"
    READ_PERSONAL_DATA = "driver.read"
    EXPORT_DRIVER = "driver.export"
    ERASE_DRIVER = "driver.erase"
    EXPORT_BATTERY = "battery.export"
    READ_AUDIT_LOG = "audit.read"
    READ_STATISTICS = "statistics.read"
    ACCREDIT_ISSUER = "issuer.accredit"
    MANAGE_API_KEYS = "apikey.manage"


class ResourceKind(StrEnum):
    BATTERY = "battery"
    CREDENTIAL = "credential"
    VEHICLE = "vehicle"
    DRIVER = "driver"
    AUDIT_LOG = "audit_log"
    STATISTICS = "statistics"
    ISSUER_REGISTRY = "issuer_registry"
    ORGANISATION = "organisation"


ACTION_SCOPE: Final[Mapping[Action, Scope]] = {
    Action.READ_PUBLIC: Scope.PASSPORT_READ,
    Action.READ_RESTRICTED: Scope.PASSPORT_READ_RESTRICTED,
    Action.READ_AUTHORITY: Scope.PASSPORT_READ_AUTHORITY,
    Action.REGISTER_BATTERY: Scope.BATTERY_WRITE,
    Action.UPDATE_BATTERY: Scope.BATTERY_WRITE,
    Action.ISSUE_PASSPORT: Scope.PASSPORT_ISSUE,
    Action.REVOKE_CREDENTIAL: Scope.CREDENTIAL_REVOKE,
    Action.RECORD_INSPECTION: Scope.INSPECTION_WRITE,
    Action.RECORD_LIFECYCLE_EVENT: Scope.LIFECYCLE_WRITE,
    Action.REQUEST_CHARGING_DECISION: Scope.CHARGING_DECIDE,
    Action.REPORT_CHARGING_SESSION: Scope.CHARGING_REPORT,
    Action.DECIDE_PARKING: Scope.PARKING_DECIDE,
    Action.UPLOAD_TELEMETRY: Scope.TELEMETRY_UPLOAD,
    Action.READ_VEHICLE: Scope.PASSPORT_READ_RESTRICTED,
    Action.TRANSFER_OWNERSHIP: Scope.VEHICLE_OWN,
    Action.MANAGE_CONSENT: Scope.CONSENT_MANAGE,
    Action.READ_PERSONAL_DATA: Scope.PERSONAL_DATA,
    Action.EXPORT_DRIVER: Scope.PERSONAL_DATA,
    Action.ERASE_DRIVER: Scope.PERSONAL_DATA,
    Action.EXPORT_BATTERY: Scope.PASSPORT_READ_RESTRICTED,
    Action.READ_AUDIT_LOG: Scope.AUDIT_READ,
    Action.READ_STATISTICS: Scope.STATISTICS_READ,
    Action.ACCREDIT_ISSUER: Scope.ISSUER_ACCREDIT,
    Action.MANAGE_API_KEYS: Scope.APIKEY_MANAGE,
}

READ_ACTIONS: Final = frozenset(
    {
        Action.READ_PUBLIC,
        Action.READ_RESTRICTED,
        Action.READ_AUTHORITY,
        Action.READ_VEHICLE,
        Action.READ_PERSONAL_DATA,
        Action.EXPORT_DRIVER,
        Action.EXPORT_BATTERY,
        Action.READ_AUDIT_LOG,
        Action.READ_STATISTICS,
        Action.REQUEST_CHARGING_DECISION,
        Action.DECIDE_PARKING,
    }
)
# What the audit log records: every write, and every read of more than public data.
AUDITED_ACTIONS: Final = frozenset(Action) - {
    Action.READ_PUBLIC,
    Action.READ_STATISTICS,
    Action.REQUEST_CHARGING_DECISION,
    Action.DECIDE_PARKING,
}

# Organisations that may read restricted data of a battery no driver owns (in stock, removed,
# in second life): the legitimate-interest persons of the regulation.
LEGITIMATE_INTEREST_ROLES: Final = frozenset(
    {Role.INSPECTOR, Role.REPAIRER, Role.SECOND_LIFE_OPERATOR, Role.RECYCLER}
)
# Roles whose access to a battery comes from holding it.
CUSTODY_ROLES: Final = frozenset({Role.REPAIRER, Role.SECOND_LIFE_OPERATOR, Role.RECYCLER})


@dataclass(frozen=True, slots=True)
class Resource:
    """What is acted on. `owner_id` is the driver owning the vehicle (or, for a driver
    resource, the driver); `responsible_did` the organisation that placed the battery on the
    market or issued the credential; `custodian_did` who holds the battery now."""

    kind: ResourceKind
    id: str | None = None
    owner_id: str | None = None
    responsible_did: str | None = None
    custodian_did: str | None = None
    data_group: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentGrants:
    """What has been granted, for one request: the active consents (owner driver id, grantee
    DID, data group), and the data groups each role reaches without consent (the access
    module's table of legitimate interest by role, e.g. a recycler's materials data)."""

    grants: frozenset[tuple[str, str, str]] = frozenset()
    role_groups: Mapping[Role, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        grants: Iterable[tuple[str, str, str]],
        role_groups: Mapping[Role, frozenset[str]] | None = None,
    ) -> ConsentGrants:
        return cls(frozenset(grants), dict(role_groups or {}))

    def with_role_groups(self, role_groups: Mapping[Role, frozenset[str]]) -> ConsentGrants:
        return ConsentGrants(self.grants, dict(role_groups))

    def allows(self, owner_id: str | None, grantee_did: str | None, data_group: str | None) -> bool:
        if owner_id is None or grantee_did is None or data_group is None:
            return False
        return (owner_id, grantee_did, data_group) in self.grants

    def role_allows(self, role: Role | None, data_group: str | None) -> bool:
        if role is None or data_group is None:
            return False
        return data_group in self.role_groups.get(role, frozenset())

    def groups_for(self, owner_id: str | None, grantee_did: str | None) -> frozenset[str]:
        """The data groups `owner_id` consented to for `grantee_did` (for field filtering)."""
        return frozenset(
            group
            for owner, grantee, group in self.grants
            if (owner, grantee) == (owner_id, grantee_did)
        )


NO_CONSENTS: Final = ConsentGrants()


class Basis(StrEnum):
    """Why access was allowed (kept in the audit entry)."""

    PUBLIC = "public"
    ROLE = "role"
    OWNER = "owner"
    SELF = "self"
    CONSENT = "consent"
    CUSTODY = "custody"
    RESPONSIBLE = "responsible"
    LEGITIMATE_INTEREST = "legitimate-interest"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    basis: Basis | None = None


def _allow(basis: Basis, reason: str = "") -> Decision:
    return Decision(True, reason or str(basis), basis)


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def decide(
    principal: Principal,
    action: Action,
    resource: Resource,
    consents: ConsentGrants = NO_CONSENTS,
) -> Decision:
    """Allowed or refused, with the reason. Never raises."""
    scope = ACTION_SCOPE[action]
    if not principal.has_scope(scope):
        return _deny(f"{principal.kind} {principal.role or ''} lacks scope {scope}".strip())
    rule = _RULES.get(action)
    return (
        _allow(Basis.ROLE, f"scope {scope}")
        if rule is None
        else rule(principal, resource, consents)
    )


def authorize(
    principal: Principal,
    action: Action,
    resource: Resource,
    consents: ConsentGrants = NO_CONSENTS,
) -> Decision:
    """`decide`, raising `UnauthenticatedError` (anonymous caller) or `ForbiddenError`."""
    decision = decide(principal, action, resource, consents)
    if decision.allowed:
        return decision
    if not principal.is_authenticated:
        raise UnauthenticatedError(f"{action} needs credentials (Authorization: Bearer)")
    # The message names the action, never whether the object exists or whose it is.
    raise ForbiddenError(f"not allowed to {action} on this {resource.kind}")


# ---------------------------------------------------------------------- object-level rules


def _is_org(principal: Principal, *roles: Role) -> bool:
    return principal.kind is PrincipalKind.ORGANISATION and principal.role in roles


def _same_org(principal: Principal, did: str | None) -> bool:
    return principal.kind is PrincipalKind.ORGANISATION and did is not None and principal.did == did


def _is_owner(principal: Principal, resource: Resource) -> bool:
    return (
        principal.kind is PrincipalKind.DRIVER
        and resource.owner_id is not None
        and principal.driver_id == resource.owner_id
    )


def _public(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    return _allow(Basis.PUBLIC)


def _restricted_read(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if principal.kind is PrincipalKind.DRIVER:
        return _allow(Basis.OWNER) if _is_owner(principal, resource) else _deny("not the owner")
    if _is_org(principal, Role.PLATFORM, Role.AUTHORITY):
        return _allow(Basis.ROLE)
    if _same_org(principal, resource.responsible_did):
        return _allow(Basis.RESPONSIBLE)
    if _same_org(principal, resource.custodian_did):
        return _allow(Basis.CUSTODY)
    if consents.allows(resource.owner_id, principal.did, resource.data_group):
        return _allow(Basis.CONSENT, f"consent for {resource.data_group}")
    if principal.role in LEGITIMATE_INTEREST_ROLES:
        if resource.owner_id is None:
            return _allow(Basis.LEGITIMATE_INTEREST, "no owner; legitimate-interest role")
        if consents.role_allows(principal.role, resource.data_group):
            return _allow(
                Basis.LEGITIMATE_INTEREST, f"{principal.role} reaches {resource.data_group}"
            )
    return _deny("no consent, custody or responsibility")


def _authority_read(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if _is_org(principal, Role.AUTHORITY, Role.PLATFORM):
        return _allow(Basis.ROLE)
    return _deny("authorities only")


def _responsible_write(
    principal: Principal, resource: Resource, consents: ConsentGrants
) -> Decision:
    if _is_org(principal, Role.PLATFORM):
        return _allow(Basis.ROLE)
    if _same_org(principal, resource.responsible_did):
        return _allow(Basis.RESPONSIBLE)
    return _deny("not the responsible organisation")


def _inspection(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if _same_org(principal, resource.custodian_did):
        return _allow(Basis.CUSTODY)
    if consents.allows(resource.owner_id, principal.did, resource.data_group):
        return _allow(Basis.CONSENT, f"consent for {resource.data_group}")
    if resource.owner_id is None and principal.role in LEGITIMATE_INTEREST_ROLES:
        return _allow(Basis.LEGITIMATE_INTEREST)
    if _is_org(principal, Role.PLATFORM):
        return _allow(Basis.ROLE)
    return _deny("the owner has not consented and the battery is not in custody")


def _lifecycle(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if _is_org(principal, Role.PLATFORM):
        return _allow(Basis.ROLE)
    if _same_org(principal, resource.responsible_did):
        return _allow(Basis.RESPONSIBLE)
    if principal.role in CUSTODY_ROLES and _same_org(principal, resource.custodian_did):
        return _allow(Basis.CUSTODY)
    return _deny("neither responsible for nor holding the battery")


def _telemetry(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if principal.kind is PrincipalKind.DRIVER:
        return _allow(Basis.OWNER) if _is_owner(principal, resource) else _deny("not the owner")
    return _allow(Basis.ROLE)


def _owner_only(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if _is_owner(principal, resource):
        return _allow(Basis.OWNER)
    if _is_org(principal, Role.PLATFORM):
        return _allow(Basis.ROLE)
    return _deny("not the owner")


def _vehicle_read(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if _is_owner(principal, resource):
        return _allow(Basis.OWNER)
    if _is_org(principal, Role.PLATFORM, Role.AUTHORITY):
        return _allow(Basis.ROLE)
    if consents.allows(resource.owner_id, principal.did, resource.data_group):
        return _allow(Basis.CONSENT)
    return _deny("not the owner")


def _consent(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    # Only the owner grants or withdraws; not even the platform does it for them.
    return _allow(Basis.OWNER) if _is_owner(principal, resource) else _deny("not the owner")


def _self(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if principal.kind is PrincipalKind.DRIVER and principal.driver_id == resource.owner_id:
        return _allow(Basis.SELF)
    if _is_org(principal, Role.PLATFORM):
        return _allow(Basis.ROLE, "operator acting on a data subject request")
    return _deny("only the driver themself")


def _battery_export(principal: Principal, resource: Resource, consents: ConsentGrants) -> Decision:
    if _is_owner(principal, resource):
        return _allow(Basis.OWNER)
    if _is_org(principal, Role.PLATFORM, Role.AUTHORITY):
        return _allow(Basis.ROLE)
    if _same_org(principal, resource.responsible_did):
        return _allow(Basis.RESPONSIBLE)
    return _deny("not the owner or the responsible organisation")


_Rule = Callable[[Principal, Resource, ConsentGrants], Decision]
_RULES: Final[Mapping[Action, _Rule]] = {
    Action.READ_PUBLIC: _public,
    Action.READ_RESTRICTED: _restricted_read,
    Action.READ_AUTHORITY: _authority_read,
    Action.UPDATE_BATTERY: _responsible_write,
    Action.ISSUE_PASSPORT: _responsible_write,
    Action.REVOKE_CREDENTIAL: _responsible_write,
    Action.RECORD_INSPECTION: _inspection,
    Action.RECORD_LIFECYCLE_EVENT: _lifecycle,
    Action.UPLOAD_TELEMETRY: _telemetry,
    Action.READ_VEHICLE: _vehicle_read,
    Action.TRANSFER_OWNERSHIP: _owner_only,
    Action.MANAGE_CONSENT: _consent,
    Action.READ_PERSONAL_DATA: _self,
    Action.EXPORT_DRIVER: _self,
    Action.ERASE_DRIVER: _self,
    Action.EXPORT_BATTERY: _battery_export,
}
