"""The chain service: JSON-RPC client, deployments, transaction outbox, registries."""
