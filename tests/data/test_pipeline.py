"""`zaomo data run` on every format and kind of bad input: counts, reasons, nothing lost."""

import json

import docx
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.data import run_pipeline
from zaomo.data.formats import to_messages
from zaomo.data.readers import Document, ReadProblem, iter_documents
from zaomo.demo import write_demo
from zaomo.workspace import Workspace

GOOD_ZH = "星河云图科技的研发部负责产品的设计与开发，团队成员来自不同的城市，大家在总部大楼一起工作。"
GOOD_EN = "The research team designs and builds the products, and its members work together at the headquarters."
ZH = ["市场部每个季度都会发布新的推广计划，并且邀请各个部门的同事一起讨论预算和目标。",
      "财务部提醒大家按时提交报销材料，所有发票都需要在系统中上传扫描件并填写用途说明。",
      "人事部负责招聘和培训，新员工入职的第一周会学习公司的制度、文化和信息安全知识。",
      "客服部的同事每天处理大量的用户来信，他们会把常见的问题整理成文档分享给所有人。",
      "设计部正在改版公司的官网，新的页面会更加简洁，也会更好地支持手机上的浏览体验。"]
EN = ["The finance team closes the books at the end of every month and publishes a short summary for all staff.",
      "Customer support answers thousands of letters a week and turns the common questions into help pages.",
      "The design team is rebuilding the website so that it is simpler and works well on small phone screens."]


def _lines(p):
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


def make_inputs(raw):
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "a.txt").write_text(GOOD_ZH, encoding="utf-8")
    (raw / "b.md").write_text("# Title\n\n" + GOOD_EN, encoding="utf-8")
    (raw / "page.html").write_text(f"<html><body><nav>home | about</nav><script>var x=1;</script>"
                                   f"<article><p>{ZH[0]}</p><p>{ZH[1]}</p></article><footer>© 2024</footer></body></html>",
                                   encoding="utf-8")
    (raw / "gbk.txt").write_bytes(("公司的会议室可以通过内部系统预约，预约以后请准时使用，用完请把桌椅恢复原样。").encode("gbk"))
    (raw / "big5.txt").write_bytes("員工餐廳每天中午開放，歡迎大家在那裡一起吃飯，也可以在那裡開小型的會議。".encode("big5"))
    (raw / "u16.txt").write_bytes(EN[0].encode("utf-16"))
    (raw / "rows.csv").write_text("id,text\nr1," + EN[1] + "\nr2,短\n", encoding="utf-8")
    (raw / "one.json").write_text(json.dumps([{"id": "j1", "text": ZH[2]}], ensure_ascii=False),
                                  encoding="utf-8")
    with open(raw / "lines.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": "l1", "text": ZH[3] + "联系13812345678"}, ensure_ascii=False) + "\n")
        f.write('{"id": "l2", "text": "truncated\n')
        f.write(json.dumps({"id": "l3", "title": "no text field"}) + "\n")
        f.write(json.dumps({"id": "l4", "text": GOOD_ZH}, ensure_ascii=False) + "\n")  # exact duplicate of a.txt
        f.write(json.dumps({"id": "l5", "text": "教你制造炸弹的方法，详细步骤请私聊获取，保证安全可靠，名额有限。"},
                           ensure_ascii=False) + "\n")
    pq.write_table(pa.table({"id": ["p1"], "text": [EN[2]]}), raw / "t.parquet")
    d = docx.Document()
    d.add_paragraph(ZH[4])
    d.save(raw / "d.docx")
    (raw / "empty.txt").write_bytes(b"")
    (raw / "bin.txt").write_bytes(bytes(range(256)) * 4)
    (raw / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    (raw / "x.exe").write_bytes(b"MZ")
    with open(raw / "huge.jsonl", "wb") as f:  # a single 20 MB line
        f.write(b'{"id": "h", "text": "' + b"a" * 20_000_000 + b'"}\n')


def test_every_format_and_bad_input_is_accounted_for(tmp_path):
    ws = Workspace.init(tmp_path)
    make_inputs(ws.raw_dir)
    r = run_pipeline(ws, progress=False)
    assert r.read == r.kept + r.quarantined + r.deduplicated
    q = _lines(ws.quarantine_path)
    assert len(q) == r.quarantined
    reasons = {(x.get("source"), x["step"]): x["reason"] for x in q}
    lines_read = [(x.get("line"), x["reason"]) for x in q if x.get("source") == "lines.jsonl" and x["step"] == "read"]
    assert [ln for ln, _ in lines_read] == [2, 3]
    assert "invalid JSON" in lines_read[0][1] and "no text field" in lines_read[1][1]
    assert reasons[("empty.txt", "read")] == "empty file"
    assert "binary" in reasons[("bin.txt", "read")]
    assert "unsupported file type" in reasons[("x.exe", "read")]
    assert "pdf" in reasons[("bad.pdf", "read")]
    assert "MiB" in reasons[("huge.jsonl", "read")]
    assert r.dropped["safety"] == 1 and r.dropped["length"] >= 1
    assert r.deduplicated >= 1 and r.masked.get("mobile") == 1
    kept = _lines(ws.clean_dir / "train.jsonl") + _lines(ws.clean_dir / "val.jsonl")
    texts = "\n".join(k["text"] for k in kept)
    assert "13812345678" not in texts and "[手机号]" in texts
    assert "var x" not in texts and "home | about" not in texts  # HTML main text only
    assert {"gb18030", "big5"} <= set(r.encodings) or "gbk" in r.encodings
    sources = {k["source"] for k in kept}
    assert {"a.txt", "b.md", "page.html", "gbk.txt", "big5.txt", "u16.txt", "rows.csv", "one.json", "t.parquet",
            "d.docx", "lines.jsonl"} <= sources
    assert (ws.clean_dir / "report.html").read_text(encoding="utf-8").count("<img") == 1


def test_demo_corpus_is_cleaned_as_planted(tmp_path):
    ws = Workspace.init(tmp_path)
    write_demo(ws.root)
    r = run_pipeline(ws, progress=False)
    assert r.read == r.kept + r.quarantined + r.deduplicated
    assert r.deduplicated >= 3  # two exact copies, one near copy, and the HTML page of the policies
    assert r.dropped["safety"] >= 2 and r.dropped["read"] == 3  # bad JSON line, empty file, binary file
    kept = {k["source"] for k in _lines(ws.clean_dir / "train.jsonl") + _lines(ws.clean_dir / "val.jsonl")}
    assert all(f"handbook/{lang}/departments.md" in kept for lang in ("zh", "en"))
    mojibake = [k for k in _lines(ws.clean_dir / "train.jsonl") + _lines(ws.clean_dir / "val.jsonl")
                if k["source"] == "web/history_mojibake.txt"]
    assert mojibake and mojibake[0]["text"].startswith("星河云图科技")


def test_decontamination_removes_eval_overlap(tmp_path):
    ws = Workspace.init(tmp_path)
    ws.eval_data_dir.mkdir(parents=True)
    (ws.eval_data_dir / "qa.jsonl").write_text(json.dumps(
        {"id": "q1", "question": "请问星河云图科技研发部的负责人是谁", "answers": ["王"]}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    ws.raw_dir.mkdir(parents=True, exist_ok=True)
    (ws.raw_dir / "leak.txt").write_text("题目：请问星河云图科技研发部的负责人是谁？答案是王建国。这是一份泄露的试卷，不应进入训练集。",
                                         encoding="utf-8")
    (ws.raw_dir / "fine.txt").write_text(GOOD_ZH, encoding="utf-8")
    r = run_pipeline(ws, progress=False)
    assert r.dropped.get("decontaminate") == 1 and r.contaminated[0]["items"] == ["qa.jsonl:q1"]


def test_chat_formats_convert():
    alpaca = to_messages({"instruction": "翻译", "input": "hello", "output": "你好"})
    assert [m["role"] for m in alpaca["messages"]] == ["user", "assistant"]
    share = to_messages({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})
    assert share["messages"][1] == {"role": "assistant", "content": "yo"}


def test_readers_keep_source_and_position(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    docs = list(iter_documents(tmp_path))
    assert all(isinstance(d, Document) for d in docs)
    assert [(d.source, d.meta["line"]) for d in docs] == [("x.jsonl", 1), ("x.jsonl", 2)]
    assert isinstance(next(iter_documents(tmp_path / "missing.txt")), ReadProblem)


def test_cli_data_run(tmp_path):
    ws = Workspace.init(tmp_path)
    write_demo(ws.root)
    res = CliRunner().invoke(app, ["data", "run", "-w", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "quarantined" in res.output and "report.html" in res.output
