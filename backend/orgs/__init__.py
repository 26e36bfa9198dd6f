"""Organisations (each with its own did:web and keys) and their API keys."""
