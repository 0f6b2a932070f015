"""The vLLM child writes to a log file in the workspace, never to a pipe nobody reads (which blocks it once the
pipe's buffer is full)."""

from __future__ import annotations

import sys

import pytest

from zaomo.serve.vllm import VLLMEngine
from zaomo.workspace import Workspace

CHATTY = "import sys; sys.stdout.write('x' * 1_000_000); sys.stdout.flush(); print('boom', file=sys.stderr); sys.exit(3)"


def test_vllm_output_goes_to_the_workspace_log(tmp_path, tiny_model_dir):
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=[f"serve.model={tiny_model_dir}",
                                                                  "serve.engine=vllm"])
    with pytest.raises(RuntimeError) as e:
        VLLMEngine.from_config(ws, command=[sys.executable, "-c", CHATTY], timeout=60)
    log = tmp_path / "logs" / "vllm.log"
    assert "code 3" in str(e.value) and str(log) in str(e.value) and "boom" in str(e.value)
    assert log.stat().st_size > 1_000_000
