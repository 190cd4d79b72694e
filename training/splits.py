"""Split the raw corpus into stratified train and eval Parquet files.

    python -m training.splits [--params params.yaml] [--raw PATH] [--train PATH] [--eval PATH]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.corpus import split_corpus
from training.errors import TrainingError
from training.outputs import read_parquet, write_parquet
from training.params import DEFAULT_PARAMS_PATH, load_data_params


def write_splits(raw_path: str | Path, train_path: str | Path, eval_path: str | Path,
                 eval_fraction: float, seed: int) -> tuple[int, int]:
    """Read the raw corpus, split it, write both halves; returns (train rows, eval rows)."""
    if not Path(raw_path).exists():
        raise TrainingError(f"split: raw corpus {raw_path} does not exist; run `python -m training.corpus` first")
    train_df, eval_df = split_corpus(read_parquet(raw_path), eval_fraction, seed)
    write_parquet(train_df, train_path)
    write_parquet(eval_df, eval_path)
    return len(train_df), len(eval_df)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Split the corpus into stratified train/eval Parquet files.")
    parser.add_argument("--params", default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--raw", help="input corpus (default: data.raw_path)")
    parser.add_argument("--train", help="train output (default: data.train_path)")
    parser.add_argument("--eval", help="eval output (default: data.eval_path)")
    args = parser.parse_args(argv)
    try:
        p = load_data_params(args.params)
        n_train, n_eval = write_splits(args.raw or p.raw_path, args.train or p.train_path,
                                       args.eval or p.eval_path, p.eval_fraction, p.seed)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {n_train} train and {n_eval} eval tickets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
