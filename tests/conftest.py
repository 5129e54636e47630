"""Shared test configuration; area fixtures live in tests/<area>/conftest.py."""
