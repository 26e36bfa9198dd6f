"""Who is asking, and may they: principals, authentication, authorization.

- `principal.Principal` — the caller of one request (anonymous, driver, organisation, device)
  with its scopes (`scopes.ROLE_SCOPES`, `scopes.DRIVER_SCOPES`).
- `resolve.PrincipalResolver.resolve_header(authorization)` — `Authorization: Bearer …` (API
  key, our access token, a trusted OIDC token) → `Principal`, or a typed `UnauthenticatedError`.
- `drivers.DriverAuth` — sign-up, login, refresh rotation with reuse detection, logout.
- `role_credentials.RoleCredentialAuthenticator` — challenge + presentation → role session.
- `policy.authorize(principal, action, resource, consents)` / `policy.decide(...)` — the one
  authorization entry point; `backend.audit.service` wraps it with audit entries.
- `service.AuthServices` — all of the above built from the settings (`Runtime.auth`).
"""
