"""Batteries and their passports."""
