"""Helpers shared by several test modules (import as ``from support.<module> import ...``; never import one test
module from another)."""
