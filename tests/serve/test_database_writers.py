"""The records under real concurrent writers, as a deployment has them: a running `zaomo serve` writing audit
and feedback rows for several clients at once while the CLI, in other processes, creates API keys and reads the
audit log — on SQLite and on a real PostgreSQL (ZAOMO_TEST_PG_URL, which .ci/run sets). Nothing is lost and a key
the CLI creates works at once on the running server."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select

from zaomo.records import ApiKey, AuditRecord, Feedback, Registry
from zaomo.workspace import Workspace

CLIENTS, PER_CLIENT, CLI_KEYS = 3, 4, 3


def _cli(*args: str) -> str:
    exe = Path(sys.executable).parent / "zaomo"
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _new_key(ws: Path, db: str, name: str) -> str:
    out = _cli("keys", "create", name, "-w", str(ws), "--set", f"project.database={db}")
    return re.search(r"zk-[\w-]+", out).group(0)


def test_server_and_cli_write_the_same_database(tmp_path, tiny_model_dir, db_url, zaomo_serve):
    ws = Workspace.init(tmp_path / "ws").root
    first = _new_key(ws, db_url, "alice")
    with zaomo_serve(ws, tiny_model_dir, f"project.database={db_url}", "serve.require_keys=true",
                     "serve.rate_limit_per_minute=0") as srv:

        def client(i: int) -> list[str]:
            headers = {"Authorization": f"Bearer {first}"}
            ids = []
            with httpx.Client(base_url=srv.url, headers=headers, timeout=60) as c:
                for j in range(PER_CLIENT):
                    r = c.post("/v1/chat/completions", json={
                        "model": "default", "max_tokens": 3, "messages": [{"role": "user", "content": f"你好 {i}-{j}"}]})
                    assert r.status_code == 200, r.text
                    rid = r.json()["id"]
                    fb = c.post("/v1/feedback", json={"request_id": rid, "rating": 1 if j % 2 else -1})
                    assert fb.status_code == 200, fb.text
                    ids.append(rid)
            return ids

        with ThreadPoolExecutor(CLIENTS + 1) as pool:
            served = [pool.submit(client, i) for i in range(CLIENTS)]
            new_keys = [_new_key(ws, db_url, f"cli-{k}") for k in range(CLI_KEYS)]  # while the clients write
            _cli("audit", "search", "-w", str(ws), "--set", f"project.database={db_url}")
            rids = [rid for f in served for rid in f.result()]

        for key in new_keys:  # made by another process while serving: honoured without a restart
            r = httpx.get(srv.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
            assert r.status_code == 200

    reg = Registry(db_url)
    with reg.session() as s:
        assert len(set(rids)) == CLIENTS * PER_CLIENT
        audited = set(s.scalars(select(AuditRecord.id).where(AuditRecord.id.in_(rids))))
        assert audited == set(rids)
        assert s.scalar(select(func.count()).select_from(Feedback)) == CLIENTS * PER_CLIENT
        assert set(s.scalars(select(Feedback.request_id))) == set(rids)
        assert sorted(s.scalars(select(ApiKey.name))) == ["alice", *[f"cli-{k}" for k in range(CLI_KEYS)]]
    reg.engine.dispose()
