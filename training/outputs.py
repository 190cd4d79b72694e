"""Writers for step outputs: byte-deterministic Parquet and JSON, and all-or-nothing replacement.

Every writer builds the output next to its destination and renames it into place, so a
failed step never leaves a half-written file or model directory for DVC to cache.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write `df` so that equal frames give identical file bytes.

    Parquet bytes depend on the writer's options and on the schema metadata; both are fixed
    here (no index, one row group, fixed compression, explicit string columns), and the
    library version is the only other input.
    """
    path = Path(path)
    table = pa.Table.from_pandas(df, preserve_index=False)
    # The pandas metadata blob records pandas' version and dtype spellings; drop it so the
    # bytes do not change with a pandas upgrade. Column types live in the Arrow schema.
    table = table.replace_schema_metadata(None)
    with _atomic_file(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            compression_level=3,
            row_group_size=max(len(df), 1),
            use_dictionary=True,
            write_statistics=True,
            store_schema=True,
        )
    return path


def read_parquet(path: str | Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def write_json(data: Any, path: str | Path) -> Path:
    path = Path(path)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    with _atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_text(text: str, path: str | Path) -> Path:
    path = Path(path)
    with _atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


@contextmanager
def _atomic_file(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def replaced_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory that replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield staging
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(staging, path)
            shutil.rmtree(old)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
