"""Used-battery trade: the seller's share links, the buyer's presentation and its
verification (`verifyPresentation`, with the service checks), and ownership transfer by
both parties' consent (`offerTransfer` by the seller, `acceptTransfer` by the buyer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.auth.policy import Resource, ResourceKind
from backend.kit.errors import DomainError
from backend.kit.events import battery_channel
from backend.kit.models import as_utc
from backend.trade import service as trade
from backend.trade.models import CredentialShare, TransferOffer
from backend.web.qr import svg as qr_svg
from graphql_schema.context import Info
from graphql_schema.errors import PassportError, run_mutation
from graphql_schema.passports import (
    Battery,
    CheckStatus,
    VerificationCheck,
    battery_id_from,
    battery_of,
    request_of,
)


@strawberry.type(description="A time-limited share link of a battery's credentials.")
class Share:
    share_id: str
    battery_id: str
    url: str = strawberry.field(description="The buyer's page (no account needed); also the QR.")
    token: str = strawberry.field(description="Shown once: the share's secret.")
    qr_svg: str = strawberry.field(description="The link as a QR code (SVG).")
    disclose: list[str]
    expires_at: datetime

    def replay_data(self) -> dict[str, Any]:
        return {"share_id": self.share_id}


@strawberry.type(description="The seller's credentials, presented for this buyer's nonce.")
class SharedPresentation:
    presentation: JSON = strawberry.field(
        description="A VerifiablePresentation: the passport credential and the inspection "
        "SD-JWT VC (enveloped) with only the chosen disclosures and a key-binding JWT."
    )
    nonce: str
    audience: str
    disclose: list[str]
    expires_at: datetime


@strawberry.type(description="A trade verification: every check, the service checks included.")
class TradeVerificationResult:
    verified: bool
    checks: list[VerificationCheck]
    disclosed: JSON | None = strawberry.field(
        description="The inspection's disclosed claims (undisclosed ones are absent)."
    )


@strawberry.type(description="The seller's consent to transfer: hand the code to the buyer.")
class TransferOfferResult:
    offer_id: str
    battery_id: str
    accept_code: str = strawberry.field(description="Shown once: the buyer accepts with it.")
    expires_at: datetime

    def replay_data(self) -> dict[str, Any]:
        return {"offer_id": self.offer_id}


@strawberry.type(description="The transfer done: the buyer owns the battery.")
class TransferAccepted:
    battery: Battery
    event_id: str

    def replay_data(self) -> dict[str, Any]:
        return {"battery_id": self.battery.battery_id, "event_id": self.event_id}


ShareResult = Annotated[Share | PassportError, strawberry.union("ShareResult")]
SharedPresentationResult = Annotated[
    SharedPresentation | PassportError, strawberry.union("SharedPresentationResult")
]
TradeVerificationOutcome = Annotated[
    TradeVerificationResult | PassportError, strawberry.union("TradeVerificationOutcome")
]
OfferTransferResult = Annotated[
    TransferOfferResult | PassportError, strawberry.union("OfferTransferResult")
]
AcceptTransferResult = Annotated[
    TransferAccepted | PassportError, strawberry.union("AcceptTransferResult")
]


@strawberry.input
class ShareCredentialsInput:
    battery_id: strawberry.ID
    disclose: list[str] | None = strawberry.field(
        default=None,
        description="Inspection claims to disclose (default: subject, type, battery "
        "identifier, SOH, grade, inspection time).",
    )
    expires_in_s: int | None = None
    idempotency_key: str | None = None


@strawberry.input
class WithdrawShareInput:
    share_id: str
    idempotency_key: str | None = None


@strawberry.type(description="A withdrawn share: its link no longer opens.")
class ShareWithdrawn:
    share_id: str
    battery_id: str
    withdrawn_at: datetime

    def replay_data(self) -> dict[str, Any]:
        return {"share_id": self.share_id}


WithdrawShareResult = Annotated[
    ShareWithdrawn | PassportError, strawberry.union("WithdrawShareResult")
]


@strawberry.input
class OfferTransferInput:
    battery_id: strawberry.ID
    expires_in_s: int | None = None
    idempotency_key: str | None = None


@strawberry.input
class AcceptTransferInput:
    code: str
    idempotency_key: str | None = None


def _share(row: CredentialShare, token: str, url: str) -> Share:
    return Share(
        share_id=row.id,
        battery_id=row.battery_id,
        url=url,
        token=token,
        qr_svg=qr_svg(url).decode("utf-8"),
        disclose=list(row.disclose),
        expires_at=as_utc(row.expires_at),
    )


def verification_of(result: trade.TradeVerification) -> TradeVerificationResult:
    return TradeVerificationResult(
        verified=result.verified,
        checks=[
            VerificationCheck(name=c.name, status=CheckStatus(c.status.value), reason=c.reason)
            for c in result.checks
        ],
        disclosed=cast(JSON, trade.public_claims(result.inspection_claims)),
    )


@strawberry.type
class TradeQuery:
    @strawberry.field(
        description="A share link's credentials for the buyer's nonce (no account needed)."
    )
    async def shared_presentation(
        self, info: Info, token: str, nonce: str, audience: str | None = None
    ) -> SharedPresentationResult:
        runtime = info.context.runtime
        try:
            async with runtime.db.unit_of_work() as session:
                shared = await trade.present_share(
                    session, runtime, token, nonce=nonce, audience=audience
                )
        except DomainError as exc:
            return PassportError.from_domain(exc)
        return SharedPresentation(
            presentation=cast(JSON, shared.presentation),
            nonce=shared.nonce,
            audience=shared.audience,
            disclose=shared.disclose,
            expires_at=shared.expires_at,
        )

    @strawberry.field(
        description="Verify a trade presentation: signatures, issuers accredited on chain, "
        "status, disclosures, key binding (nonce, audience), `inspection_recency` (within "
        "maxAgeDays) and `same_battery`."
    )
    async def verify_presentation(
        self,
        info: Info,
        presentation: JSON,
        nonce: str | None = None,
        audience: str | None = None,
        max_age_days: int = trade.DEFAULT_INSPECTION_MAX_AGE_DAYS,
    ) -> TradeVerificationOutcome:
        try:
            result = await trade.verify_trade_presentation(
                info.context.runtime,
                presentation,
                nonce=nonce,
                audience=audience,
                max_age_days=max_age_days,
            )
        except DomainError as exc:
            return PassportError.from_domain(exc)
        return verification_of(result)


@strawberry.type
class TradeMutation:
    @strawberry.mutation(
        description="The owner shares the battery's credentials through a time-limited link "
        "or QR, choosing what of the inspection to disclose."
    )
    async def share_credentials(self, info: Info, input: ShareCredentialsInput) -> ShareResult:
        runtime = info.context.runtime
        principal = info.context.principal
        issued: dict[str, str] = {}

        async def work(session: AsyncSession) -> Share:
            new = await trade.create_share(
                session,
                runtime,
                principal,
                battery_id_from(str(input.battery_id)),
                disclose=input.disclose,
                expires_in_s=input.expires_in_s,
            )
            issued["token"] = new.token
            return _share(new.share, new.token, new.url)

        async def replay(session: AsyncSession, data: dict[str, Any]) -> Share:
            raise trade.TradeStateError("a share's token is shown once: create a new share")

        return await run_mutation(
            info,
            operation="shareCredentials",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(ResourceKind.BATTERY, id=result.battery_id),
        )

    @strawberry.mutation(description="The seller withdraws a share link at once.")
    async def withdraw_share(self, info: Info, input: WithdrawShareInput) -> WithdrawShareResult:
        runtime = info.context.runtime
        principal = info.context.principal

        def withdrawn(row: CredentialShare) -> ShareWithdrawn:
            assert row.revoked_at is not None
            return ShareWithdrawn(
                share_id=row.id, battery_id=row.battery_id, withdrawn_at=as_utc(row.revoked_at)
            )

        async def work(session: AsyncSession) -> ShareWithdrawn:
            return withdrawn(
                await trade.withdraw_share(session, runtime, principal, input.share_id)
            )

        async def replay(session: AsyncSession, data: dict[str, Any]) -> ShareWithdrawn:
            row = await session.get(CredentialShare, data["share_id"])
            assert row is not None
            return withdrawn(row)

        return await run_mutation(
            info,
            operation="withdrawShare",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(ResourceKind.BATTERY, id=result.battery_id),
        )

    @strawberry.mutation(description="The seller consents to a transfer: a code for the buyer.")
    async def offer_transfer(self, info: Info, input: OfferTransferInput) -> OfferTransferResult:
        runtime = info.context.runtime
        principal = info.context.principal

        async def work(session: AsyncSession) -> TransferOfferResult:
            new = await trade.offer_transfer(
                session,
                runtime,
                principal,
                battery_id_from(str(input.battery_id)),
                expires_in_s=input.expires_in_s,
            )
            return TransferOfferResult(
                offer_id=new.offer.id,
                battery_id=new.offer.battery_id,
                accept_code=new.code,
                expires_at=as_utc(new.offer.expires_at),
            )

        async def replay(session: AsyncSession, data: dict[str, Any]) -> TransferOfferResult:
            raise trade.TradeStateError("an offer's code is shown once: make a new offer")

        return await run_mutation(
            info,
            operation="offerTransfer",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(ResourceKind.BATTERY, id=result.battery_id),
        )

    @strawberry.mutation(
        description="The buyer consents: ownership passes to the buyer, the anchored "
        "`ownership_transferred` event is appended and the seller's shares end."
    )
    async def accept_transfer(self, info: Info, input: AcceptTransferInput) -> AcceptTransferResult:
        runtime = info.context.runtime
        principal = info.context.principal

        async def work(session: AsyncSession) -> TransferAccepted:
            offer, event = await trade.accept_transfer(session, runtime, principal, input.code)
            row = await _battery_row(session, offer)
            return TransferAccepted(
                battery=await battery_of(info, row, session), event_id=event.event_id
            )

        async def replay(session: AsyncSession, data: dict[str, Any]) -> TransferAccepted:
            from backend.passports.models import Battery as BatteryRow

            row = await session.get(BatteryRow, data["battery_id"])
            assert row is not None
            return TransferAccepted(
                battery=await battery_of(info, row, session), event_id=data["event_id"]
            )

        result = await run_mutation(
            info,
            operation="acceptTransfer",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(ResourceKind.BATTERY, id=result.battery.battery_id),
        )
        if isinstance(result, TransferAccepted):
            if runtime.anchorer is not None:
                runtime.anchorer.wake()
            await runtime.events.publish(
                battery_channel(result.battery.battery_id),
                {"kind": "OWNERSHIP_TRANSFERRED", "eventId": result.event_id},
            )
        return result


async def _battery_row(session: AsyncSession, offer: TransferOffer) -> Any:
    from backend.passports.models import Battery as BatteryRow

    row = await session.get(BatteryRow, offer.battery_id)
    assert row is not None
    return row
