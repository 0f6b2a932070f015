"""`zaomo data crawl`: a polite, resumable crawler whose output is WARC, so a crawl can be re-read, shared and
reproduced, and `zaomo data run` reads it like any other input.

Polite: robots.txt is obeyed (its Crawl-delay too), one request at a time per host at least `delay_s` apart, an
honest User-Agent. Bounded: same site (host) by default, a depth limit, a page budget. Resumable: the frontier
(every URL seen, its depth and state) lives in SQLite beside the WARC files; a page is marked done only after
its record is written, so an interrupted crawl started again fetches nothing it already has. Deduplicated by
normalised URL and by content hash. Written by hand on httpx + warcio + lxml because the Python crawlers that
do this (Scrapy) bring their own framework and project layout for what is one bounded loop here.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from ..config.data import CrawlConfig
from ..utils.env import optional_import

HTML_TYPES = ("text/html", "application/xhtml+xml")
FRONTIER = ".frontier.sqlite"  # hidden: the readers skip it when the crawl folder is a data input


@dataclass
class CrawlReport:
    fetched: int = 0
    duplicates: int = 0
    robots_blocked: int = 0
    off_site: int = 0
    errors: int = 0
    queued: int = 0
    warc: list[str] = field(default_factory=list)
    seconds: float = 0.0


def normalize_url(url: str) -> str:
    """Scheme and host lowercased, fragment dropped, default ports and an empty path made canonical."""
    url, _ = urldefrag(url.strip())
    p = urlsplit(url)
    host = (p.hostname or "").lower()
    port = f":{p.port}" if p.port and not ((p.scheme == "http" and p.port == 80) or
                                          (p.scheme == "https" and p.port == 443)) else ""
    return urlunsplit((p.scheme.lower(), host + port, p.path or "/", p.query, ""))


class Frontier:
    """Every URL seen, with its depth and state (queued, done, duplicate, robots, error), in SQLite."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS urls (url TEXT PRIMARY KEY, depth INTEGER, state TEXT, "
                        "hash TEXT, seq INTEGER)")
        self.db.execute("CREATE INDEX IF NOT EXISTS urls_next ON urls (state, depth, seq)")
        self.db.execute("CREATE TABLE IF NOT EXISTS hashes (hash TEXT PRIMARY KEY, url TEXT)")
        self.db.commit()

    def add(self, url: str, depth: int) -> bool:
        seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM urls").fetchone()[0]
        cur = self.db.execute("INSERT OR IGNORE INTO urls VALUES (?, ?, 'queued', NULL, ?)", (url, depth, seq))
        return cur.rowcount == 1

    def next(self) -> tuple[str, int] | None:
        row = self.db.execute("SELECT url, depth FROM urls WHERE state='queued' ORDER BY depth, seq LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    def mark(self, url: str, state: str, content_hash: str | None = None) -> None:
        self.db.execute("UPDATE urls SET state=?, hash=? WHERE url=?", (state, content_hash, url))
        self.db.commit()

    def seen_content(self, h: str, url: str) -> str | None:
        row = self.db.execute("SELECT url FROM hashes WHERE hash=?", (h,)).fetchone()
        if row:
            return row[0]
        self.db.execute("INSERT INTO hashes VALUES (?, ?)", (h, url))
        return None

    def count(self, state: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM urls WHERE state=?", (state,)).fetchone()[0]


def robots_crawl_delay(text: str, user_agent: str) -> float | None:
    """The Crawl-delay of the group that names this agent, else of `*` — in seconds, fractions allowed
    (urllib's RobotFileParser reads whole numbers only and drops "Crawl-delay: 0.5")."""
    ours = user_agent.split("/")[0].lower()
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in text.splitlines():
        key, _, value = raw.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        elif key:
            in_rules = True
            if key == "crawl-delay":
                try:
                    delays.update({a: float(value) for a in agents})
                except ValueError:
                    pass
    for agent, d in delays.items():
        if agent != "*" and agent in ours:
            return d
    return delays.get("*")


def _links(base: str, html: bytes) -> list[str]:
    import lxml.html

    try:
        doc = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    out = []
    for el in doc.xpath("//a[@href]"):
        if "nofollow" in (el.get("rel") or "").lower():
            continue
        u = urljoin(base, el.get("href"))
        if urlsplit(u).scheme in ("http", "https"):
            out.append(normalize_url(u))
    return out


class Crawler:
    def __init__(self, cfg: CrawlConfig, out_dir: Path, log: Callable[[str], None] = lambda _m: None,
                 client=None):
        self.cfg, self.out, self.log = cfg, out_dir, log
        self.out.mkdir(parents=True, exist_ok=True)
        self.frontier = Frontier(out_dir / FRONTIER)
        self.robots: dict[str, RobotFileParser | None] = {}
        self.delays: dict[str, float | None] = {}
        self.last_fetch: dict[str, float] = {}
        import httpx

        self.client = client or httpx.Client(timeout=cfg.timeout_s, follow_redirects=True,
                                             headers={"User-Agent": cfg.user_agent})

    def _robots(self, url: str) -> RobotFileParser | None:
        p = urlsplit(url)
        origin = f"{p.scheme}://{p.netloc}"
        if origin not in self.robots:
            rp = RobotFileParser()
            try:
                self._wait(origin)
                r = self.client.get(origin + "/robots.txt")
                self.last_fetch[origin] = time.monotonic()
                if r.status_code in (401, 403):
                    rp.disallow_all = True
                elif r.status_code >= 400:
                    rp.allow_all = True
                else:
                    rp.parse(r.text.splitlines())
                    self.delays[origin] = robots_crawl_delay(r.text, self.cfg.user_agent)
            except Exception:  # noqa: BLE001 — unreachable robots.txt: behave as if it allows nothing yet
                rp = None
            self.robots[origin] = rp
        return self.robots[origin]

    def _delay(self, origin: str) -> float:
        return max(self.cfg.delay_s, self.delays.get(origin) or 0.0)

    def _wait(self, origin: str) -> None:
        last = self.last_fetch.get(origin)
        if last is not None:
            pause = self._delay(origin) - (time.monotonic() - last)
            if pause > 0:
                time.sleep(pause)

    def _allowed_site(self, url: str, seeds: list[str]) -> bool:
        if not self.cfg.same_site:
            return True
        host = urlsplit(url).netloc
        return any(urlsplit(s).netloc == host for s in seeds)

    def run(self, seeds: list[str], progress: bool = True) -> CrawlReport:
        warcio = optional_import("warcio.warcwriter", "sources", "Crawling (WARC output)")
        from warcio.statusandheaders import StatusAndHeaders

        t0 = time.perf_counter()
        rep = CrawlReport()
        seeds = [normalize_url(s) for s in seeds]
        for s in seeds:
            self.frontier.add(s, 0)
        self.frontier.db.commit()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S%f")
        warc_path = self.out / f"crawl-{stamp}.warc.gz"
        fetched_before = self.frontier.count("done")
        from rich.progress import Progress

        with open(warc_path, "wb") as fh, Progress(disable=not progress, transient=True) as bar:
            writer = warcio.WARCWriter(fh, gzip=True)
            task = bar.add_task("crawling", total=self.cfg.max_pages)
            while fetched_before + rep.fetched < self.cfg.max_pages:
                nxt = self.frontier.next()
                if nxt is None:
                    break
                url, depth = nxt
                if not self._allowed_site(url, seeds):
                    rep.off_site += 1
                    self.frontier.mark(url, "off_site")
                    continue
                rp = self._robots(url)
                if rp is None or not rp.can_fetch(self.cfg.user_agent, url):
                    rep.robots_blocked += 1
                    self.frontier.mark(url, "robots")
                    continue
                origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
                self._wait(origin)
                try:
                    r = self.client.get(url)
                except Exception as e:  # noqa: BLE001 — network errors are recorded per URL
                    self.last_fetch[origin] = time.monotonic()
                    rep.errors += 1
                    self.frontier.mark(url, "error")
                    self.log(f"{url}: {type(e).__name__}: {e}")
                    continue
                self.last_fetch[origin] = time.monotonic()
                body = r.content
                digest = hashlib.sha1(body).hexdigest()
                first = self.frontier.seen_content(digest, url)
                if first is not None:
                    rep.duplicates += 1
                    self.frontier.mark(url, "duplicate", digest)
                    continue
                headers = StatusAndHeaders(f"{r.status_code} {r.reason_phrase}",
                                           [(k, v) for k, v in r.headers.items()
                                            if k.lower() not in ("content-encoding", "transfer-encoding")],
                                           protocol="HTTP/1.1")
                rec = writer.create_warc_record(str(r.url), "response", payload=io.BytesIO(body),
                                                http_headers=headers)
                writer.write_record(rec)
                fh.flush()
                self.frontier.mark(url, "done" if r.status_code < 400 else "error", digest)
                rep.fetched += 1
                bar.advance(task)
                ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
                if depth < self.cfg.max_depth and ctype in HTML_TYPES and r.status_code < 400:
                    for link in _links(str(r.url), body):
                        rep.queued += self.frontier.add(link, depth + 1)
                    self.frontier.db.commit()
        if rep.fetched == 0:
            warc_path.unlink(missing_ok=True)
        rep.warc = sorted(str(p) for p in self.out.glob("crawl-*.warc.gz"))
        rep.seconds = round(time.perf_counter() - t0, 2)
        return rep
