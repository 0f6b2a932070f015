"""Hugging Face datasets as inputs: a `save_to_disk` folder (Dataset or DatasetDict, every split), a bare
`.arrow` file, or `hf:<hub id or local path>[:<config>][@<split>]` loaded by `datasets` in streaming mode (a
hub dataset needs internet; a local folder of Parquet/JSON/CSV files works offline). Rows become records
through the same mapping as JSON lines (`data.fields` renames columns)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..utils.env import optional_import
from .readers import Document, ReadProblem, record_doc


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists())


def _rows(rows: Iterable[dict], source: str, fields: tuple, pos_key: str = "row", **meta
          ) -> Iterator[Document | ReadProblem]:
    for i, row in enumerate(rows, 1):
        doc = record_doc(row, source, {pos_key: i, **meta}, i, fields)
        if isinstance(doc, Document) and "id" not in row and not any(k == "id" for k, _ in fields):
            doc.id = f"{source}#{meta['split']}/{i}" if meta.get("split") else f"{source}#{i}"
        yield doc


def read_saved_dataset(path: Path, source: str, fields: tuple = ()) -> Iterator[Document | ReadProblem]:
    datasets = optional_import("datasets", "sources", "Reading a Hugging Face save_to_disk folder")
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets raises several types for a damaged folder
        yield ReadProblem(source, None, f"not a readable save_to_disk folder ({e})")
        return
    splits = ds.items() if isinstance(ds, datasets.DatasetDict) else [(None, ds)]
    for split, d in splits:
        yield from _rows(d, source, fields, format="datasets", **({"split": split} if split else {}))


def read_arrow_file(path: Path, source: str, fields: tuple = ()) -> Iterator[Document | ReadProblem]:
    """An Arrow IPC file as `datasets` writes it (stream format) or as pyarrow's file format."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as src:
            try:
                reader = pa.ipc.open_stream(src)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(src)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)] \
                if hasattr(reader, "num_record_batches") else list(reader)
    except (pa.ArrowInvalid, OSError) as e:
        yield ReadProblem(source, None, f"not a readable Arrow file ({e})")
        return
    yield from _rows((row for b in batches for row in b.to_pylist()), source, fields, format="arrow")


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """'<id>[:<config>][@<split>]' → (id, config, split); the split defaults to train."""
    spec, _, split = spec.partition("@")
    if ":" in spec and not Path(spec).exists():
        name, _, config = spec.rpartition(":")
        return name, config or None, split or "train"
    return spec, None, split or "train"


def read_hub(spec: str, fields: tuple = ()) -> Iterator[Document | ReadProblem]:
    datasets = optional_import("datasets", "sources", "Reading a Hugging Face dataset")
    name, config, split = parse_spec(spec)
    source = f"hf:{spec}"
    try:
        ds = datasets.load_dataset(name, config, split=split, streaming=True)
        rows = iter(ds)
        first = next(rows, None)
    except Exception as e:  # offline, unknown id, bad config: say which and keep going with other inputs
        yield ReadProblem(source, None, f"could not load dataset {name!r} (config {config!r}, split {split!r}): "
                          f"{type(e).__name__}: {e}")
        return
    if first is None:
        return

    def chained() -> Iterator[dict]:
        yield first
        yield from rows

    yield from _rows(chained(), source, fields, format="datasets", dataset=name, split=split)
