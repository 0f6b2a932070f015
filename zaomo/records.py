"""The workspace database (SQLAlchemy 2.x): runs, model and prompt versions, API keys, audit log, feedback.

SQLite by default; the same tables on PostgreSQL when `project.database` is a postgres URL. The schema is
owned by the Alembic revisions in zaomo/migrations: opening a Registry upgrades the database to head, so a
new zaomo keeps the records an older one wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # data | tokenizer | train | eval | kb | iterate
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)  # pretrain | sft | dpo …
    method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed | interrupted
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name → hash
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # final metrics
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ModelVersion(Base):
    __tablename__ = "models"
    __table_args__ = (Index("uq_models_name_version", "name", "version", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate | promoted | retired | rejected
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    base: Mapped[str | None] = mapped_column(Text, nullable=True)
    tokenizer: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what data produced it: file → hash
    eval: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PromptVersion(Base):
    """A versioned system prompt (and optional user-turn template), served and rolled back like a model
    version: a prompt change is a release, so it gets lineage, an evaluation and an audit trail."""

    __tablename__ = "prompts"
    __table_args__ = (Index("uq_prompts_name_version", "name", "version", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # the system prompt
    template: Mapped[str | None] = mapped_column(Text, nullable=True)  # user turn with an {input} placeholder
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)  # served model name; None = any
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate | promoted | retired | rolled-back
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    eval: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    promoted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)  # last time it went live


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    hash: Mapped[str] = mapped_column(String(128))
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quota_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    used_tokens: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditRecord(Base):
    __tablename__ = "audit"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # also the response id clients see
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    guard: Mapped[dict[str, Any]] = mapped_column(default=dict)  # decisions on input and output
    status: Mapped[int] = mapped_column(Integer, default=200)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_name: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the served prompt, if one was used
    prompt_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)  # +1 / -1
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    messages: Mapped[list[Any]] = mapped_column(default=list)  # the conversation rated
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prompt_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | exported | rejected
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


def _json_text(obj: Any) -> str:
    """JSON columns hold Chinese as characters, not \\u escapes: searching the audit log for "审计" compares the
    stored text, and escaped text never matches it."""
    return json.dumps(obj, ensure_ascii=False)


def make_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {"json_serializer": _json_text}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _):  # concurrent readers while the server writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    upgrade(engine)
    return engine


MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"


def _alembic(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a database `create_all` made before migrations is stamped
    as the baseline first, so its rows stay. On PostgreSQL an advisory lock lets many processes open at once."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7246130)"))
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # one migrator at a time; others wait (timeout 30 s)
        cfg = _alembic(conn)
        current = MigrationContext.configure(conn).get_current_revision()
        if current is None and inspect(conn).has_table("models"):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")


class Registry:
    """Runs and model versions: who made what from what."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    # runs
    def start_run(self, run_id: str, kind: str, **fields: Any) -> Run:
        with self.session.begin() as s:
            run = Run(id=run_id, kind=kind, **fields)
            s.add(run)
        return run

    def finish_run(self, run_id: str, status: str = "done", summary: dict | None = None, **fields: Any) -> None:
        with self.session.begin() as s:
            run = s.get(Run, run_id)
            if run is None:
                return
            run.status = status
            run.finished_at = utcnow()
            if summary is not None:
                run.summary = summary
            for k, v in fields.items():
                setattr(run, k, v)

    def runs(self, kind: str | None = None) -> list[Run]:
        with self.session() as s:
            q = select(Run).order_by(Run.created_at)
            if kind:
                q = q.where(Run.kind == kind)
            return list(s.scalars(q))

    def get_run(self, run_id: str) -> Run | None:
        with self.session() as s:
            return s.get(Run, run_id)

    # models
    def _next_version(self, cls: type, name: str, **fields: Any) -> Any:
        """A new row of `cls` as the next version of NAME; (name, version) is unique, so a writer that loses a
        race retries."""
        for attempt in range(50):
            try:
                with self.session.begin() as s:
                    last = s.scalar(select(func.max(cls.version)).where(cls.name == name))
                    row = cls(name=name, version=(last or 0) + 1, **fields)
                    s.add(row)
                    s.flush()
                return row
            except (IntegrityError, OperationalError) as e:
                if isinstance(e, OperationalError) and "locked" not in str(e) and "busy" not in str(e).lower():
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise RuntimeError(f"could not register a version of {name!r}: too much contention")

    def register_model(self, name: str, path: str, **fields: Any) -> ModelVersion:
        """The next version of NAME."""
        return self._next_version(ModelVersion, name, path=path, **fields)

    def models(self, name: str | None = None) -> list[ModelVersion]:
        with self.session() as s:
            q = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
            if name:
                q = q.where(ModelVersion.name == name)
            return list(s.scalars(q))

    def _get_version(self, cls: Any, name: str, version: int | None) -> Any:
        """A named version of a model or prompt; without a version, the promoted one, else the newest."""
        with self.session() as s:
            q = select(cls).where(cls.name == name)
            if version is not None:
                return s.scalars(q.where(cls.version == version)).first()
            promoted = s.scalars(q.where(cls.status == "promoted").order_by(cls.version.desc())).first()
            return promoted or s.scalars(q.order_by(cls.version.desc())).first()

    def get_model(self, name: str, version: int | None = None) -> ModelVersion | None:
        """A named version; without a version, the promoted one, else the newest."""
        return self._get_version(ModelVersion, name, version)

    def set_model_status(self, model_id: int, status: str, eval: dict | None = None) -> None:
        with self.session.begin() as s:
            mv = s.get(ModelVersion, model_id)
            if mv is None:
                raise KeyError(f"no model version with id {model_id}")
            if status == "promoted":
                for other in s.scalars(select(ModelVersion).where(ModelVersion.name == mv.name,
                                                                  ModelVersion.status == "promoted")):
                    other.status = "retired"
            mv.status = status
            if eval is not None:
                mv.eval = eval

    # prompts
    def register_prompt(self, name: str, **fields: Any) -> PromptVersion:
        """The next version of prompt NAME (status candidate until promoted)."""
        return self._next_version(PromptVersion, name, **fields)

    def prompts(self, name: str | None = None, status: str | None = None) -> list[PromptVersion]:
        with self.session() as s:
            q = select(PromptVersion).order_by(PromptVersion.name, PromptVersion.version)
            if name:
                q = q.where(PromptVersion.name == name)
            if status:
                q = q.where(PromptVersion.status == status)
            return list(s.scalars(q))

    def get_prompt(self, name: str, version: int | None = None) -> PromptVersion | None:
        """A named version; without a version, the promoted one (one per name), else the newest."""
        return self._get_version(PromptVersion, name, version)

    def set_prompt_status(self, prompt_id: int, status: str, eval: dict | None = None) -> None:
        """Promoting retires the name's other promoted version and stamps `promoted_at` (which also tells a
        running server, through `promoted_prompts_stamp`, that what it serves changed)."""
        with self.session.begin() as s:
            pv = s.get(PromptVersion, prompt_id)
            if pv is None:
                raise KeyError(f"no prompt version with id {prompt_id}")
            if status == "promoted":
                for other in s.scalars(select(PromptVersion).where(PromptVersion.name == pv.name,
                                                                   PromptVersion.status == "promoted",
                                                                   PromptVersion.id != pv.id)):
                    other.status = "retired"
                pv.promoted_at = utcnow()
            pv.status = status
            if eval is not None:
                pv.eval = eval

    def set_prompt_eval(self, prompt_id: int, eval: dict) -> None:
        with self.session.begin() as s:
            pv = s.get(PromptVersion, prompt_id)
            if pv is None:
                raise KeyError(f"no prompt version with id {prompt_id}")
            pv.eval = eval

    def promoted_prompts_stamp(self) -> tuple[Any, ...]:
        """A cheap fingerprint of the promoted set (one aggregate row): it changes on every promote or rollback,
        so a server re-reads the prompts only then."""
        with self.engine.connect() as conn:
            row = conn.execute(select(func.count(PromptVersion.id), func.sum(PromptVersion.id),
                                      func.max(PromptVersion.promoted_at))
                               .where(PromptVersion.status == "promoted")).one()
        return tuple(row)
