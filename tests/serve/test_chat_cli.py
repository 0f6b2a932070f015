"""`zaomo chat` in the terminal: answers stream, /reset and /exit work, a missing model is a clear error."""

from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.workspace import Workspace


def test_chat_cli(tmp_path, tiny_model_dir):
    Workspace.init(tmp_path)
    r = CliRunner().invoke(app, ["chat", "-w", str(tmp_path), "--model", str(tiny_model_dir), "--max-tokens", "4"],
                           input="你好\n/reset\nhello\n/exit\n")
    assert r.exit_code == 0, r.output
    assert r.output.count("model>") == 2


def test_chat_cli_unknown_model(tmp_path):
    Workspace.init(tmp_path)
    r = CliRunner().invoke(app, ["chat", "-w", str(tmp_path), "--model", "nope"], input="/exit\n")
    assert r.exit_code == 2 and "zaomo models" in r.output
