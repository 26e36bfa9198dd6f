"""Lifecycle events: append-only, hash-chained per battery, Merkle roots anchored on chain."""
