"""DVC-compatible content hashes and a local, content-addressed dataset store.

No ``import dvc``: DVC lives in its own tool venv (its hydra/omegaconf pin
antlr4-python3-runtime 4.9, which breaks Dagster's selection parser). The hashing rules
below are those of DVC 3.x / dvc-data 3.x, read from dvc-data 3.18.3:

- file: ``hash: md5`` is the plain md5 of the file bytes (``dvc_data/hashfile/hash.py``
  ``file_md5``; DVC 2.x's ``md5-dos2unix``, which rewrote CRLF in text files, is legacy).
- directory: md5 of ``json.dumps(entries, sort_keys=True)`` (default separators, ASCII
  escapes) where entries is ``[{"md5": <file md5>, "relpath": <posix path>}, ...]`` sorted
  by relpath, with ``.dir`` appended (``Tree.as_list`` / ``Tree.as_bytes`` / ``Tree.digest``
  in ``dvc_data/hashfile/tree.py``). Empty directories contribute nothing.
- DVC's default ignores inside a directory (``.git``, ``.hg/``, ``.dvc/``) are skipped here
  too. Not reproduced: patterns from a repo-level ``.dvcignore``; symlinks are refused.

The store keeps objects where DVC 3 keeps them (``<cache>/files/md5/<2 hex>/<30 hex>[.dir]``,
read-only), so ``cache_dir=.dvc/cache`` shares objects with a DVC repository both ways.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from training.data_versioning import (
    DataVersioning,
    DataVersioningError,
    NoSessionError,
    NothingToCommitError,
    PathNotInVersionError,
    TagConflictError,
    UnknownTagError,
    UnknownVersionError,
    local_files,
    local_source,
    normalize_logical_path,
    select_entries,
    validate_message,
    validate_metadata,
    validate_run_id,
    validate_tag,
)

_CHUNK = 1 << 20
_VERSION = re.compile(r"^md5:([0-9a-f]{32})(\.dir)?$")


def dvc_file_md5(path: str | Path) -> str:
    """What DVC 3 records as ``md5`` for a file (``hash: md5``)."""
    from llmreg.registry.artifacts import hash_file

    return hash_file(path, "md5")[0]


def dvc_tree_bytes(entries: Iterable[tuple[str, str]]) -> bytes:
    """The .dir object DVC writes for (relpath, file md5) entries; its md5 is the dir hash."""
    listing = sorted(({"md5": md5, "relpath": rel} for rel, md5 in entries), key=lambda e: e["relpath"])
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def dvc_tree_md5(entries: Iterable[tuple[str, str]]) -> str:
    return hashlib.md5(dvc_tree_bytes(entries), usedforsecurity=False).hexdigest() + ".dir"


def dvc_dir_md5(path: str | Path) -> str:
    """What DVC 3 records as ``md5`` for a directory: ``<32 hex>.dir``."""
    root = Path(path)
    if not root.is_dir():
        raise DataVersioningError(f"{root} is not a directory; pass the directory DVC would track")
    return dvc_tree_md5((rel, dvc_file_md5(file)) for rel, file in local_files(root))


def dvc_version_id(path: str | Path) -> str:
    """``md5:<hash>`` for a local file or directory, equal to what ``dvc add`` records."""
    p = Path(path)
    if p.is_dir():
        return "md5:" + dvc_dir_md5(p)
    if p.is_file():
        return "md5:" + dvc_file_md5(p)
    raise DataVersioningError(f"{p} does not exist; pass a file or directory to hash")


def _out_version(out: Mapping[str, Any], where: str) -> str:
    md5 = out.get("md5")
    if not isinstance(md5, str) or not md5:
        raise DataVersioningError(f"{where}: out {out.get('path')!r} records no md5; run `dvc commit` for it")
    # DVC 2.x files carry no `hash` field and their md5 is md5-dos2unix (CRLF-normalised).
    algo = out.get("hash", "md5-dos2unix")
    return f"{algo}:{md5}"


def _norm_out(path: str) -> str:
    return normalize_logical_path(path)


def version_from_dvc_lock(lock_path: str | Path, out_path: str) -> str:
    """Version id of ``out_path`` as recorded in a ``dvc.lock`` (any stage, foreach included)."""
    lock_path = Path(lock_path)
    try:
        data = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DataVersioningError(f"{lock_path} does not exist; run `dvc repro` to create it") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        raise DataVersioningError(f"{lock_path} has no 'stages' mapping; is it a DVC 2+/3 dvc.lock?")
    wanted = _norm_out(out_path)
    known: list[str] = []
    for name, stage in stages.items():
        for out in (stage or {}).get("outs") or []:
            path = _norm_out(str(out.get("path", "")))
            if path == wanted:
                return _out_version(out, f"{lock_path} stage {name}")
            known.append(path)
    raise DataVersioningError(
        f"out_path {out_path!r} is not an out in {lock_path}; known outs: {', '.join(sorted(known)) or 'none'}"
    )


def version_from_dvc_file(dvc_file: str | Path, out_path: str | None = None) -> str:
    """Version id recorded in a ``.dvc`` file (the one written by ``dvc add``)."""
    dvc_file = Path(dvc_file)
    try:
        data = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DataVersioningError(f"{dvc_file} does not exist; run `dvc add` to create it") from None
    outs = data.get("outs") if isinstance(data, dict) else None
    if not outs:
        raise DataVersioningError(f"{dvc_file} has no outs; is it a .dvc file written by `dvc add`?")
    if out_path is None:
        if len(outs) != 1:
            raise DataVersioningError(f"{dvc_file} has {len(outs)} outs; pass out_path to choose one")
        return _out_version(outs[0], str(dvc_file))
    wanted = _norm_out(out_path)
    for out in outs:
        if _norm_out(str(out.get("path", ""))) == wanted:
            return _out_version(out, str(dvc_file))
    raise DataVersioningError(f"out_path {out_path!r} is not an out in {dvc_file}")


def _parse_version(version_id: str) -> tuple[str, bool]:
    match = _VERSION.match(version_id) if isinstance(version_id, str) else None
    if not match:
        raise UnknownVersionError(
            f"version id {version_id!r} is not a DVC version id; expected md5:<32 hex>[.dir] "
            "(resolve a tag with resolve_tag first)"
        )
    return match.group(1), bool(match.group(2))


class LocalDVCDataVersioning(DataVersioning):
    """Dataset versions as DVC content hashes, objects in a DVC-layout cache directory.

    ``root`` holds sessions (``sessions/run-<id>.json``: head version and puts in order),
    tags (``tags/<tag>``, created once, never moved) and ``log.jsonl`` (one line per commit,
    with message and metadata: the id itself is content-only, so two commits of identical
    data share it). Staged content is copied into the cache at ``put`` time.
    """

    backend = "dvc"

    def __init__(self, root: str | Path, cache_dir: str | Path | None = None) -> None:
        self.root = Path(root)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else self.root / "cache"
        self._session: str | None = None

    # -- paths -----------------------------------------------------------------------
    def _object_path(self, hex_md5: str, is_dir: bool) -> Path:
        name = hex_md5[2:] + (".dir" if is_dir else "")
        return self.cache_dir / "files" / "md5" / hex_md5[:2] / name

    def _session_path(self, name: str) -> Path:
        return self.root / "sessions" / f"{name}.json"

    @property
    def session(self) -> str | None:
        return self._session

    # -- cache -----------------------------------------------------------------------
    def _store_stream(self, src: IO[bytes]) -> str:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.cache_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            hex_md5 = digest.hexdigest()
            self._install(Path(tmp), self._object_path(hex_md5, is_dir=False))
        finally:
            Path(tmp).unlink(missing_ok=True)
        return hex_md5

    def _store_bytes(self, data: bytes, hex_md5: str, is_dir: bool) -> None:
        final = self._object_path(hex_md5, is_dir)
        if final.exists():
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.cache_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self._install(Path(tmp), final)
        finally:
            Path(tmp).unlink(missing_ok=True)

    @staticmethod
    def _install(tmp: Path, final: Path) -> None:
        # Content-addressed: an existing object already holds these bytes. Read-only like DVC's.
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)

    def _load_tree(self, hex_md5: str, version_id: str) -> dict[str, str]:
        path = self._object_path(hex_md5, is_dir=True)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise UnknownVersionError(
                f"version {version_id} is not in the cache at {self.cache_dir}; "
                "fetch it (dvc pull) or point data_versioning.cache_dir at the cache holding it"
            ) from None
        if hashlib.md5(raw, usedforsecurity=False).hexdigest() != hex_md5:
            raise DataVersioningError(f"cache object {path} is corrupt (md5 mismatch); delete it and fetch it again")
        return {entry["relpath"]: entry["md5"] for entry in json.loads(raw)}

    def _require_version(self, version_id: str) -> tuple[str, bool]:
        hex_md5, is_dir = _parse_version(version_id)
        if not self._object_path(hex_md5, is_dir).exists():
            raise UnknownVersionError(
                f"version {version_id} is not in the cache at {self.cache_dir}; "
                "fetch it (dvc pull) or point data_versioning.cache_dir at the cache holding it"
            )
        return hex_md5, is_dir

    # -- sessions --------------------------------------------------------------------
    def _read_session(self) -> dict[str, Any]:
        if self._session is None:
            raise NoSessionError("no session is open; call begin(run_id) first")
        return json.loads(self._session_path(self._session).read_text(encoding="utf-8"))

    def _write_session(self, state: Mapping[str, Any]) -> None:
        assert self._session is not None
        path = self._session_path(self._session)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, sort_keys=True)
        os.replace(tmp, path)

    def begin(self, run_id: str, base: str | None = None) -> str:
        name = f"run-{validate_run_id(run_id)}"
        if base is not None:
            _, is_dir = self._require_version(base)
            if not is_dir:
                raise UnknownVersionError(f"base {base} is a single-file object; start from a committed md5:<hex>.dir version")
        self._session = name
        if not self._session_path(name).exists():
            self._write_session({"head": base, "staged": []})
        return name

    def put(self, local_path: str | Path, logical_path: str) -> None:
        logical = normalize_logical_path(logical_path)
        state = self._read_session()
        path, files = local_source(local_path)
        if files is None:
            with open(path, "rb") as fh:
                staged: dict[str, Any] = {"md5": self._store_stream(fh)}
        else:
            stored = {}
            for rel, file in files:
                with open(file, "rb") as fh:
                    stored[rel] = self._store_stream(fh)
            staged = {"files": stored}
        # Staged puts apply in order at commit; a re-put path moves to the end so the last put wins.
        state["staged"] = [[path_, entry] for path_, entry in state["staged"] if path_ != logical]
        state["staged"].append([logical, staged])
        self._write_session(state)

    def commit(self, message: str, metadata: Mapping[str, str] | None = None) -> str:
        validate_message(message)
        meta = validate_metadata(metadata)
        state = self._read_session()
        if not state["staged"]:
            raise NothingToCommitError(f"nothing to commit in session {self._session}; put() data first")
        tree = self._head_tree(state)
        for logical, staged in state["staged"]:
            prefix = logical + "/"
            tree = {rel: md5 for rel, md5 in tree.items() if rel != logical and not rel.startswith(prefix)}
            if "md5" in staged:
                tree[logical] = staged["md5"]
            else:
                tree.update({prefix + rel: md5 for rel, md5 in staged["files"].items()})
        for rel in tree:
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent in tree:
                    raise DataVersioningError(
                        f"logical path {rel!r} lies under the file {parent!r}; put a directory at {parent!r} instead"
                    )
        data = dvc_tree_bytes(tree.items())
        hex_md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self._store_bytes(data, hex_md5, is_dir=True)
        version_id = f"md5:{hex_md5}.dir"
        self._write_session({"head": version_id, "staged": []})
        record = {"version_id": version_id, "session": self._session, "message": message,
                  "metadata": meta, "time": time.time()}
        with open(self.root / "log.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(record, sort_keys=True) + "\n")
        return version_id

    def _head_tree(self, state: Mapping[str, Any]) -> dict[str, str]:
        head = state.get("head")
        if head is None:
            return {}
        hex_md5, _ = _parse_version(head)
        return self._load_tree(hex_md5, head)

    # -- tags ------------------------------------------------------------------------
    def tag(self, version_id: str, tag: str) -> None:
        validate_tag(tag)
        self._require_version(version_id)
        tags = self.root / "tags"
        tags.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=tags)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(version_id + "\n")
        try:
            os.link(tmp, tags / tag)  # fails if the tag exists: tags are created once
        except FileExistsError:
            existing = self.resolve_tag(tag)
            if existing != version_id:
                raise TagConflictError(
                    f"tag {tag!r} already points at {existing}; tags never move, choose a new tag name"
                ) from None
        finally:
            os.unlink(tmp)

    def resolve_tag(self, tag: str) -> str:
        validate_tag(tag)
        try:
            return (self.root / "tags" / tag).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise UnknownTagError(f"tag {tag!r} does not exist in {self.root}; tag a version first") from None

    # -- reads -----------------------------------------------------------------------
    def version_of(self, logical_path: str) -> str:
        logical = normalize_logical_path(logical_path)
        state = self._read_session()
        head = state.get("head")
        if head is None or not select_entries(self._head_tree(state).items(), logical):
            raise PathNotInVersionError(
                f"logical_path {logical_path!r} has not been committed in session {self._session}; put and commit it first"
            )
        return head

    def _entries(self, version_id: str, logical: str) -> list[tuple[str, Any]]:
        hex_md5, is_dir = self._require_version(version_id)
        if not is_dir:
            return [("", hex_md5)] if logical == "" else []
        return select_entries(sorted(self._load_tree(hex_md5, version_id).items()), logical)

    def _read_entry(self, handle: Any, out: IO[bytes]) -> None:
        path = self._object_path(handle, is_dir=False)
        digest = hashlib.md5(usedforsecurity=False)
        try:
            src = open(path, "rb")
        except FileNotFoundError:
            raise DataVersioningError(f"cache object {path} is missing; fetch it (dvc pull) and retry") from None
        with src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != handle:
            raise DataVersioningError(f"cache object {path} is corrupt (md5 mismatch); delete it and fetch it again")
