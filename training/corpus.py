"""A deterministic synthetic support-ticket corpus: the demo data the whole chain trains on.

Each ticket is lowercase words separated by single spaces, 8-20 words, built from a
label's own phrases plus shared openers, fillers and closers. Three regions phrase things
a little differently. Ambiguity is deliberate: labels share words (charge, order, account),
some tickets mention another queue in passing, a few carry a typo, and a small share are
labelled the way a second annotator would have labelled them, so a good model scores
high but not 100%, and not equally well in every region.

Only `random.Random.random()` is used: Python guarantees that stream for a given seed
across versions, unlike `choice`/`shuffle`, so the corpus is the same on every machine.

    python -m training.corpus [--params params.yaml] [--out data/raw/tickets.parquet]
"""
from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd

from training.errors import TrainingError
from training.outputs import write_parquet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from training.params import DataParams

LABELS: tuple[str, ...] = ("billing", "technical", "account", "shipping", "refund")
SEGMENTS: tuple[str, ...] = ("eu", "us", "apac")
COLUMNS: tuple[str, ...] = ("ticket_id", "text", "label", "segment")
MIN_WORDS, MAX_WORDS = 8, 20

_SEGMENT_WEIGHTS = {"us": 0.40, "eu": 0.35, "apac": 0.25}

# The core phrases that carry each label. Several deliberately share words across labels.
_CORE: dict[str, tuple[str, ...]] = {
    "billing": (
        "i was charged twice for my subscription",
        "my invoice shows the wrong amount",
        "there is an unexpected charge on my card",
        "why did my monthly bill go up",
        "the payment failed but i was still billed",
        "i need a copy of my invoice for last month",
        "please update the billing details on file",
        "i see a duplicate charge from last week",
        "the tax on my invoice looks wrong",
        "can you explain this fee on my statement",
        "my plan price changed without any notice",
        "my card was charged after i downgraded my plan",
    ),
    "technical": (
        "the app keeps crashing when i open it",
        "i get an error message every time i upload a file",
        "the website will not load on my phone",
        "sync stopped working after the latest update",
        "the dashboard page shows a blank screen",
        "notifications are not working on my device",
        "the export button does nothing when i click it",
        "the software freezes during startup",
        "i keep getting a server error on the order page",
        "the integration with my calendar is broken",
        "videos will not play in the browser",
        "the app is very slow since the update",
    ),
    "account": (
        "i cannot reset my password",
        "please help me change the email on my account",
        "my account was locked after too many attempts",
        "i want to delete my account and all my data",
        "how do i add another user to my profile",
        "i never received the verification code",
        "someone else may have accessed my account",
        "i need to update my username",
        "the two factor code is not arriving on my phone",
        "please merge my two accounts into one",
        "i want to change the name on my account",
        "i cannot sign in with my new email",
    ),
    "shipping": (
        "my package has not arrived yet",
        "the tracking number does not work",
        "my order is stuck in transit",
        "the courier left my package at the wrong address",
        "can i change the delivery address for my order",
        "when will my order be shipped",
        "the delivery is a week late",
        "the box arrived damaged and open",
        "i only received part of my order",
        "shipping to my zip code seems delayed",
        "the package says delivered but it is not here",
        "can you send my order with express shipping",
    ),
    "refund": (
        "i would like a refund for my order",
        "i returned the item but have not got my money back",
        "please cancel my order and refund me",
        "the refund has not appeared on my card",
        "how long does a refund usually take",
        "i was promised a refund last week",
        "i want my money back for the broken item",
        "can i return this for a full refund",
        "my refund request was rejected",
        "the product was not as described and i want a refund",
        "i cancelled within the trial so please refund the charge",
        "i was charged for an order i cancelled and want it back",
    ),
}

# Passing mentions of another queue: they name a label word without being about it.
_MENTIONS: dict[str, tuple[str, ...]] = {
    "billing": ("my billing info is correct", "the invoice itself is fine"),
    "technical": ("the app works fine otherwise", "no error messages at all"),
    "account": ("i am logged into my account", "my account looks normal"),
    "shipping": ("the delivery was on time", "shipping was fast as usual"),
    "refund": ("i do not want a refund", "not asking for my money back"),
}

# Labels a second annotator might pick for the same ticket.
_CONFUSABLE: dict[str, tuple[str, ...]] = {
    "billing": ("refund", "account"),
    "technical": ("account",),
    "account": ("technical", "billing"),
    "shipping": ("refund",),
    "refund": ("billing", "shipping"),
}

_FILLERS: tuple[str, ...] = (
    "this is urgent",
    "i have tried everything",
    "this happened again today",
    "since yesterday",
    "for the second time",
    "on my laptop",
    "as soon as possible",
    "it is really frustrating",
    "i already contacted you",
    "from my phone",
    "not sure what to do",
    "i have been a customer for years",
)

_OPENERS: dict[str, tuple[str, ...]] = {
    "us": ("hi", "hi there", "hey", "hello support"),
    "eu": ("hello", "good morning", "dear support", "hi team"),
    "apac": ("dear team", "hello sir", "kindly help", "hi team kindly assist"),
}
_CLOSERS: dict[str, tuple[str, ...]] = {
    "us": ("thanks", "thanks in advance", "please help asap", "appreciate it"),
    "eu": ("many thanks", "kind regards", "thank you", "cheers"),
    "apac": ("please do the needful", "thank you so much", "kindly revert", "waiting for your reply"),
}
# Regional word choices applied after the ticket is assembled.
_REGIONAL_WORDS: dict[str, dict[str, str]] = {
    "us": {},
    "eu": {"package": "parcel", "zip": "post", "tax": "vat", "phone": "mobile", "shipped": "dispatched"},
    "apac": {"package": "parcel", "zip": "pin", "tax": "gst", "phone": "mobile", "money": "amount"},
}
# Per-region rates: (passing mention of another queue, second-annotator label, typo).
_NOISE: dict[str, tuple[float, float, float]] = {
    "us": (0.12, 0.015, 0.04),
    "eu": (0.15, 0.025, 0.05),
    "apac": (0.20, 0.04, 0.08),
}

T = TypeVar("T")


class _Draw:
    """Seeded draws built only on `random()`, whose stream Python keeps stable across versions."""

    def __init__(self, seed: int):
        self._rng = random.Random(seed)

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def index(self, n: int) -> int:
        return min(int(self._rng.random() * n), n - 1)

    def pick(self, items: Sequence[T]) -> T:
        return items[self.index(len(items))]

    def weighted(self, weights: dict[str, float]) -> str:
        x = self._rng.random() * sum(weights.values())
        for key, weight in weights.items():
            x -= weight
            if x < 0:
                return key
        return key

    def permutation(self, n: int) -> list[int]:
        order = list(range(n))
        for i in range(n - 1, 0, -1):  # Fisher-Yates on our own index draws
            j = self.index(i + 1)
            order[i], order[j] = order[j], order[i]
        return order


def _typo(word: str, draw: _Draw) -> str:
    cut = 1 + draw.index(len(word) - 2)  # never the first or last letter
    return word[:cut] + word[cut + 1:]


def _ticket_words(label: str, segment: str, draw: _Draw) -> list[str]:
    mention_rate, _, typo_rate = _NOISE[segment]
    parts: list[str] = []
    if draw.chance(0.6):
        parts.append(draw.pick(_OPENERS[segment]))
    parts.append(draw.pick(_CORE[label]))
    if draw.chance(0.3):
        parts.append(draw.pick(_CORE[label]))
    if draw.chance(mention_rate):
        other = draw.pick([x for x in LABELS if x != label])
        parts.append(draw.pick(_MENTIONS[other]))
    for _ in range(draw.index(3)):
        parts.append(draw.pick(_FILLERS))
    if draw.chance(0.5):
        parts.append(draw.pick(_CLOSERS[segment]))
    regional = _REGIONAL_WORDS[segment]
    words = [regional.get(w, w) for w in " ".join(parts).split()]
    while len(words) < MIN_WORDS:
        words.extend(draw.pick(_FILLERS).split())
    words = words[:MAX_WORDS]
    if draw.chance(typo_rate):
        long_words = [i for i, w in enumerate(words) if len(w) > 4]
        if long_words:
            i = draw.pick(long_words)
            words[i] = _typo(words[i], draw)
    return words


def build_corpus(n: int = 4000, seed: int = 42) -> pd.DataFrame:
    """`n` tickets with columns ticket_id, text, label, segment; the same (n, seed) gives the same frame."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise TrainingError(f"corpus: n must be a positive integer, got {n!r}")
    draw = _Draw(seed)
    rows = []
    for i in range(n):
        segment = draw.weighted(_SEGMENT_WEIGHTS)
        label = draw.pick(LABELS)
        words = _ticket_words(label, segment, draw)
        if draw.chance(_NOISE[segment][1]):
            label = draw.pick(_CONFUSABLE[label])
        rows.append((f"tkt-{i:06d}", " ".join(words), label, segment))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def split_corpus(df: pd.DataFrame, eval_fraction: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified by label: each label contributes round(count * eval_fraction) rows to eval.

    Both halves keep the corpus' row order, so the split is a pure function of (df, fraction, seed).
    """
    if not 0.0 < eval_fraction < 1.0:
        raise TrainingError(f"split: eval_fraction must be between 0 and 1 (exclusive), got {eval_fraction}")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise TrainingError(f"split: corpus is missing column(s) {missing}; rebuild it with `python -m training.corpus`")
    draw = _Draw(seed)
    eval_positions: set[int] = set()
    labels = df["label"].tolist()
    for label in sorted(set(labels)):
        positions = [i for i, x in enumerate(labels) if x == label]
        take = round(len(positions) * eval_fraction)
        order = draw.permutation(len(positions))
        eval_positions.update(positions[k] for k in order[:take])
    is_eval = [i in eval_positions for i in range(len(df))]
    mask = pd.Series(is_eval, index=df.index)
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


@dataclass(frozen=True)
class CorpusResult:
    path: Path
    rows: int


def corpus_step(data: DataParams, root: Path = Path(".")) -> CorpusResult:
    """Write the corpus to data.raw_path under `root` (pure Python: no kernels to pin)."""
    df = build_corpus(data.n_tickets, data.seed)
    return CorpusResult(write_parquet(df, Path(root) / data.raw_path), len(df))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the synthetic support-ticket corpus (Parquet).")
    parser.add_argument("--params", default="params.yaml", help="params.yaml to read the `data` section from")
    args = parser.parse_args(argv)
    from training.params import load_params

    try:
        result = corpus_step(load_params(args.params).data)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {result.rows} tickets to {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
