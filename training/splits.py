"""Split the raw corpus into stratified train and eval Parquet files.

    python -m training.splits [--params params.yaml] [--raw PATH] [--train PATH] [--eval PATH]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from training.corpus import split_corpus
from training.errors import TrainingError
from training.outputs import read_parquet, write_parquet
from training.params import DEFAULT_PARAMS_PATH, DataParams, load_params


def write_splits(raw_path: str | Path, train_path: str | Path, eval_path: str | Path,
                 eval_fraction: float, seed: int) -> tuple[int, int]:
    """Read the raw corpus, split it, write both halves; returns (train rows, eval rows)."""
    if not Path(raw_path).exists():
        raise TrainingError(f"split: raw corpus {raw_path} does not exist; run `python -m training.corpus` first")
    train_df, eval_df = split_corpus(read_parquet(raw_path), eval_fraction, seed)
    write_parquet(train_df, train_path)
    write_parquet(eval_df, eval_path)
    return len(train_df), len(eval_df)


@dataclass(frozen=True)
class SplitsResult:
    train_path: Path
    eval_path: Path
    train_rows: int
    eval_rows: int


def splits_step(data: DataParams, root: Path = Path(".")) -> SplitsResult:
    """Split data.raw_path under `root` into data.train_path and data.eval_path."""
    root = Path(root)
    train, evals = root / data.train_path, root / data.eval_path
    n_train, n_eval = write_splits(root / data.raw_path, train, evals, data.eval_fraction, data.seed)
    return SplitsResult(train, evals, n_train, n_eval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Split the corpus into stratified train/eval Parquet files.")
    parser.add_argument("--params", default=DEFAULT_PARAMS_PATH)
    args = parser.parse_args(argv)
    try:
        result = splits_step(load_params(args.params).data)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {result.train_rows} train and {result.eval_rows} eval tickets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
