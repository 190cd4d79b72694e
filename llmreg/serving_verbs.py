"""Verbs for serving: filled in by the work that owns them."""
from __future__ import annotations


def add_verbs(sub, verb) -> None:
    """Add this module's verbs to the `llmreg` parser (`verb(sub, name, func, summary, example)`)."""
