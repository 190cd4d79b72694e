"""One exception tree for the training steps; every `main()` maps it to one stderr line and exit 2."""
from __future__ import annotations


class TrainingError(ValueError):
    """Bad input to a training step: the message names the field and the fix."""

    exit_code = 2


class ParamsError(TrainingError):
    """A params.yaml key is missing, unknown or of the wrong type."""


class BaseModelSourceError(TrainingError):
    """The configured base model cannot be used as given (floating revision, missing path, ...)."""


class TokenizerError(TrainingError):
    """The tokenizer cannot express the task (a label is not exactly one token)."""
