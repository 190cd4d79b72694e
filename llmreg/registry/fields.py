"""Field validators shared by the registry's parsers.

Every failure is one `BadInput` line that names the field and says how to fix it:
    "artifacts[0].sha256: 'abc' is not a SHA-256 digest (64 hex digits); ..."
Nested parsers re-raise a child's error under their own prefix (`under`), so a dataclass
validates itself with short field names and the caller still sees the full path.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from .errors import BadInput
from .patterns import lazy_re

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any, Literal, NoReturn, overload

ACTOR_RE = lazy_re(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")
SHA256_RE = lazy_re(r"^[0-9a-f]{64}$")
KEY_RE = lazy_re(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_CONTROL_RE = lazy_re(r"[\x00-\x1f\x7f]")

# Values that always move: never accepted as a version, revision or snapshot.
FLOATING_WORDS = frozenset(
    {"latest", "main", "master", "head", "dev", "develop", "trunk", "current", "stable", "nightly", "edge", "next"}
)

# Frozen JSON trees are bounded so a YAML alias bomb cannot exhaust memory.
MAX_DEPTH = 32
MAX_NODES = 100_000
# Integers are 64-bit signed: what JSON readers in other languages and the SQL stores hold.
# A longer number in a document is refused while parsing, before Python's int-from-text
# limit (4,300 digits) or the C encoder can fail on it.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_INT_DIGITS = 19
INT_LIMIT_TEXT = "64-bit integers (-2**63 .. 2**63-1)"

EMPTY: Mapping[str, Any] = MappingProxyType({})


def show(value: Any, limit: int = 80) -> str:
    """repr() for messages, truncated so an error stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str) -> str:
    return " ".join(text.split())


def fail(field: str, detail: str) -> NoReturn:
    """Raise BadInput "field: detail" where detail says what is wrong and how to fix it."""
    exc = BadInput(one_line(f"{field}: {detail}" if field else detail), field=field)
    exc.detail = one_line(detail)  # kept so `under` can re-prefix without parsing the message
    raise exc


class under:
    """Context manager: re-raise a nested BadInput with `prefix` prepended to its field.

    `under("artifacts[2]")` turns "sha256: ..." into "artifacts[2].sha256: ...";
    `under(source, file=True)` prefixes the whole message with the file name instead
    (nothing for the anonymous source "<input>").
    """

    __slots__ = ("prefix", "file")

    def __init__(self, prefix: str, *, file: bool = False):
        self.prefix = prefix
        self.file = file

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, BadInput):
            return False
        if self.file:
            if self.prefix in ("", "<input>") or getattr(exc, "sourced", False):
                return False
            new = BadInput(f"{self.prefix}: {exc}", field=exc.field)
            new.sourced = True
        else:
            detail = getattr(exc, "detail", None)
            if detail is None:
                return False
            field = f"{self.prefix}.{exc.field}" if exc.field and not exc.field.startswith("[") else f"{self.prefix}{exc.field or ''}"
            new = BadInput(f"{field}: {detail}", field=field)
            new.detail = detail
        raise new from None


def suggestion(name: str, known: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest known name, else the list of known names."""
    import difflib  # only on the error path

    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "known fields: " + ", ".join(known)


def check_keys(data: Mapping[str, Any], known: Iterable[str], *, where: str = "", required: Iterable[str] = ()) -> None:
    """Refuse unknown keys (suggesting the closest) and missing required ones."""
    known = tuple(known)
    prefix = f"{where}." if where else ""
    for key in data:
        if not isinstance(key, str):
            fail(f"{prefix}{key}" if where else str(key), f"field names must be strings, got {show(key)}; quote it")
        if key not in known:
            fail(f"{prefix}{key}", f"unknown field {key!r}; {suggestion(key, known)}")
    for key in required:
        if data.get(key) is None:
            fail(f"{prefix}{key}", f"missing required field {key!r}; add it")


_SPACE_RE = lazy_re(r"\s")


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", tuple: "list"}.get(
        type(value), "mapping" if isinstance(value, Mapping) else type(value).__name__
    )


def iso_text(value: Any) -> Any:
    """YAML/Python dates become ISO strings; aware datetimes are rendered in UTC with 'Z'."""
    if type(value) is str:  # the common case, on the registration path
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return value.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


if TYPE_CHECKING:  # optional=True may answer None; without it a value always comes back
    @overload
    def as_str(value: Any, field: str, *, optional: Literal[False] = ..., max_len: int = ...,
               allow_control: bool = ...) -> str: ...
    @overload
    def as_str(value: Any, field: str, *, optional: bool, max_len: int = ...,
               allow_control: bool = ...) -> str | None: ...
def as_str(value: Any, field: str, *, optional: bool = False, max_len: int = 1000, allow_control: bool = False) -> str | None:
    # The common cases first (a registration validates ~30 strings); any doubt takes the checks below.
    if value.__class__ is str and len(value) <= max_len and (allow_control or not _CONTROL_RE.search(value)) \
            and value.strip():
        return value
    if value is None and optional:
        return None
    value = iso_text(value)
    if value is None:
        if optional:
            return None
        fail(field, "missing; give a string")
    if not isinstance(value, str):
        hint = "; quote it" if isinstance(value, (bool, int, float)) else ""
        fail(field, f"expected a string, got {type_name(value)} {show(value)}{hint}")
    if not value.strip():
        fail(field, "is empty; give a non-empty string or leave the field out")
    if len(value) > max_len:
        fail(field, f"is {len(value)} characters long; the limit is {max_len}")
    if not allow_control and _CONTROL_RE.search(value):
        fail(field, f"{show(value)} contains control characters (NUL, newline, ...); remove them")
    return value


if TYPE_CHECKING:  # optional=True may answer None; without it a value always comes back
    @overload
    def as_token(value: Any, field: str, *, optional: Literal[False] = ..., max_len: int = ...) -> str: ...
    @overload
    def as_token(value: Any, field: str, *, optional: bool, max_len: int = ...) -> str | None: ...
def as_token(value: Any, field: str, *, optional: bool = False, max_len: int = 256) -> str | None:
    """A string without whitespace (ids, versions, refs)."""
    value = as_str(value, field, optional=optional, max_len=max_len)
    if value is not None and _SPACE_RE.search(value):
        fail(field, f"{show(value)} contains whitespace; remove it")
    return value


if TYPE_CHECKING:  # optional=True may answer None; without it a value always comes back
    @overload
    def as_number(value: Any, field: str, *, lo: float | None = ..., hi: float | None = ...,
                  optional: Literal[False] = ...) -> float: ...
    @overload
    def as_number(value: Any, field: str, *, lo: float | None = ..., hi: float | None = ...,
                  optional: bool) -> float | None: ...
def as_number(value: Any, field: str, *, lo: float | None = None, hi: float | None = None, optional: bool = False) -> float | None:
    if value is None:
        if optional:
            return None
        fail(field, "missing; give a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(field, f"expected a number, got {type_name(value)} {show(value)}")
    if not math.isfinite(value):
        fail(field, f"{value} is not a finite number; give a real value")
    value = float(value)
    if lo is not None and value < lo or hi is not None and value > hi:
        lo_text = "-inf" if lo is None else f"{lo:g}"
        hi_text = "inf" if hi is None else f"{hi:g}"
        fail(field, f"{value:g} is outside [{lo_text}, {hi_text}]; give a value in that range")
    return value


if TYPE_CHECKING:  # optional=True may answer None; without it a value always comes back
    @overload
    def as_int(value: Any, field: str, *, lo: int | None = ..., optional: Literal[False] = ...) -> int: ...
    @overload
    def as_int(value: Any, field: str, *, lo: int | None = ..., optional: bool) -> int | None: ...
def as_int(value: Any, field: str, *, lo: int | None = None, optional: bool = False) -> int | None:
    if value is None:
        if optional:
            return None
        fail(field, "missing; give an integer")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            fail(field, f"expected an integer, got {type_name(value)} {show(value)}")
    if not INT_MIN <= value <= INT_MAX:
        fail(field, f"{int_size(value)} is outside {INT_LIMIT_TEXT}; give a smaller number")
    if lo is not None and value < lo:
        fail(field, f"{value} is below the minimum {lo}")
    return value


def int_size(value: int) -> str:
    """'an integer of about N digits', for messages (str() of a huge int itself fails)."""
    digits = max(1, int(abs(value).bit_length() * 0.30103) + 1)
    return f"an integer of {digits} digits" if digits > 40 else str(value)


def int_from_text(text: str, where: str) -> int:
    """A document's integer literal, refused (naming `where`) past MAX_INT_DIGITS digits."""
    digits = len(text.lstrip("+-").replace("_", ""))
    if digits > MAX_INT_DIGITS:
        # `where` may carry a key the user wrote (newlines included): one line, whatever it holds
        raise BadInput(one_line(f"{where}: an integer of {digits} digits is outside {INT_LIMIT_TEXT}; "
                                "give a smaller number"), field="number")
    return int(text)


if TYPE_CHECKING:  # optional=True may answer None; without it a value always comes back
    @overload
    def as_sha256(value: Any, field: str, *, optional: Literal[False] = ...) -> str: ...
    @overload
    def as_sha256(value: Any, field: str, *, optional: bool) -> str | None: ...
def as_sha256(value: Any, field: str, *, optional: bool = False) -> str | None:
    value = as_str(value, field, optional=optional, max_len=200)
    if value is None:
        return None
    digest = value.lower()
    if not SHA256_RE.match(digest):
        fail(field, f"{show(value)} is not a SHA-256 digest (64 hex digits); compute it with `sha256sum FILE`")
    return digest


def as_mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value.__class__ is dict or value.__class__ is MappingProxyType:  # skip the ABC check
        return value
    if value is None:
        return EMPTY
    if not isinstance(value, Mapping):
        fail(field, f"expected a mapping (key: value), got {type_name(value)} {show(value)}")
    return value


def as_key(key: Any, field: str, *, pattern: re.Pattern[str] = KEY_RE) -> str:
    if not isinstance(key, str):
        fail(field, f"key {show(key)} is not a string; quote it")
    if not pattern.match(key):
        fail(f"{field}.{key}" if field else key, f"key {show(key)} must match {pattern.pattern}; rename it")
    return key


def validate_actor(name: Any, field: str = "actor") -> str:
    """Actor names: ^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$ (e.g. 'alice', 'system:slo-guard')."""
    if not isinstance(name, str) or not ACTOR_RE.match(name):
        fail(field, f"{show(name)} is not a valid actor name; use letters, digits and ._@:+- (e.g. 'alice' or 'system:slo-guard')")
    return name


def is_floating(word: str) -> bool:
    """'latest', 'main', 'HEAD', ... or anything ending '-latest' / ':latest' / '@latest' / '_latest'."""
    low = word.lower()
    return low in FLOATING_WORDS or low.endswith(("-latest", ":latest", "@latest", "_latest", "/latest"))


_SEPARATOR_RE = lazy_re(r"[/\\]")
_DRIVE_RE = lazy_re(r"^[A-Za-z]:")
_RELATIVE_NAME_RE = lazy_re(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_path_safe(value: str, field: str, *, relative_name: bool) -> str:
    """Refuse path traversal: '..' segments (also percent-encoded), NUL and control characters.

    relative_name=True (artifact names, used as store paths): also refuse absolute paths,
    backslashes and anything outside [A-Za-z0-9._-] segments.
    """
    if _CONTROL_RE.search(value):
        fail(field, f"{show(value)} contains NUL or control characters; remove them")
    decoded = value
    if "%" in value:
        from urllib.parse import unquote  # only when something is percent-encoded

        decoded = unquote(value)
        if _CONTROL_RE.search(decoded):
            fail(field, f"{show(value)} encodes NUL or control characters; remove them")
    if ".." in decoded and any(seg == ".." for seg in _SEPARATOR_RE.split(decoded)):
        fail(field, f"{show(value)} contains a '..' path segment (path traversal); give the path without '..'")
    if relative_name:
        if decoded.startswith(("/", "\\", "~")) or _DRIVE_RE.match(decoded):
            fail(field, f"{show(value)} is an absolute path; artifact names are relative paths inside the entry (e.g. 'adapter/adapter_model.safetensors')")
        if "\\" in value:
            fail(field, f"{show(value)} contains a backslash; use '/' between path segments")
        if not _RELATIVE_NAME_RE.match(value):
            fail(field, f"{show(value)} must be '/'-separated segments of letters, digits and ._- (each starting with a letter or digit)")
    return value


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_NODES


class _Unusual(Exception):
    """Raised by the fast freeze: let the checked one decide (and name the field)."""


def _freeze_fast(value: Any, budget: list[int], depth: int) -> Any:
    """freeze() for plain JSON values without building a field path per value (a
    registration freezes ~50 of them); anything else raises _Unusual."""
    budget[0] -= 1  # every value counts, leaves too, exactly as in the checked walk
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise _Unusual
    cls = value.__class__
    if cls is str or cls is bool or value is None:
        return value
    if cls is int:
        if not INT_MIN <= value <= INT_MAX:
            raise _Unusual
        return value
    if cls is float:
        if not math.isfinite(value):
            raise _Unusual
        return value
    if cls is dict or cls is MappingProxyType:
        out = {}
        for key, item in value.items():
            if key.__class__ is not str:
                raise _Unusual
            out[key] = _freeze_fast(item, budget, depth + 1)
        return MappingProxyType(out)
    if cls is list or cls is tuple:
        return tuple([_freeze_fast(item, budget, depth + 1) for item in value])
    raise _Unusual


def freeze(value: Any, field: str, _budget: _Budget | None = None, _depth: int = 0) -> Any:
    """A read-only deep copy of a JSON-like value: dict -> MappingProxyType, list -> tuple.

    Keys must be strings; floats must be finite; dates become ISO strings.
    """
    if value is EMPTY:
        return EMPTY
    if _budget is None:
        try:
            return _freeze_fast(value, [MAX_NODES], 0)
        except _Unusual:
            pass  # dates to convert, or an error to name: the checked walk below
    budget = _budget or _Budget()
    budget.left -= 1
    if budget.left < 0:
        fail(field, f"has more than {MAX_NODES} values (a YAML alias bomb?); keep entries small")
    if _depth > MAX_DEPTH:
        fail(field, f"is nested deeper than {MAX_DEPTH} levels; flatten it")
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        fail(field, f"{int_size(value)} is outside {INT_LIMIT_TEXT}; give a smaller number")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(field, f"{value} is not a finite number; JSON has no NaN/inf, give a real value")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                fail(f"{field}.{key}", f"key {show(key)} is not a string; quote it")
            out[key] = freeze(item, f"{field}.{key}", budget, _depth + 1)
        return MappingProxyType(out)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item, f"{field}[{i}]", budget, _depth + 1) for i, item in enumerate(value))
    converted = iso_text(value)
    if converted is not value:
        return converted
    fail(field, f"{type_name(value)} {show(value)} is not a JSON value (string, number, boolean, list, mapping)")


_LEAVES = frozenset((str, int, float, bool, type(None)))


def thaw(value: Any) -> Any:
    """Plain dict/list copy of a frozen value or of JSON-shaped data (for to_dict / JSON)."""
    cls = value.__class__
    if cls in _LEAVES:  # most values; skips the ABC isinstance machinery
        return value
    if cls is MappingProxyType or cls is dict:
        return {key: thaw(item) for key, item in value.items()}
    if cls is tuple or cls is list:
        return [thaw(item) for item in value]
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


def rule_from_dict(cls: Any, data: Any, keys: Iterable[str], base: Any = None) -> Any:
    """A policy rule (a frozen dataclass with `to_dict()`) from a mapping: unknown keys are
    refused, keys left out or null keep `base`'s (or the class default's) value."""
    data = as_mapping(data, "")
    check_keys(data, keys)
    values = (base or cls()).to_dict()
    values.update({k: v for k, v in data.items() if v is not None})
    return cls(**values)
