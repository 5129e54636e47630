"""Versioned SQL migrations, applied in order by warehouse.migrate."""
