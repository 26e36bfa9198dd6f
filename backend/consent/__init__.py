"""Drivers' data protection: consent per organisation and data group, export, erasure."""
