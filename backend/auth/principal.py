"""Who is asking: principals and how requests authenticate."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.auth.scopes import (
    ANONYMOUS_SCOPES,
    DEVICE_SCOPES,
    DRIVER_SCOPES,
    Scope,
    scopes_for_role,
)
from backend.kit.errors import ForbiddenError, UnauthenticatedError
from backend.orgs.roles import Role


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"
    DRIVER = "driver"
    ORGANISATION = "organisation"
    DEVICE = "device"


class AuthMethod(StrEnum):
    NONE = "none"
    API_KEY = "api-key"
    ACCESS_TOKEN = "access-token"  # noqa: S105 - a method name, not a secret
    OIDC = "oidc"
    PRESENTATION = "presentation"
    DEVICE_SIGNATURE = "device-signature"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request (anonymous when nothing was presented).

    `kind` and `scopes` are derived when not given: an organisation id or DID with a role makes
    an organisation principal holding its role's scopes, a driver id a driver principal.
    `subject` is the stable, pseudonymous id written into audit entries and events.
    """

    organisation_id: int | None = None
    organisation_slug: str | None = None
    role: Role | None = None
    api_key_id: int | None = None
    driver_id: str | None = None
    device_id: str | None = None
    did: str | None = None
    kind: PrincipalKind | None = None
    scopes: frozenset[Scope] | None = None
    auth_method: AuthMethod = AuthMethod.NONE
    session_id: str | None = None  # a driver's refresh-token family

    def __post_init__(self) -> None:
        if self.kind is None:
            if self.driver_id is not None:
                kind = PrincipalKind.DRIVER
            elif self.device_id is not None:
                kind = PrincipalKind.DEVICE
            elif self.role is not None and (
                self.organisation_id is not None or self.did is not None
            ):
                kind = PrincipalKind.ORGANISATION
            else:
                kind = PrincipalKind.ANONYMOUS
            object.__setattr__(self, "kind", kind)
        if self.scopes is None:
            object.__setattr__(self, "scopes", _default_scopes(self))
        if self.kind is PrincipalKind.ORGANISATION and self.auth_method is AuthMethod.NONE:
            object.__setattr__(self, "auth_method", AuthMethod.API_KEY)

    @property
    def is_authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS

    @property
    def is_driver(self) -> bool:
        return self.kind is PrincipalKind.DRIVER

    @property
    def is_organisation(self) -> bool:
        return self.kind is PrincipalKind.ORGANISATION

    @property
    def subject(self) -> str:
        """Who this is, for audit entries: `driver:<id>`, `org:<did or id>`, `device:<id>`."""
        if self.kind is PrincipalKind.DRIVER:
            return f"driver:{self.driver_id}"
        if self.kind is PrincipalKind.DEVICE:
            return f"device:{self.device_id}"
        if self.kind is PrincipalKind.ORGANISATION:
            return f"org:{self.did or self.organisation_slug or self.organisation_id}"
        return "anonymous"

    def has_scope(self, scope: Scope) -> bool:
        return scope in (self.scopes or frozenset())

    def require_scope(self, scope: Scope) -> None:
        if self.has_scope(scope):
            return
        if not self.is_authenticated:
            raise UnauthenticatedError("this operation needs credentials (Authorization: Bearer)")
        raise ForbiddenError(f"missing scope {scope}")

    def require_role(self, allowed: frozenset[Role]) -> None:
        """For services that act *as* a platform-registered organisation (its row, its keys):
        a role proven only by a presentation, without an organisation row, is not enough."""
        if not self.is_authenticated:
            raise UnauthenticatedError("this operation needs an API key (Authorization: Bearer)")
        if self.organisation_id is None:
            raise ForbiddenError("this operation needs an organisation's API key")
        if self.role not in allowed:
            raise ForbiddenError(
                f"role {self.role} may not do this; allowed: {', '.join(sorted(allowed))}"
            )


def _default_scopes(principal: Principal) -> frozenset[Scope]:
    if principal.kind is PrincipalKind.DRIVER:
        return DRIVER_SCOPES
    if principal.kind is PrincipalKind.DEVICE:
        return DEVICE_SCOPES
    if principal.kind is PrincipalKind.ORGANISATION and principal.role is not None:
        return scopes_for_role(principal.role)
    return ANONYMOUS_SCOPES


ANONYMOUS = Principal()
