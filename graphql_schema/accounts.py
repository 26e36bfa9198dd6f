"""Drivers, role-credential sign-in, consent and personal data — types, queries, mutations.

Sessions: `signUp` / `logIn` return a short-lived access token and a rotating refresh token;
`refreshSession` spends the refresh token and returns a new pair (a reused one ends the whole
family); `logOut` ends one session, `logOutEverywhere` all of a driver's. Organisations proving
a role by presentation ask `roleChallenge` and answer with `signInWithPresentation`.
Failures are `AccountError` results with an `AccountErrorCode`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.access.battery import CONSENT_GROUPS
from backend.auth.drivers import TokenPair
from backend.auth.models import Driver as DriverRow
from backend.auth.policy import Action, Resource, ResourceKind, authorize
from backend.auth.principal import Principal
from backend.consent import privacy
from backend.consent import service as consent
from backend.consent.models import Consent as ConsentRow
from backend.kit.errors import DomainError, InvalidInputError, UnauthenticatedError
from backend.kit.models import as_utc
from backend.lifecycle.export import erase_owner, export_sections
from backend.passports.models import Battery as BatteryRow
from backend.vehicles.models import Vehicle as VehicleRow
from graphql_schema.context import Context
from graphql_schema.errors import AccountError, run_mutation
from graphql_schema.lifecycle import Vehicle
from graphql_schema.passports import Battery, batteries_of, battery_id_from, request_of

Info = strawberry.Info[Context, None]


@strawberry.type(description="A consent a driver granted an organisation for one data group.")
class Consent:
    grantee: str = strawberry.field(description="The organisation's DID.")
    data_group: str = strawberry.field(
        description="An attribute group (identification, …, performance) or `custody`."
    )
    purpose: str | None
    granted_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: ConsentRow) -> Consent:
        return cls(
            grantee=row.grantee_did,
            data_group=row.data_group,
            purpose=row.purpose,
            granted_at=as_utc(row.granted_at),
            withdrawn_at=as_utc(row.withdrawn_at) if row.withdrawn_at else None,
        )


@strawberry.type(description="The signed-in driver.")
class Driver:
    driver_id: str
    email: str | None
    phone: str | None
    display_name: str | None
    created_at: datetime

    @strawberry.field(description="Active consents.")
    async def consents(self, info: Info) -> list[Consent]:
        async with info.context.runtime.db.read_only() as session:
            rows = await consent.active_consents(session, self.driver_id)
        return [Consent.from_row(row) for row in rows]

    @strawberry.field(description="The driver's vehicles.")
    async def vehicles(self, info: Info) -> list[Vehicle]:
        async with info.context.runtime.db.read_only() as session:
            rows = await session.exec(
                select(VehicleRow)
                .where(VehicleRow.owner_id == self.driver_id)
                .order_by(col(VehicleRow.created_at))
            )
            return [Vehicle.from_row(row) for row in rows.all()]

    @strawberry.field(description="The batteries the driver owns.")
    async def batteries(self, info: Info) -> list[Battery]:
        async with info.context.runtime.db.read_only() as session:
            rows = list(
                (
                    await session.exec(
                        select(BatteryRow)
                        .where(BatteryRow.owner_id == self.driver_id)
                        .order_by(col(BatteryRow.created_at))
                        .limit(100)
                    )
                ).all()
            )
        return await batteries_of(info, rows)

    @classmethod
    def from_row(cls, row: DriverRow) -> Driver:
        return cls(
            driver_id=row.id,
            email=row.email,
            phone=row.phone,
            display_name=row.display_name,
            created_at=as_utc(row.created_at),
        )


@strawberry.type(description="A driver's session: bearer access token and refresh token.")
class AuthSession:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds the access token is valid.")
    token_type: str
    driver: Driver

    def replay_data(self) -> dict[str, Any]:  # sessions are never replayed: new tokens
        return {}


@strawberry.type(description="A role proven by presentation: a short-lived access token.")
class RoleSession:
    access_token: str
    expires_in: int
    role: str
    holder: str = strawberry.field(description="The holder's DID.")

    def replay_data(self) -> dict[str, Any]:
        return {}


@strawberry.type(description="A fresh single-use challenge for a role presentation.")
class RoleChallenge:
    challenge: str
    domain: str


@strawberry.type
class Done:
    ok: bool = True

    def replay_data(self) -> dict[str, Any]:
        return {}


@strawberry.type
class ConsentSuccess:
    consent: Consent

    def replay_data(self) -> dict[str, Any]:
        return {}


@strawberry.type(description="Everything held, as one package signed by the platform (JWS).")
class DataExport:
    package: JSON
    signed: str = strawberry.field(description="Compact JWS over the JCS of the package.")


AuthResult = Annotated[AuthSession | AccountError, strawberry.union("AuthResult")]
RoleSignInResult = Annotated[RoleSession | AccountError, strawberry.union("RoleSignInResult")]
RoleChallengeResult = Annotated[
    RoleChallenge | AccountError, strawberry.union("RoleChallengeResult")
]
DoneResult = Annotated[Done | AccountError, strawberry.union("DoneResult")]
ConsentResult = Annotated[ConsentSuccess | AccountError, strawberry.union("ConsentResult")]
DataExportResult = Annotated[DataExport | AccountError, strawberry.union("DataExportResult")]


@strawberry.input
class SignUpInput:
    password: str
    email: str | None = None
    phone: str | None = None
    display_name: str | None = None


@strawberry.input
class LogInInput:
    identifier: str = strawberry.field(description="Email address or phone number.")
    password: str


@strawberry.input
class ConsentInput:
    grantee: str = strawberry.field(description="The organisation's DID.")
    data_group: str
    purpose: str | None = None
    idempotency_key: str | None = None


def check_group(data_group: str) -> str:
    if data_group not in CONSENT_GROUPS:
        raise InvalidInputError(
            f"data group is one of {', '.join(sorted(CONSENT_GROUPS))}", field="dataGroup"
        )
    return data_group


def session_of(pair: TokenPair, driver: DriverRow) -> AuthSession:
    return AuthSession(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        token_type=pair.token_type,
        driver=Driver.from_row(driver),
    )


def driver_resource(driver_id: str) -> Resource:
    return Resource(ResourceKind.DRIVER, id=driver_id, owner_id=driver_id)


def auth_of(info: Info) -> Any:
    services = info.context.runtime.auth
    if services is None:
        raise DomainError("sign-in is not running in this process")
    return services


def signed_export(info: Info, package: dict[str, Any]) -> DataExport:
    platform = info.context.runtime.platform
    signer = platform.ensure_key(platform.did)
    return DataExport(package=cast(JSON, package), signed=privacy.sign_package(package, signer))


@strawberry.type
class AccountQuery:
    @strawberry.field(description="The signed-in driver (null for anyone else).")
    async def me(self, info: Info) -> Driver | None:
        principal = info.context.principal
        if not principal.is_driver or principal.driver_id is None:
            return None
        async with info.context.runtime.db.read_only() as session:
            row = await session.get(DriverRow, principal.driver_id)
        return Driver.from_row(row) if row is not None and row.anonymised_at is None else None

    @strawberry.field(description="Everything held about the signed-in driver, signed.")
    async def export_my_data(self, info: Info) -> DataExportResult:
        principal = info.context.principal
        try:
            authorize(principal, Action.EXPORT_DRIVER, driver_resource(principal.driver_id or ""))
            assert principal.driver_id is not None
            async with info.context.runtime.db.unit_of_work() as session:
                package = await privacy.export_driver(session, principal.driver_id)
                await _audit(session, info, Action.EXPORT_DRIVER, principal)
        except DomainError as error:
            return AccountError.from_domain(error)
        return signed_export(info, package)

    @strawberry.field(
        description="Everything held about a battery (owner, responsible organisation, "
        "authority), attribute groups filtered by the access policy, signed."
    )
    async def export_battery(self, info: Info, battery_id: strawberry.ID) -> DataExportResult:
        try:
            local = battery_id_from(str(battery_id))
            view = await info.context.loaders.battery_view.load(local)
            if view is None:
                raise InvalidInputError("no such battery", field="batteryId")
            authorize(info.context.principal, Action.EXPORT_BATTERY, view.resource, view.consents)
            async with info.context.runtime.db.unit_of_work() as session:
                package = await privacy.export_battery(
                    session, local, export_sections(view.entitlements)
                )
                from backend.audit.service import record

                await record(
                    session,
                    info.context.principal,
                    Action.EXPORT_BATTERY,
                    view.resource,
                    reason="battery export",
                    request_id=info.context.request_id,
                )
        except DomainError as error:
            return AccountError.from_domain(error)
        return signed_export(info, package)


async def _audit(session: AsyncSession, info: Info, action: Action, principal: Principal) -> None:
    from backend.audit.service import record

    await record(
        session,
        principal,
        action,
        driver_resource(principal.driver_id or ""),
        reason=str(action),
        request_id=info.context.request_id,
    )


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create a driver account (email or phone + password).")
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthResult:
        try:
            drivers = auth_of(info).drivers
            async with info.context.runtime.db.unit_of_work() as session:
                row = await drivers.sign_up(
                    session,
                    password=input.password,
                    email=input.email,
                    phone=input.phone,
                    display_name=input.display_name,
                )
                pair = await drivers.issue_session(session, row.id)
        except DomainError as error:
            return AccountError.from_domain(error)
        return session_of(pair, row)

    @strawberry.mutation(description="Sign in with email or phone and password.")
    async def log_in(self, info: Info, input: LogInInput) -> AuthResult:
        try:
            drivers = auth_of(info).drivers
            async with info.context.runtime.db.unit_of_work() as session:
                pair = await drivers.login(session, input.identifier, input.password)
                row = await session.get(DriverRow, pair.driver_id)
                assert row is not None
        except DomainError as error:
            return AccountError.from_domain(error)
        return session_of(pair, row)

    @strawberry.mutation(
        description="Spend a refresh token for a new token pair (a reused one ends the family)."
    )
    async def refresh_session(self, info: Info, refresh_token: str) -> AuthResult:
        try:
            drivers = auth_of(info).drivers
            async with info.context.runtime.db.unit_of_work() as session:
                pair = await drivers.refresh(session, refresh_token)
                row = await session.get(DriverRow, pair.driver_id)
                assert row is not None
        except DomainError as error:
            return AccountError.from_domain(error)
        return session_of(pair, row)

    @strawberry.mutation(description="End the session of this refresh token (at once).")
    async def log_out(self, info: Info, refresh_token: str) -> DoneResult:
        try:
            drivers = auth_of(info).drivers
            async with info.context.runtime.db.unit_of_work() as session:
                await drivers.logout(session, refresh_token)
        except DomainError as error:
            return AccountError.from_domain(error)
        return Done()

    @strawberry.mutation(description="End every session of the signed-in driver (at once).")
    async def log_out_everywhere(self, info: Info) -> DoneResult:
        principal = info.context.principal
        try:
            if not principal.is_driver or principal.driver_id is None:
                raise UnauthenticatedError("sign in as a driver first")
            async with info.context.runtime.db.unit_of_work() as session:
                await auth_of(info).drivers.logout_everywhere(session, principal.driver_id)
        except DomainError as error:
            return AccountError.from_domain(error)
        return Done()

    @strawberry.mutation(description="A challenge to answer with a role presentation.")
    async def role_challenge(self, info: Info) -> RoleChallengeResult:
        runtime = info.context.runtime
        try:
            if runtime.role_auth is None:
                raise DomainError("role sign-in is not configured")
            challenge = await runtime.role_auth.challenge()
        except DomainError as error:
            return AccountError.from_domain(error)
        return RoleChallenge(challenge=challenge, domain=runtime.role_auth.domain)

    @strawberry.mutation(
        description="Prove an accredited role (inspector, repairer, second-life operator, "
        "recycler) with a presentation answering the challenge; returns a role session."
    )
    async def sign_in_with_presentation(
        self, info: Info, presentation: JSON, challenge: str
    ) -> RoleSignInResult:
        runtime = info.context.runtime
        try:
            if runtime.role_auth is None:
                raise DomainError("role sign-in is not configured")
            role_session = await runtime.role_auth.authenticate(presentation, challenge)
        except DomainError as error:
            return AccountError.from_domain(error)
        principal = role_session.principal
        return RoleSession(
            access_token=role_session.access_token,
            expires_in=role_session.expires_in,
            role=str(principal.role),
            holder=principal.did or "",
        )

    @strawberry.mutation(description="Grant an organisation access to one data group.")
    async def grant_consent(self, info: Info, input: ConsentInput) -> ConsentResult:
        async def work(session: AsyncSession) -> ConsentSuccess:
            row = await consent.grant_consent(
                session,
                info.context.principal,
                input.grantee,
                check_group(input.data_group),
                input.purpose,
            )
            return ConsentSuccess(consent=Consent.from_row(row))

        return await run_mutation(
            info,
            operation="grantConsent",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=_consent_replay(info, input),
            audit=lambda _: driver_resource(info.context.principal.driver_id or ""),
            error=AccountError,
            why=f"consent {input.data_group} to {input.grantee}",
        )

    @strawberry.mutation(description="Withdraw a consent; effective for the next request.")
    async def withdraw_consent(self, info: Info, input: ConsentInput) -> ConsentResult:
        async def work(session: AsyncSession) -> ConsentSuccess:
            row = await consent.withdraw_consent(
                session, info.context.principal, input.grantee, check_group(input.data_group)
            )
            return ConsentSuccess(consent=Consent.from_row(row))

        return await run_mutation(
            info,
            operation="withdrawConsent",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=_consent_replay(info, input, withdrawn=True),
            audit=lambda _: driver_resource(info.context.principal.driver_id or ""),
            error=AccountError,
            why=f"withdraw {input.data_group} from {input.grantee}",
        )

    @strawberry.mutation(
        description="Erase the signed-in driver's personal data; passports and hash chains stay "
        "intact (events hold only digests). Every session ends."
    )
    async def erase_my_data(self, info: Info) -> DoneResult:
        principal = info.context.principal
        try:
            authorize(principal, Action.ERASE_DRIVER, driver_resource(principal.driver_id or ""))
            assert principal.driver_id is not None
            async with info.context.runtime.db.unit_of_work() as session:
                await privacy.anonymise_driver(
                    session,
                    principal.driver_id,
                    auth_of(info).revocations,
                    hooks=[erase_owner],
                )
                await _audit(session, info, Action.ERASE_DRIVER, principal)
        except DomainError as error:
            return AccountError.from_domain(error)
        return Done()


def _consent_replay(info: Info, input: ConsentInput, *, withdrawn: bool = False) -> Any:
    async def replay(session: AsyncSession, data: dict[str, Any]) -> ConsentSuccess:
        query = select(ConsentRow).where(
            ConsentRow.driver_id == (info.context.principal.driver_id or ""),
            ConsentRow.grantee_did == input.grantee,
            ConsentRow.data_group == input.data_group,
        )
        row = (await session.exec(query.order_by(col(ConsentRow.id).desc()))).first()
        assert row is not None
        return ConsentSuccess(consent=Consent.from_row(row))

    return replay
