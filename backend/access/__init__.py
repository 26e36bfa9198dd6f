"""The access-group policy: which passport attributes a caller may see.

`policy.visible_attributes(mapping, entitlements)` is the one filter every read path uses;
`policy.entitlements_for(role, consented_groups)` builds a caller's `Entitlements`.
"""
