"""Shared plumbing of the server: database, Redis, logging, errors."""
