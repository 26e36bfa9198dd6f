"""Issuing, storing, revoking and verifying credentials; status lists."""
