"""The web console in a real headless Chromium against a real server: send a message, see the streamed
answer and its citations, rate it, submit a correction, find it in the feedback queue."""

from __future__ import annotations

import shutil

import httpx
import pytest
from sqlalchemy import select

from zaomo.demo import write_demo
from zaomo.kb import build_kb
from zaomo.records import Feedback
from zaomo.serve.app import create_app
from zaomo.workspace import Workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_console_is_served(tmp_path, eos_engine, serve_app):
    with serve_app(create_app(Workspace.init(tmp_path), engine=eos_engine)) as srv:
        page = httpx.get(srv.url + "/", timeout=10)
        assert page.status_code == 200 and "造模 zaomo" in page.text and "app.js" in page.text
        assert "EventSource" not in page.text and httpx.get(srv.url + "/app.js").status_code == 200


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium: apt-get install chromium fonts-wqy-microhei")
def test_chat_cite_rate_correct_and_queue(tmp_path, eos_engine, serve_app):
    playwright = pytest.importorskip("playwright.sync_api")
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["kb.sources=[data/raw/handbook]", "kb.top_k=1"])
    write_demo(ws.root)
    build_kb(ws)
    with serve_app(create_app(ws, engine=eos_engine)) as srv, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(locale="zh-CN", viewport={"width": 390, "height": 800})  # a phone screen
        page.goto(srv.url + "/")
        page.wait_for_function("document.querySelector('#kb-name').options.length === 1")
        assert page.input_value("#kb-name") == "default" and page.input_value("#model") == "tiny"
        page.check("#use-kb")
        eos_engine.reset_script()
        page.fill("#q", "研发部的分机号是多少？")
        page.keyboard.press("Enter")  # keyboard only
        page.wait_for_function("document.querySelector('.bot .text') && "
                               "document.querySelector('.bot .text').textContent === '好的'")
        page.wait_for_selector(".bot .cites li")
        assert "departments.md" in page.inner_text(".bot .cites") or "guide.md" in page.inner_text(".bot .cites")
        page.click(".bot .up")
        page.wait_for_function("document.querySelector('.bot .status').textContent.includes('已收到')")
        page.fill(".bot .fix", "研发部的分机号请查看手册。")
        page.click(".bot .submit-fix")
        page.wait_for_function("document.querySelectorAll('.bot .status')[0].textContent.includes('已收到')")
        page.click("#show-queue")
        page.wait_for_selector("#queue-rows tr")
        assert "研发部的分机号请查看手册。" in page.inner_text("#queue-rows")
        page.click("#lang")
        assert page.inner_text("#send") == "Send"
        browser.close()
    with ws.registry.session() as s:
        rows = list(s.scalars(select(Feedback).order_by(Feedback.id)))
    assert [r.rating for r in rows] == [1, -1] and rows[1].correction == "研发部的分机号请查看手册。"
    assert rows[0].answer == "好的" and rows[0].request_id.startswith("chatcmpl-")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium: apt-get install chromium fonts-wqy-microhei")
def test_stage_views(tmp_path, serve_app):
    """Runs with their loss curve, model versions, eval reports, data report and audit search in the page."""
    playwright = pytest.importorskip("playwright.sync_api")
    from zaomo.demo.loop import run_quickstart

    fast = ["train.max_steps=4", "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4",
            "model.intermediate_size=128", "eval.max_new_tokens=8", "train.eval_every=2"]
    run_quickstart(tmp_path / "ws", progress=False, log=lambda *_: None, overrides=fast, drills=20)
    ws = Workspace.open(tmp_path / "ws")
    with serve_app(create_app(ws)) as srv, playwright.sync_playwright() as p:
        r = httpx.post(srv.url + "/v1/chat/completions", timeout=60,
                       json={"messages": [{"role": "user", "content": "审计测试"}], "max_tokens": 3})
        assert r.status_code == 200, r.text
        found = httpx.get(srv.url + "/api/audit", params={"q": "审计测试"}, timeout=30).json()["data"]
        assert [a["request"] for a in found] == ["审计测试"], (found, httpx.get(srv.url + "/api/audit", timeout=30).json())
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(locale="zh-CN")
        page.goto(srv.url + "/")
        page.click("#show-stages")
        page.wait_for_selector("#charts svg.chart polyline")
        assert not page.is_visible("#log") and page.locator("#charts svg.chart").count() == 3
        assert page.locator("#runs-list li").count() == 2  # pretraining and SFT
        page.click("[data-tab=models]")
        page.wait_for_selector("#models-rows tr")
        assert "handbook-chat:1" in page.inner_text("#models-rows") and "promoted" in page.inner_text("#models-rows")
        page.click("[data-tab=evals]")
        page.wait_for_selector("#evals-rows tr")
        page.locator(".pick").nth(0).check()
        page.locator(".pick").nth(1).check()
        page.click("#compare")
        page.wait_for_function("document.querySelector('#compare-out').textContent.includes('deltas')")
        page.click("[data-tab=audit]")
        page.fill("#audit-q", "审计测试")
        page.wait_for_function("document.querySelector('#audit-rows') && "
                               "document.querySelector('#audit-rows').innerText.includes('审计测试')")
        page.click("[data-tab=data]")
        frame = page.frame_locator("#data-report")
        assert "Data report" in frame.locator("h1").inner_text()
        browser.close()
