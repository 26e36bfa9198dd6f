"""GraphQL object types of the passport slice."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from backend.issuance import service as issuance
from backend.kit.errors import DomainError, ErrorCode
from backend.kit.models import as_utc

if TYPE_CHECKING:
    from backend.issuance.models import IssuedCredential
    from backend.passports.models import Battery as BatteryRow
    from graphql_schema.context import Context


@strawberry.enum(description="Machine-readable reason of an expected failure.")
class PassportErrorCode(Enum):
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_INPUT = ErrorCode.INVALID_INPUT.value
    ALREADY_EXISTS = ErrorCode.ALREADY_EXISTS.value
    ALREADY_REVOKED = ErrorCode.ALREADY_REVOKED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    CONFLICT = ErrorCode.CONFLICT.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value


@strawberry.type(description="An expected failure: nothing was written.")
class PassportError:
    code: PassportErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> PassportError:
        return cls(
            code=PassportErrorCode(error.code.value), message=error.message, field=error.field
        )


@strawberry.enum
class CredentialStatus(Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


@strawberry.type(description="A credential the platform issued, with its current status.")
class Credential:
    id: str
    type: str
    issuer: str
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    document: JSON

    @strawberry.field
    def status(self) -> CredentialStatus:
        return CredentialStatus.REVOKED if self.revoked_at is not None else CredentialStatus.ACTIVE

    @classmethod
    def from_row(cls, row: IssuedCredential) -> Credential:
        return cls(
            id=row.credential_id,
            type=row.type,
            issuer=row.issuer_did,
            issued_at=as_utc(row.issued_at),
            revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
            revocation_reason=row.revocation_reason,
            document=cast(JSON, row.document),
        )


@strawberry.type(description="A battery registered on the platform.")
class Battery:
    id: strawberry.ID
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    created_at: datetime

    @strawberry.field(description="The passport identifier: urn:uuid:<battery id>.")
    def passport_id(self) -> str:
        return f"urn:uuid:{self.id}"

    @strawberry.field(description="The current BatteryPassportCredential, if one was issued.")
    async def passport(self, info: strawberry.Info[Context, None]) -> Credential | None:
        async with info.context.runtime.db.read_only() as session:
            row = await issuance.current_passport_credential(session, str(self.id))
        return Credential.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: BatteryRow) -> Battery:
        return cls(
            id=strawberry.ID(row.id),
            identifier=row.identifier,
            model=row.model,
            manufacturer=row.manufacturer,
            chemistry=row.chemistry,
            rated_capacity_ah=row.rated_capacity_ah,
            nominal_voltage_v=row.nominal_voltage_v,
            created_at=as_utc(row.created_at),
        )


@strawberry.enum
class CheckStatus(Enum):
    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@strawberry.type(description="One verification check and why it ended as it did.")
class VerificationCheck:
    name: str
    status: CheckStatus
    reason: str | None


@strawberry.type(
    description="The verifier's result: verified when no check failed and none required is unknown."
)
class VerificationResult:
    verified: bool
    checks: list[VerificationCheck]
    snapshot_age_s: float | None

    @classmethod
    def from_json(cls, result: dict[str, Any]) -> VerificationResult:
        return cls(
            verified=bool(result["verified"]),
            checks=[
                VerificationCheck(
                    name=check["name"],
                    status=CheckStatus(check["status"]),
                    reason=check.get("reason"),
                )
                for check in result["checks"]
            ],
            snapshot_age_s=result.get("snapshot_age_s"),
        )


@strawberry.type
class RegisterBatterySuccess:
    battery: Battery


@strawberry.type
class IssuePassportSuccess:
    battery: Battery
    credential: Credential


@strawberry.type
class RevokeCredentialSuccess:
    credential: Credential


RegisterBatteryResult = Annotated[
    RegisterBatterySuccess | PassportError, strawberry.union("RegisterBatteryResult")
]
IssuePassportResult = Annotated[
    IssuePassportSuccess | PassportError, strawberry.union("IssuePassportResult")
]
RevokeCredentialResult = Annotated[
    RevokeCredentialSuccess | PassportError, strawberry.union("RevokeCredentialResult")
]
VerifyCredentialResult = Annotated[
    VerificationResult | PassportError, strawberry.union("VerifyCredentialResult")
]
