"""The audit log (who did or read what, when and why) and the city's statistics."""
