"""The one document loader: every YAML/JSON file the project takes as input goes through it.

UTF-8 only, a size cap, duplicate keys refused (YAML and JSON alike), timestamps kept as
the text the user wrote, and every failure one `BadInput` line naming the file and the fix.
Configuration documents validate the loaded data with pydantic models (`config_models.py`;
gates.yaml and roles.yaml in `policy_documents.py`, loaded only on the paths that write or
verify them); entries, which resolve reads back, with `fields.py`.
"""
from __future__ import annotations

import os

from .errors import BadInput

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

MAX_DOCUMENT_BYTES = 2_000_000

_LOADER: Any = None


def _yaml_loader() -> Any:
    """SafeLoader (C if available) that keeps timestamps as written and refuses duplicate keys."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class EntryLoader(base):  # type: ignore[misc, valid-type]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: set[Any] = set()
                for key_node, value_node in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=deep)
                    if value_node.tag == "tag:yaml.org,2002:int" and len(str(value_node.value)) > 19:
                        self._bounded_int(value_node, f"line {value_node.start_mark.line + 1}: {key}")
                    try:
                        duplicate = key in seen
                    except TypeError:
                        continue  # unhashable: SafeConstructor reports it with its line
                    if duplicate:
                        exc = BadInput(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice; keep one", field=str(key))
                        raise exc
                    seen.add(key)
                return super().construct_mapping(node, deep=deep)

            @staticmethod
            def _bounded_int(node: Any, where: str) -> None:
                from .fields import MAX_INT_DIGITS, int_from_text

                text = str(node.value)
                digits = text.lstrip("+-").replace("_", "")
                # bounded before int() runs; YAML's own constructor reads what fits ("0_" is octal 0)
                if digits.isdigit() and len(digits) > MAX_INT_DIGITS:
                    int_from_text(text, where)

            def construct_yaml_int(self, node: Any) -> Any:
                self._bounded_int(node, f"line {node.start_mark.line + 1}")
                return super().construct_yaml_int(node)

        EntryLoader.add_constructor("tag:yaml.org,2002:int", EntryLoader.construct_yaml_int)
        # "run: 2026-06-10" stays the string the user wrote (no date object to convert back).
        EntryLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
        _LOADER = EntryLoader
    return _LOADER


def load_document(text: str, *, source: str = "<input>", json_only: bool = False) -> Any:
    """YAML (or JSON) text -> Python data; malformed input is one BadInput line with the line number."""
    if json_only:
        import json
        import re

        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, value in pairs:
                if key in out:
                    raise BadInput(f"{source}: key {key!r} appears twice; keep one", field=key)
                out[key] = value
            return out

        from .fields import MAX_DEPTH, int_from_text

        def bounded_int(literal: str) -> int:
            if len(literal) <= 19:
                return int(literal)
            at = max(text.find(literal), 0)  # only on the way to an error: name the line and the key
            key = re.search(r'"((?:[^"\\]|\\.){1,200})"\s*:\s*$', text[max(0, at - 300):at])
            where = f"{source}: line {text.count(chr(10), 0, at) + 1}" + (f": {key.group(1)}" if key else "")
            return int_from_text(literal, where)

        try:
            return json.loads(text, object_pairs_hook=no_duplicates, parse_int=bounded_int)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{source}: line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg}); fix the syntax there", field="json") from None
        except RecursionError:
            raise BadInput(f"{source}: nested too deep to parse; registry documents are limited to {MAX_DEPTH} "
                           "levels of lists and mappings, flatten it", field="json") from None
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except BadInput as exc:
        raise BadInput(f"{source}: {exc}", field=exc.field) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "cannot parse").split())
        raise BadInput(f"{source}: {where}malformed YAML ({problem}); fix the syntax there", field="yaml") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{source}: malformed YAML ({' '.join(str(exc).split())}); fix the syntax", field="yaml") from None


def read_document(path: str | os.PathLike[str], what: str) -> Any:
    """Parse a .yaml/.yml/.json file (by suffix; other suffixes are read as YAML) that the
    registry takes as input (entry, roles, gates, suite, evidence, eval report).

    Every failure is one BadInput line naming the file and the fix."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"{source}: cannot read the {what} file ({exc.strerror or exc}); check the path", field="path") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise BadInput(f"{source}: larger than 2 MB; a {what} file holds references and settings, not data", field="path")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{source}: not UTF-8 text (byte {exc.start}); save the file as UTF-8", field="encoding") from None
    return load_document(text, source=source, json_only=source.lower().endswith(".json"))


