"""Find the prompt template an entry pins, and fill it with the request's variables.

An entry records `prompt_ref` (name@version) and `prompt_sha256`; the gateway serves a
template only when a file in the prompts directory matches the name, the version AND the
digest, so an edited template file can never change what a registered version says.
Rendering goes through `registry.prompts.render`, the function training and evals use.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping

from llmreg.registry.errors import BadInput
from llmreg.registry.generation import load_tools
from llmreg.registry.prompts import PromptError, PromptTemplate, load_prompt
from llmreg.serving.api_errors import ApiError, bad_request, server_error

VARIABLE_VALUE_TYPES = (str, int, float, bool)


class PromptLibrary:
    """Templates under one directory, indexed by (name, version); rescanned on a miss."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str], list[tuple[Path, PromptTemplate]]] = {}
        self._resolved: dict[tuple[str, str | None], PromptTemplate] = {}
        self._scanned = False

    def _scan(self) -> None:
        index: dict[tuple[str, str], list[tuple[Path, PromptTemplate]]] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.rglob("*")):
                if path.suffix not in (".yaml", ".yml") or not path.is_file():
                    continue
                try:
                    template = load_prompt(path)
                except PromptError:
                    continue  # not a prompt file (or a broken one): it can match nothing
                index.setdefault((template.name, template.version), []).append((path, template))
        self._index = index
        self._scanned = True

    def get(self, ref: str, sha256: str | None) -> PromptTemplate:
        """The template `ref` whose content hashes to `sha256` (any match when sha256 is None)."""
        key = (ref, sha256)
        found = self._resolved.get(key)
        if found is not None:
            return found
        name, _, version = ref.partition("@")
        with self._lock:
            for attempt in range(2):
                if attempt or not self._scanned:
                    self._scan()
                candidates = self._index.get((name, version), [])
                for path, template in candidates:
                    if sha256 is None or template.sha256 == sha256:
                        self._resolved[key] = template
                        return template
                if candidates and attempt:
                    seen = ", ".join(f"{path} has {template.sha256[:12]}" for path, template in candidates)
                    raise server_error(
                        f"prompt {ref}: no template in {self.directory} matches the registered prompt_sha256 "
                        f"{sha256[:12]}... ({seen}); restore the registered text or register a new version",
                        code="prompt_mismatch")
        raise server_error(f"prompt {ref}: no template file with name {name!r} and version {version!r} in "
                           f"{self.directory}; add it (or start the gateway with the right prompts directory)",
                           code="prompt_not_found")


def check_variables(value: Any) -> dict[str, str]:
    """The `llmreg.variables` extension: a flat mapping of names to scalar values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad_request("'llmreg.variables' must be an object of name -> string", param="llmreg.variables")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise bad_request(f"'llmreg.variables': {key!r} is not a valid variable name (letters, digits, '_')",
                              param="llmreg.variables")
        if not isinstance(item, VARIABLE_VALUE_TYPES):
            raise bad_request(f"'llmreg.variables.{key}' must be a string or number, got {type(item).__name__}",
                              param=f"llmreg.variables.{key}")
        out[key] = str(item)
    return out


def render_template(template: PromptTemplate, variables: Mapping[str, str]) -> str:
    """Fill the template; a variable the template needs and the request lacks is a 400."""
    needed = dict.fromkeys(field.split(".")[0].split("[")[0] for field in template.variables)
    missing = [name for name in needed if name not in variables]
    if missing:
        raise ApiError(400, f"prompt {template.ref} needs variable {missing[0]!r}; pass it in "
                            f"\"llmreg\": {{\"variables\": {{\"{missing[0]}\": ...}}}}"
                            + (" (the last user message fills 'text')" if missing[0] == "text" else ""),
                       param=f"llmreg.variables.{missing[0]}", code="missing_prompt_variable")
    try:
        return template.render(**variables)
    except (PromptError, ValueError, IndexError, AttributeError) as exc:
        raise server_error(f"prompt {template.ref}: cannot render: {exc}", code="prompt_render") from None


class ToolLibrary:
    """Tool schemas by `tools_ref` (NAME@VERSION) from one directory, loaded once per ref.

    The entry does not pin a digest of its tool file (only the ref), so the file is read
    once per gateway process and kept: an edit takes effect at the next start, never mid-run.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._loaded: dict[str, tuple[Mapping[str, Any], ...]] = {}
        self._lock = threading.Lock()

    def get(self, ref: str) -> tuple[Mapping[str, Any], ...]:
        found = self._loaded.get(ref)
        if found is not None:
            return found
        with self._lock:
            try:
                tools = load_tools(ref, self.directory)
            except BadInput as exc:  # the gateway's setup, not the caller's request
                raise server_error(str(exc), code="tools_not_found") from None
            self._loaded[ref] = tools
            return tools
