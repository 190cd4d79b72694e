"""Versioned prompt templates: a template is data with a name, a version and a content hash.

Training, evaluation and the gateway all render through `render`, so the text a model was
tuned on is byte-for-byte the text it is evaluated and served with.
"""
from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from .documents import read_document
from .errors import BadInput


class PromptError(ValueError):
    """A prompt template file or a render call is malformed."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    template: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(
            field for _, field, _, _ in string.Formatter().parse(self.template) if field
        )

    def render(self, **variables: object) -> str:
        return render(self.template, **variables)


def render(template: str, **variables: object) -> str:
    """Fill `{name}` fields; a missing variable is an error, never an empty string."""
    try:
        return template.format_map(variables)
    except KeyError as exc:
        raise PromptError(
            f"prompt variable {exc.args[0]!r} is missing: pass it when rendering"
        ) from None


def load_prompt(path: str | Path) -> PromptTemplate:
    path = Path(path)
    try:
        data = read_document(path, "prompt template")  # size cap, UTF-8, duplicate keys, one-line errors
    except BadInput as exc:
        raise PromptError(str(exc)) from None
    if not isinstance(data, dict):
        raise PromptError(f"{path}: expected a mapping with name, version and template")
    for key in ("name", "version", "template"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PromptError(f"{path}: field {key!r} must be a non-empty string")
    unknown = set(data) - {"name", "version", "template", "description"}
    if unknown:
        raise PromptError(f"{path}: unknown field(s) {sorted(unknown)}: allowed are name, version, template, description")
    return PromptTemplate(name=data["name"], version=str(data["version"]), template=data["template"])
