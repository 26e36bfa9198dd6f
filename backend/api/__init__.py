"""API-wide infrastructure that is not a domain: the persisted-query allow-list."""
