"""The deployment files are valid for the tools that will read them: the compose file against the Compose
Specification schema (check-jsonschema's vendored copy, no network), every Kubernetes manifest against the
API schemas in strict mode (kubernetes-validate), and the wiring between them is zaomo's own config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _docs() -> list[dict]:
    return [d for f in K8S for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d]


def test_compose_file_matches_the_compose_spec(tmp_path):
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install 'zaomo[dev]')")
    ok = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # and the validator does reject a broken file (a service whose port list is a number)
    bad = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    bad["services"]["gateway"]["ports"] = 8000
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    no = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(tmp_path / "bad.yaml")],
                        capture_output=True, text=True)
    assert no.returncode != 0


def test_kubernetes_manifests_validate_strictly():
    kv = pytest.importorskip("kubernetes_validate")
    docs = _docs()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret",
                                         "PersistentVolumeClaim"}
    for d in docs:
        kv.validate(d, "1.30.0", strict=True)
    broken = dict(docs[0], spec={**docs[0].get("spec", {}), "replicaz": 2})
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, "1.30.0", strict=True)


def test_gateway_is_wired_through_zaomos_own_config():
    """The keys the manifests pass with --set exist and validate; secrets come from the environment; readiness
    is /health; vLLM asks for a GPU."""
    from zaomo.config import load_config

    by = {(d["kind"], d["metadata"]["name"]): d for d in _docs()}
    gw = by[("Deployment", "zaomo-gateway")]["spec"]["template"]["spec"]["containers"][0]
    sets = [a for i, a in enumerate(gw["args"]) if i and gw["args"][i - 1] == "--set"]
    cfg = load_config(None, [s.replace("$(DATABASE_URL)", "postgresql+psycopg://u:p@h/db") for s in sets]
                      + ["serve.host=0.0.0.0"])
    assert cfg.serve.engine == "remote" and cfg.serve.require_keys
    assert gw["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {e["name"] for e in gw["env"] if "secretKeyRef" in e.get("valueFrom", {})} == {"DATABASE_URL",
                                                                                         "OPENAI_API_KEY"}
    vllm = by[("Deployment", "zaomo-vllm")]["spec"]["template"]["spec"]["containers"][0]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    csets = [a for i, a in enumerate(compose["services"]["gateway"]["command"]) if i and
             compose["services"]["gateway"]["command"][i - 1] == "--set"]
    load_config(None, [s.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in deploy/.env}", "p")
                       .replace("${ZAOMO_MODEL_NAME:-served}", "served") for s in csets] + ["serve.host=0.0.0.0"])
    for dockerfile in ("Dockerfile", "Dockerfile.cuda"):
        text = (DEPLOY / dockerfile).read_text(encoding="utf-8")
        assert "HEALTHCHECK" in text and "/health" in text and "USER zaomo" in text
        assert "PASSWORD" not in text and "API_KEY" not in text  # nothing secret baked in
