"""Audit retention: rows older than `serve.audit_retention_days` are deleted. Feedback keeps its own copy of
the conversation and answer, so a purge never loses what the feedback loop needs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from ..records import AuditRecord, Registry, utcnow


def purge_audit(registry: Registry, days: float, now: dt.datetime | None = None) -> int:
    """Delete audit rows created more than `days` days before `now` (UTC); the number deleted."""
    if days <= 0:
        raise ValueError(f"retention must be a positive number of days; got {days}")
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    with registry.session.begin() as s:
        return s.execute(delete(AuditRecord).where(AuditRecord.created_at < cutoff)).rowcount or 0
