"""Helpers shared by several test modules (import as ``from support.<module> import ...``)."""
