"""The domain question set: cloze questions whose answers are spans of their source sentence; the training split
decontaminated against them (a copied sentence moves its record to quarantine, a sentence repeated across
documents drops the question instead); question-answer pairs written by an OpenAI-compatible model, checked
against their passage (tested against a scripted endpoint on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zaomo.config import apply_overrides, validate
from zaomo.eval.cloze import BLANK, PROMPT, cloze_items, find_spans, split_sentences
from zaomo.recipe.stages import build_domain_set
from zaomo.utils.io import read_jsonl, write_jsonl
from zaomo.workspace import Workspace

SENTENCES = [
    "临川图书馆建于1987年，第一任馆长是王建国。",
    "每年3月12日，博物馆都会举办开放日，通常有450名市民参加。",
    "The Harlow Observatory opened in 1962 and has been directed by Alice Moreau since 2011.",
    "Every year on March 4, 2019, about 300 visitors came to the open day in Quincy.",
    "置酒长安道，同心与我违。",
]


def test_cloze_answers_are_spans_of_their_source_sentence():
    records = [{"id": f"r{i}", "source": f"r{i}.txt", "text": s} for i, s in enumerate(SENTENCES)]
    items = cloze_items(records, limit=50, per_document=3, min_context=4)
    assert len(items) == len(SENTENCES)  # one per sentence here: each has a span and enough context
    kinds = set()
    for it in items:
        ev, (answer,) = it["evidence"], it["answers"]
        assert ev in SENTENCES and answer in ev and ev.count(answer) == 1
        assert answer not in it["question"] and BLANK in it["question"]
        assert it["question"] == PROMPT[it["lang"]].format(q=ev.replace(answer, BLANK))
        assert it["doc_ids"] == [f"r{SENTENCES.index(ev)}.txt"]
        kinds.add(it["kind"])
    assert {"date", "name"} <= kinds and {it["lang"] for it in items} == {"zh", "en"}
    spans = {s.kind: SENTENCES[1][s.start:s.end] for s in find_spans(SENTENCES[1])}
    assert spans["date"] == "3月12日" and spans["number"] == "450名"
    assert [SENTENCES[4][s.start:s.end] for s in find_spans(SENTENCES[4])] == ["长安"]
    # no span, or too little left around the blank: no question
    assert cloze_items([{"id": "x", "text": "我们很高兴。The weather was nice today."}], 10) == []
    assert cloze_items([{"id": "y", "text": "馆长是王建国。"}], 10, min_context=8) == []
    assert split_sentences("兰叶春葳蕤，桂华秋皎洁。\n欣欣此生意，自尔为佳节。") == ["兰叶春葳蕤，桂华秋皎洁。", "欣欣此生意，自尔为佳节。"]
    again = cloze_items(records, limit=50, per_document=3, min_context=4)
    assert again == items  # the same documents give the same set


def _workspace(tmp_path, *overrides: str) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.cfg = validate(apply_overrides(ws.cfg.model_dump(mode="json"), ["eval.cloze.min_context=4", *overrides]))
    return ws


def _splits(ws: Workspace, train: list[dict], val: list[dict]) -> None:
    write_jsonl(ws.clean_dir / "train.jsonl", train)
    write_jsonl(ws.clean_dir / "val.jsonl", val)
    (ws.clean_dir / "quarantine.jsonl").write_text("", encoding="utf-8")
    n = len(train) + len(val)
    (ws.clean_dir / "report.json").write_text(json.dumps({"read": n, "kept": n, "train": len(train), "val": len(val),
                                                          "quarantined": 0, "dropped": {}}), encoding="utf-8")


def test_held_out_sentences_never_reach_the_training_split(tmp_path):
    ws = _workspace(tmp_path)
    copied = "松江档案馆建于1978年，收藏了三万件档案。"
    boiler = "本馆开放时间为每天9点至17点，周一闭馆。"  # the same notice in many documents
    val = [{"id": "v1", "source": "v1.txt", "text": copied}, {"id": "v2", "source": "v2.txt", "text": boiler}]
    train = [{"id": "t1", "source": "t1.txt", "text": "一些别的内容。" + copied + "还有更多。"},
             {"id": "t2", "source": "t2.txt", "text": "青石博物馆介绍。" + boiler},
             {"id": "t3", "source": "t3.txt", "text": "白沙植物园介绍。" + boiler},
             {"id": "t4", "source": "t4.txt", "text": "The Alder Railway Archive keeps 4000 maps of Chile."}]
    _splits(ws, train, val)
    dom = build_domain_set(ws, log=lambda _: None)
    items = read_jsonl(ws.path(ws.cfg.eval.cloze.file))
    assert [it["evidence"] for it in items] == [copied]  # the repeated notice gave no question
    assert dom["repeated_dropped"] == 1 and dom["decontaminated"] == 1 and dom["questions"] == 1
    kept = read_jsonl(ws.clean_dir / "train.jsonl")
    assert [r["id"] for r in kept] == ["t2", "t3", "t4"]  # t1 held the question's sentence
    (moved,) = read_jsonl(ws.quarantine_path)
    assert moved["id"] == "t1" and moved["step"] == "decontaminate" and items[0]["id"] in moved["reason"]
    for it in items:
        assert all(it["evidence"] not in r["text"] for r in kept)
    rep = json.loads((ws.clean_dir / "report.json").read_text(encoding="utf-8"))
    assert (rep["kept"], rep["train"], rep["quarantined"], rep["dropped"]) == (5, 3, 1, {"decontaminate": 1})
    assert rep["read"] == rep["kept"] + rep["quarantined"]


class ScriptedWriter(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions that writes a question about the first number in the passage;
    a passage mentioning MALFORMED gets prose, one mentioning WRONG an answer that is not in it."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        passage = prompt.split("Passage:\n", 1)[-1].split("段落：\n", 1)[-1]
        number = re.search(r"\d+", passage).group()
        if "MALFORMED" in passage:
            reply = "Here is a question about the passage."
        elif "WRONG" in passage:
            reply = json.dumps({"question": "How many?", "answer": "987654"})
        else:
            reply = "```json\n" + json.dumps({"question": f"Which number follows in: {passage[:12]}…?",
                                              "answer": number}) + "\n```"
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def writer_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedWriter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_questions_written_by_an_openai_compatible_model_are_checked(tmp_path, writer_url):
    ws = _workspace(tmp_path, f"eval.generator.url={writer_url}", "eval.generator.model=writer",
                    "eval.cloze.questions=0")
    val = [{"id": "v1", "source": "a.txt", "text": "The pier is old. It was rebuilt in 1931 by the town of Alder."},
           {"id": "v2", "source": "b.txt", "text": "临川图书馆的馆长是王建国。他在2019年上任，任期五年。"},
           {"id": "v3", "source": "c.txt", "text": "MALFORMED reply expected for 12 of these."},
           {"id": "v4", "source": "d.txt", "text": "WRONG answer expected for 7 of these."}]
    _splits(ws, [{"id": "t1", "source": "t.txt", "text": "Nothing held out here, only 5 words."}], val)
    dom = build_domain_set(ws, log=lambda _: None)
    items = read_jsonl(ws.path(ws.cfg.eval.cloze.file))
    assert dom["written"] == 2 and dom["cloze"] == 0
    assert dom["written_rejected"] == {"no JSON object in the reply": 1, "answer not found in the passage": 1}
    by_doc = {it["doc_ids"][0]: it for it in items}
    assert by_doc["a.txt"]["answers"] == ["1931"] and by_doc["a.txt"]["evidence"] == \
        "It was rebuilt in 1931 by the town of Alder."
    assert by_doc["b.txt"]["answers"] == ["2019"] and by_doc["b.txt"]["evidence"] == "他在2019年上任，任期五年。"
    for it in items:
        assert it["origin"] == "generator" and it["answers"][0] in it["evidence"] in it["passage"]
