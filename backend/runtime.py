"""The running system: every real component the app needs, started and stopped together.

With nothing configured this starts the embedded parts (a SQLite file, a Valkey server owned by
this process, an in-process EVM with the contracts deployed and the recorded chain writes
replayed); with `BPP_DATABASE_URL`, `BPP_REDIS_URL` and `BPP_CHAIN_RPC_URL` it connects to the
real services instead. Nothing else differs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import text

from backend.api.persisted import PersistedQueries
from backend.auth.role_credentials import REGISTRY_ROLES, RoleCredentialAuthenticator
from backend.auth.service import AuthServices
from backend.chain.accreditation import CREDENTIAL_ROLES, RegistryAccreditation
from backend.chain.client import ChainClient
from backend.chain.outbox import OutboxWriter, replay_confirmed
from backend.chain.service import ChainServices, connect_chain
from backend.issuance.service import IssuanceService
from backend.kit.db import Database
from backend.kit.events import EventBus
from backend.kit.migrations import upgrade_database
from backend.kit.ratelimit import RateLimiter
from backend.kit.redis import EmbeddedValkey, connect
from backend.lifecycle.anchoring import EventAnchorer
from backend.orgs.roles import Role
from backend.parking.service import ParkingService
from backend.passports.issuing import PassportIssuer
from backend.platform import PlatformIdentity
from backend.safety.schedule import sweep_forever
from backend.settings import DEFAULT_PORT, Settings
from backend.telemetry.compaction import compact_forever

log = structlog.get_logger("bpp.runtime")


async def stop_tasks(tasks: list[asyncio.Task[Any]], *, rounds: int = 20) -> None:
    """Cancel background tasks and wait until they are gone, without ever hanging.

    Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives as its inner
    wait completes, so a loop built on it may shrug off one `cancel()`: cancel again until the
    task is done, and give up loudly rather than block shutdown.
    """
    pending = {task for task in tasks if not task.done()}
    for _ in range(rounds):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in pending:
        log.error("background task did not stop", task=task.get_name())
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task had failed", task=task.get_name(), exc_info=task.exception())


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis
    chain: ChainClient
    outbox: OutboxWriter
    platform: PlatformIdentity
    issuance: IssuanceService
    events: EventBus
    redis_url: str
    embedded_valkey: EmbeddedValkey | None = None
    # Issuer accounts, the Redis mirror and the verifier hooks (backend.chain.service).
    chain_services: ChainServices | None = None
    # Passport credentials (versions, re-issue) and the lifecycle event anchorer.
    passports: PassportIssuer | None = None
    anchorer: EventAnchorer | None = None
    # Drivers' sessions, token revocation, principal resolution (backend.auth.service).
    auth: AuthServices | None = None
    # Role-credential sign-in (an accredited inspector, a legitimate-interest organisation).
    role_auth: RoleCredentialAuthenticator | None = None
    # The API's guard rails: Redis token buckets, the persisted-query allow-list.
    rate_limiter: RateLimiter = field(init=False)
    persisted_queries: PersistedQueries = field(init=False)
    # Parking gate decisions from the Redis cache (backend.parking).
    parking: ParkingService = field(init=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rate_limiter = RateLimiter(self.redis)
        self.persisted_queries = PersistedQueries(self.db)
        self.parking = ParkingService(self.db, self.redis)

    @classmethod
    async def start(
        cls, settings: Settings, *, port: int = DEFAULT_PORT, background: bool = True
    ) -> Runtime:
        data_dir = settings.resolved_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        base_url = settings.public_base_url_for(port)

        db = Database(settings.effective_database_url)
        if settings.is_development or db.is_sqlite:
            await upgrade_database(db.engine)

        valkey: EmbeddedValkey | None = None
        redis_url = settings.redis_url
        if redis_url is None:
            valkey = EmbeddedValkey(data_dir)
            redis_url = valkey.start()
        redis = connect(redis_url)

        # The relayer and (unless BPP_CHAIN_CITY_ROOT is set) the city root key sign.
        chain, chain_keys = await connect_chain(settings)
        relayer = chain.relayer
        async with db.unit_of_work() as session:
            await chain.load_deployments(session)
            if chain.embedded:
                await chain.deploy_all(session)
            elif settings.is_development:
                await chain.deploy_missing(session)
        if chain.embedded:
            replayed = await replay_confirmed(db, chain)
            log.info("embedded chain rebuilt", replayed_writes=replayed)

        outbox = OutboxWriter(db, chain, redis, confirmations=settings.chain_confirmations)
        chain_services = await ChainServices.build(db, chain, chain_keys, redis)
        platform = PlatformIdentity.load(settings, base_url)
        issuance = IssuanceService(
            db=db,
            platform=platform,
            relayer_address=str(relayer.address),
            outbox=outbox,
            settings=settings,
            chain_issuers=chain_services.issuers,
            accreditation=chain_services.accreditation,
            chain_check=chain_services.consistency,
        )
        await issuance.bootstrap()
        runtime = cls(
            settings=settings,
            db=db,
            redis=redis,
            chain=chain,
            outbox=outbox,
            platform=platform,
            issuance=issuance,
            events=EventBus(redis),
            redis_url=redis_url,
            embedded_valkey=valkey,
        )
        runtime.chain_services = chain_services
        runtime.passports = PassportIssuer(issuance)
        runtime.anchorer = EventAnchorer(db, str(relayer.address), outbox, chain=chain)
        runtime.auth = AuthServices.build(
            settings,
            db,
            redis,
            lambda slug, role: (
                platform.did if role is Role.PLATFORM else platform.organisation_did(slug)
            ),
        )
        # The issuer registry answers for the legitimate-interest roles too; the trusted
        # roots of role credentials are the city's DIDs (BPP_ROLE_CREDENTIAL_ISSUERS).
        runtime.role_auth = runtime.auth.role_authenticator(
            verifier=issuance.verifier.verifier,
            accreditation=RegistryAccreditation(
                chain_services.mirror,
                address_of=chain_services.issuers.lookup,
                credential_roles={**CREDENTIAL_ROLES, **REGISTRY_ROLES},
            ),
            domain=platform.host,
        )
        if background:
            runtime._tasks.append(asyncio.create_task(outbox.run_forever(), name="outbox"))
            runtime._tasks.append(
                asyncio.create_task(chain_services.mirror.follow_forever(), name="chain-mirror")
            )
            runtime._tasks.append(
                asyncio.create_task(issuance.publish_status_forever(), name="status-publisher")
            )
            runtime._tasks.append(
                asyncio.create_task(runtime.anchorer.run_forever(), name="event-anchorer")
            )
            runtime._tasks.append(asyncio.create_task(sweep_forever(runtime), name="safety-sweep"))
            if settings.telemetry_compact_interval_s > 0:
                runtime._tasks.append(
                    asyncio.create_task(
                        compact_forever(
                            db,
                            raw_days=settings.telemetry_raw_days,
                            interval_s=settings.telemetry_compact_interval_s,
                        ),
                        name="telemetry-compaction",
                    )
                )
        log.info(
            "runtime started",
            base_url=base_url,
            database="sqlite" if db.is_sqlite else "postgresql",
            redis="embedded" if valkey else "external",
            chain="embedded" if chain.embedded else "rpc",
            chain_id=chain.chain_id,
        )
        return runtime

    async def stop(self) -> None:
        await stop_tasks(self._tasks)
        self._tasks.clear()
        await self.redis.aclose()
        await self.chain.close()
        await self.db.dispose()
        if self.embedded_valkey is not None:
            self.embedded_valkey.stop()

    async def health(self) -> dict[str, Any]:
        """The `/healthz` body: each component's own check, `degraded` if any fails."""
        database: dict[str, Any] = {
            "ok": False,
            "backend": "sqlite" if self.db.is_sqlite else "postgresql",
        }
        redis: dict[str, Any] = {"ok": False, "embedded": self.embedded_valkey is not None}
        chain: dict[str, Any] = {
            "ok": False,
            "chain_id": self.chain.chain_id,
            "block": None,
            "embedded": self.chain.embedded,
        }
        try:
            async with self.db.read_only() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            database["ok"] = True
        except Exception as exc:
            database["error"] = type(exc).__name__
        try:
            redis["ok"] = bool(await self.redis.ping())
        except Exception as exc:
            redis["error"] = type(exc).__name__
        try:
            chain["block"] = await self.chain.block_number()
            chain["ok"] = True
        except Exception as exc:
            chain["error"] = type(exc).__name__
        ok = database["ok"] and redis["ok"] and chain["ok"]
        return {
            "status": "ok" if ok else "degraded",
            "database": database,
            "redis": redis,
            "chain": chain,
        }
