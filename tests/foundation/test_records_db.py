"""The workspace database end to end, on SQLite and (with ZAOMO_TEST_PG_URL set) a real PostgreSQL:
records, concurrent writers, and Alembic upgrades of a database made before migrations existed."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, func, inspect, select, text

from zaomo.records import BASELINE, ApiKey, AuditRecord, Feedback, ModelVersion, PromptVersion, Registry


def test_records_end_to_end(db_url):
    reg = Registry(db_url)
    reg.start_run("r1", "train", stage="sft", seed=3, config={"lr": 3e-4, "名": "中文"})
    reg.finish_run("r1", summary={"loss": 1.5}, path="/x")
    [run] = reg.runs("train")
    assert (run.status, run.summary, run.config["名"], run.finished_at is not None) == ("done", {"loss": 1.5}, "中文",
                                                                                        True)

    v1 = reg.register_model("m", "p1", run_id="r1", data={"a.jsonl": "h"})
    v2 = reg.register_model("m", "p2", parent_id=v1.id)
    assert (v1.version, v2.version, reg.register_model("other", "q").version) == (1, 2, 1)
    reg.set_model_status(v1.id, "promoted")
    reg.set_model_status(v2.id, "promoted", eval={"acc": 0.9})
    assert [m.status for m in reg.models("m")] == ["retired", "promoted"]
    assert reg.get_model("m").eval == {"acc": 0.9} and reg.get_model("m", 1).data == {"a.jsonl": "h"}

    with reg.session.begin() as s:
        s.add(ApiKey(name="k", prefix="zk-abc", hash="h"))
        s.add(AuditRecord(id="req-1", endpoint="chat", request={"messages": [{"role": "user"}]}, response="hi",
                          guard={"input": {"action": "allow"}}, latency_ms=1.5))
        s.add(Feedback(request_id="req-1", rating=-1, correction="better", messages=[{"role": "user"}]))
    with reg.session() as s:
        assert s.scalars(select(ApiKey)).one().revoked is False
        assert s.get(AuditRecord, "req-1").guard["input"]["action"] == "allow"
        assert s.scalars(select(Feedback)).one().messages == [{"role": "user"}]


def test_concurrent_writers_get_unique_versions(db_url):
    Registry(db_url)  # migrate once, then many writers with their own engines, like separate processes
    threads_n, per = 6, 8
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            reg = Registry(db_url)
            for j in range(per):
                reg.register_model("m", f"p{i}-{j}")
                with reg.session.begin() as s:
                    s.add(AuditRecord(id=f"req-{i}-{j}", endpoint="chat"))
            reg.engine.dispose()
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    reg = Registry(db_url)
    assert sorted(m.version for m in reg.models("m")) == list(range(1, threads_n * per + 1))
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == threads_n * per


def test_concurrent_open_of_a_fresh_database(db_url):
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            Registry(db_url).engine.dispose()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _database_at(url: str, revision: str) -> None:
    """A database as an older zaomo left it: migrated to `revision` only."""
    from alembic import command

    from zaomo.records import _alembic

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), revision)
    engine.dispose()


def _pre_migration_database(url: str) -> None:
    """The schema as `create_all` made it before Alembic (the baseline revision's tables), unstamped."""
    _database_at(url, BASELINE)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


def test_upgrade_keeps_rows_of_a_pre_migration_database(db_url):
    _pre_migration_database(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (id, kind, status, config, versions, inputs, summary, created_at) "
                          "VALUES ('r1', 'train', 'done', '{}', '{}', '{}', '{\"loss\": 2}', '2025-01-01')"))
        for name, version in [("m", 1), ("m", 2), ("m", 2), ("n", 1)]:  # a duplicate the old race could make
            conn.execute(text("INSERT INTO models (name, version, path, status, data, eval, created_at) "
                              f"VALUES ('{name}', {version}, 'p', 'candidate', '{{}}', '{{}}', '2025-01-01')"))
        conn.execute(text("INSERT INTO feedback (rating, messages, status, created_at) "
                          "VALUES (1, '[]', 'new', '2025-01-01')"))
    engine.dispose()

    reg = Registry(db_url)
    insp = inspect(reg.engine)
    assert "alembic_version" in insp.get_table_names()
    assert any(i["name"] == "uq_models_name_version" and i["unique"] for i in insp.get_indexes("models"))
    assert reg.get_run("r1").summary == {"loss": 2}
    assert sorted((m.name, m.version) for m in reg.models()) == [("m", 1), ("m", 2), ("m", 3), ("n", 1)]
    assert reg.register_model("m", "p4").version == 4
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(Feedback)) == 1
        assert s.scalar(select(func.count()).select_from(ModelVersion)) == 5
    Registry(db_url)  # opening again at head changes nothing
    assert len(reg.models()) == 5


def test_upgrade_to_prompt_versions_keeps_audit_and_feedback_rows(db_url):
    """A database from before prompt versions (revision 0002) gains the prompts table and the audit/feedback
    prompt columns; its rows stay, with no prompt named, and new rows carry one."""
    _database_at(db_url, "0002_models_unique_version")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit (id, endpoint, model, request, guard, status, created_at) VALUES "
                          "('old-1', 'chat.completions', 'tiny', '{\"messages\": []}', '{}', 200, '2025-01-01')"))
        conn.execute(text("INSERT INTO feedback (request_id, rating, messages, answer, status, created_at) "
                          "VALUES ('old-1', -1, '[]', '旧的回答', 'new', '2025-01-01')"))
    engine.dispose()

    reg = Registry(db_url)
    insp = inspect(reg.engine)
    assert "prompts" in insp.get_table_names()
    for table in ("audit", "feedback"):
        assert {"prompt_name", "prompt_version"} <= {c["name"] for c in insp.get_columns(table)}
    with reg.session.begin() as s:
        old = s.get(AuditRecord, "old-1")
        assert (old.model, old.prompt_name, old.prompt_version) == ("tiny", None, None)
        [fb] = s.scalars(select(Feedback)).all()
        assert (fb.answer, fb.request_id, fb.prompt_name) == ("旧的回答", "old-1", None)
        s.add(AuditRecord(id="new-1", endpoint="chat.completions", prompt_name="support", prompt_version=2))
        s.add(Feedback(request_id="new-1", rating=1, prompt_name="support", prompt_version=2))
    with reg.session() as s:
        assert (s.get(AuditRecord, "new-1").prompt_name, s.get(AuditRecord, "new-1").prompt_version) == ("support", 2)
        assert s.scalar(select(func.count()).select_from(Feedback).where(Feedback.prompt_version == 2)) == 1
    pv = reg.register_prompt("support", text="你是客服。")
    assert (pv.version, reg.register_prompt("support", text="v2").version) == (1, 2)
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(PromptVersion)) == 2


def test_prompt_versions_and_the_promoted_stamp(db_url):
    """The fingerprint a server checks per request changes on every promote, and only then."""
    reg = Registry(db_url)
    a1, a2 = reg.register_prompt("a", text="一"), reg.register_prompt("a", text="二", parent_id=None)
    b1 = reg.register_prompt("b", text="x", model="tiny", template="{input}")
    empty = reg.promoted_prompts_stamp()
    reg.set_prompt_status(a1.id, "promoted")
    s1 = reg.promoted_prompts_stamp()
    assert s1 != empty and reg.promoted_prompts_stamp() == s1
    reg.set_prompt_status(a2.id, "promoted")
    s2 = reg.promoted_prompts_stamp()
    assert s2 != s1 and [p.status for p in reg.prompts("a")] == ["retired", "promoted"]
    reg.set_prompt_status(a1.id, "promoted")  # back to a1: same set of ids as s1, a newer promotion time
    assert reg.promoted_prompts_stamp() not in (s1, s2)
    reg.set_prompt_eval(b1.id, {"metrics": {"qa.accuracy": 0.5}})
    assert reg.get_prompt("b").eval["metrics"]["qa.accuracy"] == 0.5 and reg.get_prompt("b").status == "candidate"
    assert [(p.name, p.version) for p in reg.prompts(status="promoted")] == [("a", 1)]
