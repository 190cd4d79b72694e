"""Dataset versioning behind one small port, with a DVC/local and a lakeFS implementation.

A *version id* names an immutable snapshot of every logical path committed together:

- DVC/local: ``md5:<32 hex>.dir``, the hash DVC 3 records for a directory holding exactly
  those files (``md5:<32 hex>`` for a single-file object read from a ``.dvc`` file or
  ``dvc.lock``). Identical content always gives the identical id.
- lakeFS: the full lakeFS commit id. Two commits of identical content get different ids.

Branch names, tags and other floating references are never accepted where a version id is
expected: ``resolve_tag`` turns a tag into an id once, and the id is what gets recorded.

Write flow (one session per training run)::

    dv = make_data_versioning(params)
    dv.begin(run_id)                      # lakeFS: branch run-<run_id>; DVC: a local session
    dv.put("build/corpus", "corpus")      # a file or a directory, under a logical path
    version = dv.commit("corpus for run 42", {"run_id": "42"})
    dv.tag(version, "support-bot-1.4.0")  # per registered release; tags never move
    dv.get(version, "corpus/train.jsonl", "/tmp/train.jsonl")

``put`` replaces everything previously under that logical path in the session, so a
re-put directory never keeps files that vanished locally.

Selection (``make_data_versioning``): lakeFS when any ``LAKEFS_*`` setting below is present,
else DVC/local. lakeFS then needs all four of ``LAKEFS_HOST`` (e.g. ``http://lakefs:8000``;
``/api/v1`` is appended when missing), ``LAKEFS_ACCESS_KEY_ID``, ``LAKEFS_SECRET_ACCESS_KEY``
and ``LAKEFS_REPOSITORY``; ``LAKEFS_STORAGE_NAMESPACE`` is optional and, when set, lets the
repository be created if it does not exist yet.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

from training.errors import TrainingError

LAKEFS_REQUIRED_ENV = ("LAKEFS_HOST", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY", "LAKEFS_REPOSITORY")
LAKEFS_OPTIONAL_ENV = ("LAKEFS_STORAGE_NAMESPACE",)

# lakeFS branch ids must match ^\w[-\w]*$, so a run id carries no dots.
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
# Names DVC's default ignore rules skip inside a tracked directory (dvc/ignore.py):
# ".git" as file or directory, ".hg/" and ".dvc/" as directories.
_SKIP_ANY = {".git"}
_SKIP_DIRS = {".hg", ".dvc"}


class DataVersioningError(TrainingError):
    """Bad input or state for dataset versioning; the message names the field and the fix."""


class ConfigError(DataVersioningError):
    """A setting (params.yaml key or environment variable) is missing or wrong."""


class NoSessionError(DataVersioningError):
    """A write or session read was attempted before ``begin(run_id)``."""


class NothingToCommitError(DataVersioningError):
    """``commit`` was called with nothing put since the last commit."""


class UnknownVersionError(DataVersioningError):
    """The version id does not exist, or is a floating reference rather than an immutable id."""


class UnknownTagError(DataVersioningError):
    """No tag of that name exists."""


class TagConflictError(DataVersioningError):
    """The tag already points at another version; tags never move."""


class PathNotInVersionError(DataVersioningError):
    """The logical path holds nothing in that version."""


class DataVersioning(ABC):
    """Port for dataset versioning; see the module docstring for the id rules."""

    backend: ClassVar[str]

    @property
    @abstractmethod
    def session(self) -> str | None:
        """Name of the open session (the lakeFS branch), or None before ``begin``."""

    @abstractmethod
    def begin(self, run_id: str, base: str | None = None) -> str:
        """Open (or resume) the write session for ``run_id`` and return its name.

        A new session starts from version ``base`` when given, else from the backend's
        starting point (lakeFS: the repository's default branch; DVC: empty). Resuming an
        existing session ignores ``base``.
        """

    @abstractmethod
    def put(self, local_path: str | Path, logical_path: str) -> None:
        """Stage a local file or directory under ``logical_path`` in the open session."""

    @abstractmethod
    def commit(self, message: str, metadata: Mapping[str, str] | None = None) -> str:
        """Snapshot everything in the session and return the new immutable version id."""

    @abstractmethod
    def tag(self, version_id: str, tag: str) -> None:
        """Point ``tag`` at ``version_id``; repeating the same pair is a no-op."""

    @abstractmethod
    def resolve_tag(self, tag: str) -> str:
        """Return the version id ``tag`` points at."""

    @abstractmethod
    def version_of(self, logical_path: str) -> str:
        """Newest committed version of the open session that holds ``logical_path``."""

    def get(self, version_id: str, logical_path: str, dest: str | Path) -> Path:
        """Restore ``logical_path`` as of ``version_id`` to ``dest`` and return ``dest``.

        A file lands at ``dest`` (replaced atomically); a directory is built beside ``dest``
        and renamed into place, so ``dest`` must not exist or be an empty directory.
        ``logical_path=""`` restores the whole version (a directory; a file for a single-file
        DVC object read from a ``.dvc`` file or ``dvc.lock``).
        """
        logical = normalize_logical_path(logical_path, allow_root=True)
        entries = self._entries(version_id, logical)
        if not entries:
            raise PathNotInVersionError(
                f"logical_path {logical_path!r} holds nothing in version {version_id}; "
                "pass a path that was put before that commit"
            )
        return write_entries(Path(dest), entries, self._read_entry)

    @abstractmethod
    def _entries(self, version_id: str, logical: str) -> list[tuple[str, Any]]:
        """(path relative to ``logical``, backend handle) for each file; ``""`` = the path itself.

        Raises UnknownVersionError for an id that is not an immutable version here.
        """

    @abstractmethod
    def _read_entry(self, handle: Any, out: IO[bytes]) -> None:
        """Copy the bytes behind ``handle`` into ``out``."""


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise DataVersioningError(
            f"run_id {run_id!r} is not usable as a session name; use 1-100 letters, digits, '_' or '-'"
        )
    return run_id


def validate_tag(tag: str) -> str:
    if not isinstance(tag, str) or not _TAG.match(tag) or ".." in tag:
        raise DataVersioningError(
            f"tag {tag!r} is not a valid tag; use 1-128 letters, digits, '.', '_' or '-' (no '..')"
        )
    return tag


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise DataVersioningError(f"metadata must be a mapping of str to str, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise DataVersioningError(
                f"metadata[{key!r}] = {value!r}: keys and values must be strings; convert with str()"
            )
    return dict(metadata)


def validate_message(message: str) -> str:
    if not isinstance(message, str) or not message.strip():
        raise DataVersioningError("message must be a non-empty string describing the dataset version")
    return message


def normalize_logical_path(logical_path: str, allow_root: bool = False) -> str:
    """Canonical posix form: relative, no '.' or '..' parts, no trailing slash."""
    if not isinstance(logical_path, str):
        raise DataVersioningError(f"logical_path must be a string, got {type(logical_path).__name__}")
    raw = logical_path.replace("\\", "/")
    if raw in ("", ".", "./"):
        if allow_root:
            return ""
        raise DataVersioningError("logical_path is empty; name where the data lives, e.g. 'corpus/train.jsonl'")
    if raw.startswith("/"):
        raise DataVersioningError(f"logical_path {logical_path!r} is absolute; make it relative, e.g. 'corpus'")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts or not parts:
        raise DataVersioningError(f"logical_path {logical_path!r} leaves the dataset root; remove '..'")
    return "/".join(parts)


def local_files(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, file) under ``root``, sorted, with DVC's default ignores applied.

    Symlinks are refused (their target would make a version depend on the outside world);
    a ``.dvcignore`` inside is refused as DVC refuses it (IgnoreInCollectedDirError).
    """
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d not in _SKIP_ANY and d not in _SKIP_DIRS]
        for name in list(dirnames) + filenames:
            if (here / name).is_symlink():
                raise DataVersioningError(
                    f"{here / name}: symlinks are not allowed in a dataset directory; copy the file instead"
                )
        if ".dvcignore" in filenames:
            raise DataVersioningError(
                f"{here / '.dvcignore'}: a .dvcignore cannot sit inside a versioned directory; move it to the repo root"
            )
        for name in filenames:
            if name in _SKIP_ANY:
                continue
            path = here / name
            found.append((path.relative_to(root).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return found


def local_source(local_path: str | Path) -> tuple[Path, list[tuple[str, Path]] | None]:
    """Validate a put source: (path, None) for a file, (path, files) for a non-empty directory."""
    path = Path(local_path)
    if path.is_symlink():
        raise DataVersioningError(f"local_path {path} is a symlink; pass the real file or directory")
    if path.is_file():
        return path, None
    if path.is_dir():
        files = local_files(path)
        if not files:
            raise DataVersioningError(
                f"local_path {path} holds no files; an empty directory cannot be versioned"
            )
        return path, files
    raise DataVersioningError(f"local_path {path} does not exist; pass an existing file or directory")


def write_entries(
    dest: Path, entries: Iterable[tuple[str, Any]], read: Callable[[Any, IO[bytes]], None]
) -> Path:
    """Write entries to ``dest`` all-or-nothing (see ``DataVersioning.get``)."""
    entries = list(entries)
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if len(entries) == 1 and entries[0][0] == "":
        if dest.is_dir():
            raise DataVersioningError(f"dest {dest} is a directory but the logical path is a file; pass a file path")
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                read(entries[0][1], out)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataVersioningError(
            f"dest {dest} already exists and is not an empty directory; pass a new path or remove it"
        )
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        for rel, handle in entries:
            target = tmp_dir / Path(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                read(handle, out)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp_dir, dest)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return dest


def select_entries(paths: Iterable[tuple[str, Any]], logical: str) -> list[tuple[str, Any]]:
    """From (full logical path, handle) pairs keep those at or under ``logical``, made relative.

    A file at ``logical`` itself comes back as ``("", handle)``; a version holding both a file
    ``a`` and files under ``a/`` (possible in lakeFS) is ambiguous and refused.
    """
    if logical == "":
        return [(p, h) for p, h in paths]
    exact: list[tuple[str, Any]] = []
    under: list[tuple[str, Any]] = []
    prefix = logical + "/"
    for path, handle in paths:
        if path == logical:
            exact.append(("", handle))
        elif path.startswith(prefix):
            under.append((path[len(prefix):], handle))
    if exact and under:
        raise DataVersioningError(
            f"logical_path {logical!r} is both a file and a directory in this version; pass a more specific path"
        )
    return exact or under


def make_data_versioning(params: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ) -> DataVersioning:
    """Build the configured backend from params.yaml's ``data_versioning`` section and ``env``.

    ``params`` is the whole params.yaml mapping; its optional ``data_versioning`` section takes
    ``backend`` (``auto`` | ``dvc`` | ``lakefs``; auto = lakeFS when any LAKEFS_* variable is
    set), ``root`` (DVC/local store directory, default ``.llmreg/datasets``) and ``cache_dir``
    (default ``<root>/cache``; point it at ``.dvc/cache`` to share objects with DVC).
    """
    section = dict((params or {}).get("data_versioning") or {})
    known = {"backend", "root", "cache_dir"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(
            f"data_versioning.{unknown[0]} is not a known key; use one of {sorted(known)}"
        )
    backend = section.get("backend", "auto")
    if backend not in ("auto", "dvc", "lakefs"):
        raise ConfigError(f"data_versioning.backend = {backend!r}; use 'auto', 'dvc' or 'lakefs'")
    lakefs_vars = [name for name in LAKEFS_REQUIRED_ENV + LAKEFS_OPTIONAL_ENV if env.get(name)]
    if backend == "lakefs" or (backend == "auto" and lakefs_vars):
        from training.lakefs_versioning import LakeFSDataVersioning, LakeFSSettings

        reason = "data_versioning.backend is 'lakefs'" if backend == "lakefs" else f"{lakefs_vars[0]} is set"
        return LakeFSDataVersioning(LakeFSSettings.from_env(env, reason=reason))
    from training.dvc_versioning import LocalDVCDataVersioning

    root = Path(section.get("root", ".llmreg/datasets"))
    cache_dir = section.get("cache_dir")
    return LocalDVCDataVersioning(root, cache_dir=Path(cache_dir) if cache_dir else None)
