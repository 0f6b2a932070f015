"""The console on a server that requires API keys, in a real headless Chromium against a real server: it asks
for a key, sends it on every call, chats (streamed Markdown with citations linked to their passages, sampling
controls sent), rates an answer, keeps the conversation across a reload, forgets the key, and draws the stages
charts; and an answer with markup in it renders as text."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from zaomo.records import ApiKey, Feedback
from zaomo.serve.app import create_app, hash_key
from zaomo.serve.engines import Done
from zaomo.workspace import Workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = os.environ.get("ZAOMO_CONSOLE_SCREENSHOTS")  # a folder: save screenshots of the console there (docs)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs chromium: bash scripts/ensure-browser.sh")]


class FakeEngine:
    """Streams a fixed answer in small pieces and remembers the sampling parameters it was asked with."""

    name = "fake"

    def __init__(self, answer: str):
        self.answer, self.params = answer, []

    def stream(self, messages, params):
        self.params.append(params)
        self.messages = messages
        for i in range(0, len(self.answer), 4):
            yield self.answer[i:i + 4]
        yield Done("stop", 5, len(self.answer) // 4)


class SeenHeaders:
    """ASGI wrapper that records the Authorization header of every API call the server receives."""

    def __init__(self, app):
        self.app, self.seen = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(("/v1/", "/api/")):
            auth = dict(scope["headers"]).get(b"authorization", b"").decode()
            self.seen.append((scope["path"], auth))
        await self.app(scope, receive, send)


def create_key(ws: Workspace, name: str = "console") -> str:
    """What `zaomo keys create NAME` does."""
    key = "zk-" + secrets.token_urlsafe(24)
    with ws.registry.session.begin() as s:
        s.add(ApiKey(name=name, prefix=key[:8], hash=hash_key(key)))
    return key


def add_run(ws: Workspace, run_id: str = "train-pretrain-demo") -> None:
    """A finished training run with its metrics.jsonl, as the training loop writes it."""
    ws.registry.start_run(run_id, "train", stage="pretrain", method="full")
    ws.registry.finish_run(run_id, "done")
    d = ws.runs_dir / run_id
    d.mkdir(parents=True, exist_ok=True)
    rows = [{"step": 0, "val_loss": 6.1}]
    for step in range(1, 41):
        lr = 3e-4 * min(1.0, step / 5) * (1 - 0.8 * step / 40)
        row = {"step": step, "loss": 6.0 * 0.96 ** step + 0.5, "lr": lr, "tokens_per_s": 1200.0 + 10 * (step % 7),
               "tokens_seen": step * 4096}
        if step % 10 == 0:
            row["val_loss"] = 6.0 * 0.965 ** step + 0.7
        rows.append(row)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_kb(ws: Workspace) -> None:
    from zaomo.kb import build_kb

    src = ws.raw_dir / "handbook"
    src.mkdir(parents=True, exist_ok=True)
    (src / "departments.md").write_text("# 部门\n\n研发部的分机号是 8021，位于总部大楼3楼。\n", encoding="utf-8")
    (src / "guide.md").write_text("# 指南\n\n请假需提前一天在系统中提交申请。\n", encoding="utf-8")
    build_kb(ws)


ANSWER = ("**研发部**的分机号是 `8021` [1]。\n\n"
          "- 位于总部大楼 *3 楼*\n- 详见 [手册](https://example.com/handbook)\n\n"
          "```\nzaomo kb build\n```")


def test_console_with_keys_chat_rate_reload_and_stages(tmp_path, serve_app):
    playwright = pytest.importorskip("playwright.sync_api")

    ws = Workspace.open(Workspace.init(tmp_path).root,
                        overrides=["serve.require_keys=true", "kb.sources=[data/raw/handbook]", "kb.top_k=1"])
    write_kb(ws)
    add_run(ws)
    key = create_key(ws)
    engine = FakeEngine(ANSWER)
    app = SeenHeaders(create_app(ws, engine=engine))
    with serve_app(app) as srv, playwright.sync_playwright() as p:
        assert httpx.get(srv.url + "/v1/models", timeout=10).status_code == 401  # keys are required
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1100, "height": 800})
        page.goto(srv.url + "/")

        # no key yet: every call got 401, one form asks for a key; a wrong key is refused and asked again
        page.wait_for_selector("#key-dialog[open]")
        assert "Authorization" in page.inner_text("#key-msg") or "API key" in page.inner_text("#key-msg")
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / "api-key.png"))
        page.fill("#key-input", "zk-wrong")
        page.click("#key-save")
        page.wait_for_function("document.querySelector('#key-dialog').open && "
                               "document.querySelector('#key-msg').textContent.includes('invalid')")
        page.fill("#key-input", key)
        given = len(app.seen)
        page.keyboard.press("Enter")
        # the page asks for models, then knowledge bases: wait for both lists
        page.wait_for_function("document.querySelector('#model').options.length === 1 && "
                               "document.querySelector('#kb-name').options.length === 1")
        assert not page.evaluate("document.querySelector('#key-dialog').open")
        assert page.input_value("#model") == "fake" and page.input_value("#kb-name") == "default"
        assert page.evaluate("JSON.parse(sessionStorage.getItem('zaomo.apiKey'))") == key
        assert page.is_visible("#forget-key")

        # chat: sampling controls and the knowledge base go with the request; the answer streams in as Markdown
        page.check("#use-kb")
        page.fill("#temperature", "0.3")
        page.fill("#max-tokens", "64")
        page.fill("#q", "研发部的分机号是多少？")
        page.keyboard.press("Enter")
        page.wait_for_selector(".bot .rate:not([hidden])")
        assert page.inner_text(".bot .text strong") == "研发部"
        assert page.inner_text(".bot .text code") == "8021"
        assert page.locator(".bot .text li").count() == 2 and page.inner_text(".bot .text em") == "3 楼"
        assert page.inner_text(".bot .text pre") == "zaomo kb build"
        link = page.locator(".bot .text a[href^='https://example.com']")
        assert link.get_attribute("rel") == "noopener noreferrer" and link.inner_text() == "手册"
        assert engine.params[-1].temperature == pytest.approx(0.3) and engine.params[-1].max_tokens == 64
        assert "研发部的分机号是 8021" in json.dumps(engine.messages, ensure_ascii=False)  # the KB passage

        # the citation [1] is a link to its passage, which opens on click
        page.wait_for_selector(".bot .cites li")
        assert "departments.md" in page.inner_text(".bot .cites")
        assert not page.is_visible(".bot .cites .passage")
        page.click(".bot .text a.cite-ref")
        page.wait_for_selector(".bot .cites .passage", state="visible")
        assert "8021" in page.inner_text(".bot .cites .passage")

        # rating: recorded in the DB, with the key
        page.click(".bot .up")
        page.wait_for_function("document.querySelector('.bot .status').textContent.includes('已收到')")
        queue = httpx.get(srv.url + "/api/feedback", headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
        assert [r["rating"] for r in queue["data"]] == [1] and queue["data"][0]["answer"] == ANSWER
        page.click("#show-queue")
        page.wait_for_selector("#queue-rows tr")
        assert "+1" in page.inner_text("#queue-rows")
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / "feedback-queue.png"))
        page.click("#show-chat")
        page.wait_for_selector("#q", state="visible")  # the view switch is asynchronous

        # every call after the key was given carried it (the test's own httpx call too)
        after = app.seen[given:]
        assert all(a == f"Bearer {key}" for _, a in after), after
        assert {"/v1/models", "/api/kbs", "/v1/chat/completions", "/v1/feedback"} <= {u for u, _ in after}

        # the conversation and the settings survive a reload (same tab); the composer stays at the bottom
        page.reload()
        page.wait_for_selector(".bot .text strong")
        assert page.locator("#log > li").count() == 2 and page.inner_text("#log > li.user") == "研发部的分机号是多少？"
        assert page.input_value("#temperature") == "0.3" and page.is_checked("#use-kb")
        assert not page.evaluate("document.querySelector('#key-dialog').open")
        box = page.locator("#ask").bounding_box()
        assert abs(box["y"] + box["height"] - 800) < 2
        if SHOTS:
            page.set_viewport_size({"width": 1000, "height": 720})
            page.click(".bot .text a.cite-ref")
            page.screenshot(path=str(Path(SHOTS) / "chat.png"))

        # forget the key: the next call asks for it again
        page.click("#forget-key")
        assert page.evaluate("sessionStorage.getItem('zaomo.apiKey')") is None
        page.click("#show-stages")
        page.wait_for_selector("#key-dialog[open]")
        page.keyboard.press("Escape")  # no key: said so, nothing hangs
        page.wait_for_function("document.querySelector('#stages-error').textContent.includes('没有 API 密钥')")
        assert not page.evaluate("document.querySelector('#key-dialog').open")
        page.click("[data-tab=runs]")
        page.wait_for_selector("#key-dialog[open]")
        page.fill("#key-input", key)
        page.click("#key-save")

        # Stages: its own view (the chat is hidden), charts with axes, tick labels, units and legends
        page.wait_for_selector("#charts svg.chart")
        assert not page.is_visible("#view-chat") and page.is_visible("#view-stages")
        assert page.evaluate("location.hash") == "#stages"
        charts = page.locator("#charts svg.chart")
        assert charts.count() == 3
        labels = page.locator("#charts .axis-label").all_text_contents()
        assert labels.count("步数（优化器步）") == 3
        assert {"损失（nats/token）", "学习率", "token/秒"} <= set(labels)
        legend = page.locator("#charts .legend-label").all_text_contents()
        assert {"训练损失", "验证损失", "学习率", "每秒 token 数"} <= set(legend)
        loss = charts.nth(0)
        assert loss.locator(".x-tick").count() >= 3 and loss.locator(".y-tick").count() >= 3
        assert loss.locator("polyline").count() == 2  # train and validation
        assert page.locator("#charts svg.chart").nth(1).locator(".y-tick").first.text_content() == "0"
        if SHOTS:
            page.set_viewport_size({"width": 1100, "height": 1240})
            page.screenshot(path=str(Path(SHOTS) / "stage-runs.png"))
        page.click("#lang")
        page.wait_for_function("[...document.querySelectorAll('#charts .axis-label')]"
                               ".some(e => e.textContent === 'step (optimizer steps)')")
        page.go_back()  # the back button returns to the previous view
        page.wait_for_selector("#view-chat:not([hidden])")
        assert page.is_visible("#q") and not page.is_visible("#view-stages")
        browser.close()
    with ws.registry.session() as s:
        rows = list(s.scalars(select(Feedback)))
    assert [r.rating for r in rows] == [1] and rows[0].request_id.startswith("chatcmpl-")


XSS = ("<script>alert(1)</script> and <img src=x onerror=alert(2)> and "
       "[click](javascript:alert(3)) and **<b onclick=alert(4)>bold</b>**\n\n"
       "```html\n<script>alert(5)</script>\n```")


def test_reply_with_markup_renders_as_text(tmp_path, serve_app):
    playwright = pytest.importorskip("playwright.sync_api")
    ws = Workspace.open(Workspace.init(tmp_path).root, overrides=["serve.guard=false"])
    with serve_app(create_app(ws, engine=FakeEngine(XSS))) as srv, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(locale="en-US")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(srv.url + "/")
        assert page.inner_text("#send") == "Send"
        page.fill("#q", "hello")
        page.keyboard.press("Enter")
        page.wait_for_selector(".bot .rate:not([hidden])")
        text = page.locator(".bot .text")
        for tag in ("script", "img", "b", "iframe"):
            assert text.locator(tag).count() == 0, tag
        assert text.locator("a").count() == 0  # javascript: is never a link
        shown = text.inner_text()
        assert "<script>alert(1)</script>" in shown and "<img src=x onerror=alert(2)>" in shown
        assert "[click](javascript:alert(3))" in shown and "<script>alert(5)</script>" in page.inner_text(".bot pre")
        assert page.inner_text(".bot .text strong") == "<b onclick=alert(4)>bold</b>"
        assert page.is_visible(".bot .text p")
        page.reload()  # restored from sessionStorage: still text
        page.wait_for_selector(".bot .text p")
        assert text.locator("script, img").count() == 0 and "<script>alert(1)</script>" in text.inner_text()
        page.wait_for_timeout(200)
        browser.close()
    assert dialogs == []
