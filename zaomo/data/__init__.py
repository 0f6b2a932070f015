"""数据准备: read any format, normalise, filter, mask PII, drop sensitive records, deduplicate,
decontaminate and split — with a report and a quarantine that loses nothing."""

from .pipeline import DataReport, run_pipeline

__all__ = ["DataReport", "run_pipeline"]
