"""The access-group policy: which passport attributes a caller may see."""
