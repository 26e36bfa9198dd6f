from __future__ import annotations

from dataclasses import dataclass

from backend.kit.errors import ForbiddenError, UnauthenticatedError
from backend.orgs.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request (anonymous when nothing was presented)."""

    organisation_id: int | None = None
    organisation_slug: str | None = None
    role: Role | None = None
    api_key_id: int | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.organisation_id is not None

    def require_role(self, allowed: frozenset[Role]) -> None:
        if not self.is_authenticated:
            raise UnauthenticatedError("this operation needs an API key (Authorization: Bearer)")
        if self.role not in allowed:
            raise ForbiddenError(
                f"role {self.role} may not do this; allowed: {', '.join(sorted(allowed))}"
            )


ANONYMOUS = Principal()
