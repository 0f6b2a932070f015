"""zaomo.yaml: defaults round-trip, overrides, and bad configs refused with the key named."""

import pytest
import yaml
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.config import ConfigError, ZaomoConfig, default_yaml, load_config
from zaomo.workspace import Workspace


def test_default_yaml_is_commented_and_loads_back_to_defaults(tmp_path):
    text = default_yaml()
    assert "# peak learning rate" in text and "lr: 0.0003" in text
    p = tmp_path / "zaomo.yaml"
    p.write_text(text, encoding="utf-8")
    assert load_config(p) == ZaomoConfig()


def test_overrides_parse_as_yaml_and_nest():
    cfg = load_config(None, ["train.lr=1e-3", "data.inputs=[a, b]", "train.lora.r=4", "project.name=x"])
    assert cfg.train.lr == 1e-3 and cfg.data.inputs == ["a", "b"] and cfg.train.lora.r == 4
    assert cfg.project.name == "x"


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("train:\n  lrr: 0.1\n", ["train.lrr", "unknown key", "did you mean 'train.lr'"]),
    ("trian:\n  lr: 0.1\n", ["trian", "unknown key", "did you mean 'train'"]),
    ("train:\n  max_steps: many\n", ["train.max_steps", "'many'", "integer"]),
    ("train:\n  method: qlora\n", ["train.method", "qlora", "model.base", "train.init_from"]),
    ("model:\n  preset: huge\n", ["model.preset", "'huge'", "tiny"]),
    ("serve:\n  host: 0.0.0.0\n", ["serve.require_keys", "0.0.0.0"]),
    ("kb:\n  retriever: sparse\n", ["kb.retriever", "'sparse'", "bm25"]),
    ("kb:\n  retriever: dense\n", ["kb.retriever", "kb.embedding"]),
    ("- just\n- a list\n", ["top level must be a mapping"]),
    ("train: [unclosed\n", ["zaomo.yaml:", "not valid YAML"]),
])
def test_bad_config_names_the_key_the_value_and_what_is_allowed(tmp_path, yaml_text, expected):
    p = tmp_path / "zaomo.yaml"
    p.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    for fragment in expected:
        assert fragment in str(e.value)


def test_bad_config_stops_a_command_before_any_work(tmp_path):
    Workspace.init(tmp_path)
    cfg = yaml.safe_load((tmp_path / "zaomo.yaml").read_text(encoding="utf-8"))
    cfg["train"]["method"] = "qlora"
    cfg["project"]["device"] = "cpu"
    (tmp_path / "zaomo.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = CliRunner().invoke(app, ["runs", "-w", str(tmp_path)])
    assert r.exit_code == 2
    assert "train.method" in r.output and "qlora" in r.output
    assert not (tmp_path / "zaomo.db").exists()  # nothing was started


def test_bad_override_on_the_command_line(tmp_path):
    Workspace.init(tmp_path)
    r = CliRunner().invoke(app, ["runs", "-w", str(tmp_path), "--set", "train.warmup=5"])
    assert r.exit_code == 2 and "train.warmup" in r.output and "warmup_steps" in r.output
    r = CliRunner().invoke(app, ["runs", "-w", str(tmp_path), "--set", "train.lr"])
    assert r.exit_code == 2 and "KEY=VALUE" in r.output
