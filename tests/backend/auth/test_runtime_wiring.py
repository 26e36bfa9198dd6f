"""The running server's auth services: API keys of the runtime's organisations resolve to the
DIDs the platform gives them."""

from __future__ import annotations

import pytest

from backend.auth.principal import PrincipalKind
from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.conftest import make_key

pytestmark = pytest.mark.integration


async def test_runtime_resolves_api_keys_to_organisation_dids(runtime: Runtime) -> None:
    assert runtime.auth is not None
    recycler = await make_key(runtime, "wiring-recycler", Role.RECYCLER)
    platform = await make_key(runtime, "wiring-platform", Role.PLATFORM)
    principal = await runtime.auth.resolver.resolve_header(f"Bearer {recycler.key}")
    assert principal.kind is PrincipalKind.ORGANISATION
    assert principal.did == runtime.platform.organisation_did("wiring-recycler")
    operator = await runtime.auth.resolver.resolve(platform.key)
    assert operator.did == runtime.platform.did
