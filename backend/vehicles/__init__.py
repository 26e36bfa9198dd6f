"""Vehicles and the history of which battery sat in which vehicle."""
