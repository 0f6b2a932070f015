"""The pipeline per shard: the same output with 1 or 2 worker processes, resume that reuses finished shards,
and Parquet / zstd exports that hold the same records."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import zstandard

from zaomo.data import run_pipeline
from zaomo.data.shards import plan_shards, run_shards
from zaomo.demo import write_demo
from zaomo.workspace import Workspace

OUTPUTS = ("train.jsonl", "val.jsonl", "test.jsonl", "quarantine.jsonl")


def _ws(root, *extra):
    Workspace.init(root)
    write_demo(root)
    return Workspace.open(root, overrides=["data.shard_mb=0", *extra])  # one file per shard


def _outputs(ws):
    return {n: (ws.clean_dir / n).read_bytes() for n in OUTPUTS}


def test_one_or_two_workers_give_byte_identical_outputs(tmp_path):
    one = _ws(tmp_path / "one", "data.workers=1")
    r1 = run_pipeline(one, progress=False)
    two = _ws(tmp_path / "two", "data.workers=2")
    r2 = run_pipeline(two, progress=False)
    assert r1.shards == r2.shards > 10 and r2.shards_cleaned == r2.shards
    assert _outputs(one) == _outputs(two)
    assert (r1.read, r1.kept, r1.quarantined, r1.deduplicated) == (r2.read, r2.kept, r2.quarantined, r2.deduplicated)
    assert r2.read == r2.kept + r2.quarantined + r2.deduplicated
    assert not (two.clean_dir / ".shards").exists()  # a completed run leaves nothing to resume


def test_an_interrupted_run_resumes_from_finished_shards(tmp_path):
    ref = _ws(tmp_path / "ref")
    run_pipeline(ref, progress=False)
    ws = _ws(tmp_path / "ws")
    shards = plan_shards([ws.path(p) for p in ws.cfg.data.inputs], ws.cfg.data, ws.cfg.safety)
    work = ws.clean_dir / ".shards"
    # the run that was interrupted: only the first 5 shards finished
    run_shards(shards[:5], ws.cfg.data, ws.cfg.safety, ws.root, work, workers=1, progress=False)
    r = run_pipeline(ws, progress=False)
    assert r.shards_reused == 5 and r.shards_cleaned == r.shards - 5
    assert _outputs(ws) == _outputs(ref)


def test_changed_input_is_not_served_from_a_stale_shard(tmp_path):
    ws = _ws(tmp_path / "ws")
    shards = plan_shards([ws.path(p) for p in ws.cfg.data.inputs], ws.cfg.data, ws.cfg.safety)
    run_shards(shards, ws.cfg.data, ws.cfg.safety, ws.root, ws.clean_dir / ".shards", workers=1, progress=False)
    victim = next(p for p in (ws.root / "data/raw").rglob("*.md"))
    victim.write_text(victim.read_text(encoding="utf-8") + "\n新增的一段内容，用于检查分片缓存会不会过期。", encoding="utf-8")
    r = run_pipeline(ws, progress=False)
    assert r.shards_cleaned == 1 and r.shards_reused == r.shards - 1


def test_parquet_and_zstd_exports_hold_the_same_records(tmp_path):
    ws = _ws(tmp_path / "ws", "data.export=[parquet, jsonl.zst]", "data.export_records=5")
    r = run_pipeline(ws, progress=False)
    exp = ws.clean_dir / "export"
    train = [json.loads(x) for x in (ws.clean_dir / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    parts = sorted(exp.glob("train-*.parquet"))
    assert len(parts) == -(-len(train) // 5) and r.paths["export_parquet"] == str(exp)
    ids = [i for p in parts for i in pq.read_table(p).column("id").to_pylist()]
    assert ids == [t["id"] for t in train]
    zst = b"".join(zstandard.ZstdDecompressor().decompress(p.read_bytes(), max_output_size=2**26)
                   for p in sorted(exp.glob("train-*.jsonl.zst")))
    assert [json.loads(x) for x in zst.decode("utf-8").splitlines()] == train


def test_ray_data_local_mode_gives_the_same_output(tmp_path):
    pytest.importorskip("ray.data")
    ref = _ws(tmp_path / "ref")
    run_pipeline(ref, progress=False)
    ws = _ws(tmp_path / "ray", "data.engine=ray")
    r = run_pipeline(ws, progress=False)
    assert r.shards_cleaned == r.shards > 10
    assert _outputs(ws) == _outputs(ref)


def test_disk_backed_dedup_gives_the_same_output_as_memory(tmp_path):
    mem = _ws(tmp_path / "mem")
    r1 = run_pipeline(mem, progress=False)
    disk = _ws(tmp_path / "disk", "data.dedup.store=disk")
    r2 = run_pipeline(disk, progress=False)
    assert r1.deduplicated == r2.deduplicated >= 3 and r1.clusters == r2.clusters
    assert _outputs(mem) == _outputs(disk)


def test_one_big_jsonl_file_is_cut_into_byte_ranges_with_the_same_result(tmp_path):
    """A 2.5 MB JSON-lines file with shard_mb=1 becomes several shards cut at line boundaries; the output
    (ids with their file line numbers, dedup across ranges, a bad line's quarantine entry) is byte-identical to
    reading it whole."""
    import random

    words = ("the river town market morning light people walk along old stone bridge while children play near "
             "water and merchants open their shops selling bread fish fruit cloth tools books").split()
    rng = random.Random(3)
    lines = []
    for i in range(1100):
        if i == 500:
            lines.append("{not json")
        elif i % 150 == 7:
            lines.append(lines[i - 5])  # an exact duplicate of an earlier record, possibly in another range
        else:
            text = ". ".join(" ".join(rng.choice(words) for _ in range(12)).capitalize() for _ in range(28)) + "."
            lines.append(json.dumps({"id": f"r{i}", "text": text}))
    roots = []
    for name, mb in (("whole", 64), ("cut", 1)):
        root = tmp_path / name
        Workspace.init(root)
        (root / "raw").mkdir()
        (root / "raw" / "big.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        roots.append(Workspace.open(root, overrides=["data.inputs=[raw]", f"data.shard_mb={mb}", "data.workers=2",
                                                     "data.split.val_ratio=0.1", "data.dedup.near=false"]))
    whole, cut = (run_pipeline(ws, progress=False) for ws in roots)
    assert whole.shards == 1 and cut.shards == 3
    assert _outputs(roots[0]) == _outputs(roots[1])
    assert cut.read == len(lines) == cut.kept + cut.quarantined + cut.deduplicated
    assert cut.deduplicated == 8 and cut.quarantined >= 1
    bad = [json.loads(x) for x in (roots[1].clean_dir / "quarantine.jsonl").read_text().splitlines()]
    assert any(b.get("line") == 501 or b.get("record", {}).get("line") == 501 for b in bad)
