"""The workspace layout, the registry of runs and model versions, and `zaomo init/runs`."""

from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.workspace import Workspace


def test_init_creates_layout_and_keeps_an_edited_config(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    for d in ("data/raw", "models", "runs", "kb", "eval"):
        assert (ws.root / d).is_dir()
    ws.config_path.write_text("project:\n  name: mine\n", encoding="utf-8")
    Workspace.init(ws.root)
    assert Workspace.open(ws.root).cfg.project.name == "mine"


def test_registry_runs_and_model_versions(tmp_path):
    ws = Workspace.init(tmp_path)
    rid = ws.new_run_id("train")
    ws.registry.start_run(rid, "train", stage="pretrain", method="full", seed=7, config={"a": 1})
    ws.registry.finish_run(rid, summary={"val_loss": 2.5})
    (run,) = ws.registry.runs()
    assert run.status == "done" and run.summary == {"val_loss": 2.5} and run.finished_at is not None

    (tmp_path / "models" / "m").mkdir()
    v1 = ws.registry.register_model("m", "models/m", run_id=rid)
    v2 = ws.registry.register_model("m", "models/m", parent_id=v1.id)
    assert (v1.version, v2.version) == (1, 2)
    assert ws.registry.get_model("m").version == 2  # newest when none is promoted
    ws.registry.set_model_status(v1.id, "promoted")
    assert ws.registry.get_model("m").version == 1
    ws.registry.set_model_status(v2.id, "promoted")
    statuses = {mv.version: mv.status for mv in ws.registry.models("m")}
    assert statuses == {1: "retired", 2: "promoted"}
    assert ws.resolve_model("m:1") == tmp_path / "models" / "m"


def test_database_survives_reopen_and_relative_sqlite_is_inside_the_workspace(tmp_path):
    ws = Workspace.init(tmp_path)
    ws.registry.start_run("r1", "data")
    assert (tmp_path / "zaomo.db").exists()
    assert [r.id for r in Workspace.open(tmp_path).registry.runs()] == ["r1"]


def test_cli_init_and_runs(tmp_path):
    r = CliRunner().invoke(app, ["init", str(tmp_path / "w")])
    assert r.exit_code == 0 and (tmp_path / "w" / "zaomo.yaml").exists()
    r = CliRunner().invoke(app, ["runs", "-w", str(tmp_path / "w")])
    assert r.exit_code == 0
    r = CliRunner().invoke(app, ["runs", "-w", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "zaomo init" in r.output
