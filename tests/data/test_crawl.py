"""`zaomo data crawl` against a site on 127.0.0.1: robots.txt obeyed, the per-host delay kept, the depth limit
and the site boundary respected, duplicates fetched once, an interrupted crawl resumed without refetching, and
WARC output that `zaomo data run` reads with each page's URL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zaomo.cli.main import app
from zaomo.data import run_pipeline
from zaomo.workspace import Workspace

pytest.importorskip("warcio")

BODY = ("The harbor library opens at nine and the teachers bring their students to read by the window. "
        "Every winter the village holds a lantern market on the old stone bridge near the station. ")


def _page(title: str, links: list[str], extra: str = "") -> str:
    a = "".join(f'<li><a href="{h}">{h}</a></li>' for h in links)
    return (f"<html><head><title>{title}</title></head><body><nav><ul>{a}</ul></nav>"
            f"<article><h1>{title}</h1><p>{title}: {BODY}{extra}</p><p>{BODY[::-1]}</p></article></body></html>")


class Site:
    """Pages: / → a, b, private/x, an external link; a → c; c → d (depth 3); b has a's content at another URL."""

    def __init__(self, delay_robots: float | None = None):
        self.hits: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        robots = "User-agent: *\nDisallow: /private/\n" + (f"Crawl-delay: {delay_robots}\n" if delay_robots else "")
        self.pages = {
            "/robots.txt": ("text/plain", robots),
            "/": ("text/html", _page("home", ["/a", "/b#top", "/private/x", "http://elsewhere.invalid/",
                                             "/logo.png"])),
            "/a": ("text/html", _page("alpha", ["/c", "/"])),
            "/b": ("text/html", _page("alpha", ["/c", "/"])),  # same content as /a
            "/c": ("text/html", _page("gamma", ["/d"])),
            "/d": ("text/html", _page("delta", [])),
            "/private/x": ("text/html", _page("secret", [])),
            "/logo.png": ("image/png", "\x89PNG"),
        }
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with site.lock:
                    site.hits.append((time.monotonic(), self.path))
                ctype, body = site.pages.get(self.path, ("text/plain", None))
                data = (body or "not found").encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()

    def paths(self) -> list[str]:
        return [p for _, p in self.hits]


def _crawl(ws: Path, url: str, *sets: str):
    args = ["data", "crawl", url, "-w", str(ws)]
    for s in sets:
        args += ["--set", s]
    return CliRunner().invoke(app, args)


def test_crawl_is_polite_bounded_and_read_back_as_warc(tmp_path):
    ws = Workspace.init(tmp_path / "ws").root
    with Site() as site:
        r = _crawl(ws, site.url + "/", "data.crawl.delay_s=0.3", "data.crawl.max_depth=2")
        assert r.exit_code == 0, r.output
        paths = site.paths()
        gaps = [b - a for (a, _), (b, _) in zip(site.hits, site.hits[1:])]
    assert paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1
    assert "/private/x" not in paths  # disallowed by robots.txt
    assert "/d" not in paths  # depth 3 > max_depth 2
    assert sorted(p for p in paths if p != "/robots.txt") == ["/", "/a", "/b", "/c", "/logo.png"]
    assert min(gaps) >= 0.28  # one host, at least delay_s apart (timer granularity aside)
    assert len(paths) == len(set(paths))  # nothing fetched twice

    rep = run_pipeline(Workspace.open(ws, overrides=["data.inputs=[data/raw/crawl]", "data.dedup.near=false",
                                                     "data.workers=1"]), progress=False)
    assert rep.read == rep.kept + rep.quarantined + rep.deduplicated
    clean = Workspace.open(ws).clean_dir
    kept = [json.loads(x) for s in ("train", "val") for x in (clean / f"{s}.jsonl").read_text().splitlines()]
    urls = sorted(k["meta"]["url"] for k in kept)
    assert urls == [site.url + p for p in ("/", "/a", "/c")]  # /b was the same page: stored once
    assert all("alpha" in k["text"] for k in kept if k["meta"]["url"].endswith("/a"))
    reasons = [json.loads(x)["reason"] for x in (clean / "quarantine.jsonl").read_text().splitlines()]
    assert any("logo.png" in x and "image/png" in x for x in reasons)


def test_robots_crawl_delay_wins_over_a_shorter_delay(tmp_path):
    ws = Workspace.init(tmp_path / "ws").root
    with Site(delay_robots=0.5) as site:
        assert _crawl(ws, site.url + "/a", "data.crawl.delay_s=0.05", "data.crawl.max_depth=1").exit_code == 0
        gaps = [b - a for (a, _), (b, _) in zip(site.hits[1:], site.hits[2:])]
    assert gaps and min(gaps) >= 0.48


def test_an_interrupted_crawl_resumes_without_refetching(tmp_path):
    ws = Workspace.init(tmp_path / "ws").root
    with Site() as site:
        exe = Path(sys.executable).parent / "zaomo"
        proc = subprocess.Popen([str(exe), "data", "crawl", site.url + "/", "-w", str(ws), "--set",
                                 "data.crawl.delay_s=0.6", "--set", "data.crawl.max_depth=3"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len([p for p in site.paths() if p != "/robots.txt"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # killed mid-crawl: no clean shutdown
        proc.wait()
        first = [p for p in site.paths() if p != "/robots.txt"]
        assert 2 <= len(first) < 5
        r = _crawl(ws, site.url + "/", "data.crawl.delay_s=0.05", "data.crawl.max_depth=3")
        assert r.exit_code == 0, r.output
        pages = [p for p in site.paths() if p != "/robots.txt"]
    fetched_twice = {p for p in pages if pages.count(p) > 1}
    assert len(fetched_twice) <= 1 and fetched_twice <= {first[-1]}  # at most the page in flight at the kill
    assert set(pages) == {"/", "/a", "/b", "/c", "/d", "/logo.png"}
    warcs = sorted((ws / "data" / "raw" / "crawl").glob("crawl-*.warc.gz"))
    assert len(warcs) == 2  # one per session; the first ends where it was killed
    from zaomo.data.readers import Document, iter_documents

    urls = [d.meta["url"] for w in warcs for d in iter_documents(w) if isinstance(d, Document)]
    assert sorted(set(urls)) == sorted(site.url + p for p in ("/", "/a", "/c", "/d"))
