"""`data:` — readers, normalisers, filters, dedup, splits and output of the cleaning pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class NormalizeConfig(Section):
    nfkc: bool = Field(True, description="Unicode NFKC where safe (full-width ASCII → half-width)")
    fix_mojibake: bool = Field(True, description="repair mojibake with ftfy")
    strip_control: bool = Field(True, description="remove control characters and ANSI escape codes")
    collapse_whitespace: bool = Field(True, description="collapse runs of spaces; at most one blank line")
    traditional_to_simplified: bool = Field(False, description="convert traditional Chinese to simplified (OpenCC t2s)")


class FilterConfig(Section):
    min_chars: int = Field(20, ge=0, description="drop records shorter than this many characters")
    max_chars: int = Field(200_000, ge=1, description="drop records longer than this many characters")
    max_garbled_ratio: float = Field(0.05, ge=0, le=1, description="max share of replacement/garbled characters")
    max_symbol_ratio: float = Field(0.3, ge=0, le=1, description="max share of symbol characters")
    max_digit_ratio: float = Field(0.4, ge=0, le=1, description="max share of digits")
    max_dup_line_ratio: float = Field(0.3, ge=0, le=1, description="max share of repeated lines (Gopher)")
    max_dup_ngram_ratio: float = Field(0.25, ge=0, le=1,
                                       description="max share of characters in repeated n-grams (Gopher)")
    min_zh_ratio: float = Field(0.0, ge=0, le=1,
                                description="min share of Chinese characters for records identified as Chinese")
    languages: list[str] = Field(default_factory=lambda: ["zh", "en"],
                                 description="languages to keep (ISO 639 codes from fastText language id); empty keeps all")
    ads: bool = Field(True, description="drop advertising / boilerplate records")
    html_remnants: bool = Field(True, description="drop records that still contain HTML or script")
    max_markup_ratio: float = Field(0.05, ge=0, le=1, description="html_remnants: max share of the prose's "
                                    "characters in tags and entities (code blocks and `inline code` not counted)")


class DedupConfig(Section):
    exact: bool = Field(True, description="drop exact duplicates (hash of normalised text)")
    near: bool = Field(True, description="drop near duplicates with MinHash-LSH")
    threshold: float = Field(0.45, gt=0, lt=1, description="estimated Jaccard similarity of the shingle sets at or "
                             "above which two records are duplicates (0.45: ≥0.95 recall at 5% character edits "
                             "and ≥0.9 at 10% on 1,000-character zh/en text, precision 1.0; BENCHMARKS.md)")
    num_perm: int = Field(128, ge=16, description="MinHash permutations")
    shingle: int = Field(2, ge=1, description="characters per shingle for Chinese text")
    shingle_other: int = Field(4, ge=1, description="characters per shingle for other text (lowercased)")
    store: Literal["memory", "disk"] = Field(
        "memory", description="where hashes and LSH buckets live: memory (fast), or SQLite on disk for corpora "
        "whose index does not fit in RAM")


class SplitConfig(Section):
    val_ratio: float = Field(0.05, ge=0, lt=1, description="share of records for validation (by hash of id)")
    test_ratio: float = Field(0.0, ge=0, lt=1, description="share of records for test (by hash of id)")


class CrawlConfig(Section):
    seeds: list[str] = Field(default_factory=list, description="start URLs (`zaomo data crawl URL…` adds more)")
    output: str = Field("data/raw/crawl", description="where WARC files and the frontier go (inside data.inputs "
                        "by default, so `zaomo data run` reads the crawl)")
    max_depth: int = Field(2, ge=0, description="links followed from a seed (0 = the seeds only)")
    max_pages: int = Field(1000, ge=1, description="pages fetched in all, across resumed runs")
    same_site: bool = Field(True, description="follow links only to the seeds' hosts")
    delay_s: float = Field(1.0, ge=0, description="least seconds between requests to one host (robots.txt "
                           "Crawl-delay wins when longer)")
    timeout_s: float = Field(20.0, gt=0, description="per-request timeout")
    user_agent: str = Field("zaomo-crawler/0.1 (+https://github.com/zaomo)", description="User-Agent sent and "
                            "matched against robots.txt")


class DataConfig(Section):
    inputs: list[str] = Field(default_factory=lambda: ["data/raw"],
                              description="files or folders to read (txt md html json jsonl csv parquet arrow docx "
                              "xlsx pptx pdf warc wet, MediaWiki .xml/.xml.bz2 dumps, `save_to_disk` folders), or "
                              "`hf:<dataset id or local path>[:<config>][@<split>]` (Hugging Face `datasets`)")
    text_split: Literal["auto", "file", "paragraphs", "lines", "separator"] = Field(
        "auto", description="how a plain-text file becomes records: auto (at separator lines such as `%`, `---`, "
        "`***` when the file has two or more, else the whole file), file, paragraphs (blank lines), lines, "
        "separator (`text_separator`)")
    text_separator: str | None = Field(None, description="regular expression matching a whole separator line "
                                       "(multiline), for text_split auto/separator; null = the built-in set")
    split_long: bool = Field(True, description="split documents longer than filters.max_chars at paragraph, then "
                             "sentence boundaries into parts (each keeps its source and position) instead of "
                             "quarantining them")
    fields: dict[str, str] = Field(default_factory=dict, description="structured inputs (JSON, CSV, Parquet, "
                                   "datasets): zaomo field → source column, e.g. {text: body} or "
                                   "{messages: conversation, id: uid}")
    output_dir: str = Field("data/clean", description="where clean splits, report and quarantine go")
    kind: Literal["pretrain", "sft"] = Field("pretrain", description="what the records are")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    pii: Literal["mask", "drop", "keep"] = Field("mask", description="what to do with PII found in records")
    sensitive: bool = Field(True, description="apply the safety word list (actions per category)")
    decontaminate: bool = Field(True, description="remove training records overlapping the workspace's eval sets")
    workers: int | None = Field(None, ge=1, description="processes cleaning shards in parallel; null = all cores")
    shard_mb: int = Field(32, ge=0, description="input MB per shard (consecutive files, and a JSONL file larger than "
                          "this split into byte ranges at line boundaries; 0 = one file per shard); finished shards "
                          "are reused when an interrupted run is started again")
    engine: Literal["local", "ray"] = Field(
        "local", description="who runs the per-shard cleaning: local processes, or Ray Data (zaomo[scale])")
    ray_address: str | None = Field(None, description="Ray cluster address (ray://host:10001); null = local Ray")
    export: list[Literal["parquet", "jsonl.zst"]] = Field(
        default_factory=list, description="extra copies of the splits: Parquet and/or zstd JSONL, sharded")
    export_records: int = Field(100_000, ge=1, description="records per exported shard file")
    crawl: CrawlConfig = Field(default_factory=CrawlConfig)
