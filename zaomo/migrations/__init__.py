"""Alembic migrations of the workspace database; `zaomo.records.upgrade` runs them when a Registry opens."""
