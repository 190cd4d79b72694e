"""Content-addressed artifact store: objects live under `sha256/<2 hex>/<64 hex>`.

A file or a directory (adapter, weights, tokenizer, index) is hashed and copied in the same
streaming pass, so registering a multi-gigabyte artifact reads it once. The copy goes to a
private temporary (0600 files in a 0700 `.tmp`) and is published only once its digest (and
size) equal what the caller declared: bytes that fail the check never reach the store, and
the refusal does not print their digest. Stored files are read-only and no more readable
than their source, never more than 0640. Temporaries left by a crash are removed when a
store opens (each one in use holds a lock, so a writer in another process keeps its own). A directory's
digest frames each file's relative POSIX path and size before its bytes, in sorted path
order (the same digest `training/checksums.py` computes), so it does not depend on the
machine, the checkout location or the order the file system lists entries in.

The root is a local directory (default `.llmreg/artifacts`) or any fsspec URL
(`s3://bucket/prefix`, `memory://x`, ...). Local paths take a fast path without fsspec.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator

from llmreg.registry.artifact_scratch import (
    TMP_DIR,
    Scratch,
    clean_temporaries,
    stored_dir_mode,
    stored_file_mode,
)
from llmreg.registry.errors import BadInput, IntegrityError, NotFound, Refused

CHUNK = 4 << 20  # 4 MiB reads keep hashlib in large GIL-free updates
SMALL_BUF = 1 << 20  # files up to 1 MiB read into a reused per-thread buffer
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class ArtifactCheck:
    """One copy of an artifact checked: what the entry recorded vs what the bytes hash to.
    `copy` says which copy: "stored" (the artifact store's), "local" (the file the entry's
    uri points at) or "remote" (an fsspec object hashed where it is)."""

    name: str
    expected: str
    actual: str | None
    location: str | None
    ok: bool
    detail: str
    copy: str = "stored"

    def to_dict(self) -> dict:
        return {"name": self.name, "expected": self.expected, "actual": self.actual,
                "location": self.location, "ok": self.ok, "detail": self.detail, "copy": self.copy}


def is_url(location: str) -> bool:
    return bool(_URL.match(location)) and not location.startswith("file://")


def _local(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location


# ---------------------------------------------------------------- hashing (local paths)

class _Sink:
    """Where hashed bytes also go while streaming (a copy), or nowhere."""

    def __init__(self, fh=None):
        self.fh = fh

    def write(self, view) -> None:
        if self.fh is not None:
            self.fh.write(view)


def _stream_file(src: str, digest, sink: _Sink, buf: bytearray | None, *, nofollow: bool = False) -> int:
    """Hash (and copy) one file; nofollow: a member of a directory artifact that became a
    symlink after the walk fails here instead of being followed out of the directory.
    buf None: a buffer sized to the file, at most CHUNK (see _stream_fd)."""
    fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0))
    with open(fd, "rb", buffering=0) as fh:
        return _stream_fd(fh, digest, sink, buf)


_small = threading.local()  # one reused read buffer per thread, for files up to SMALL_BUF


def _stream_fd(fh, digest, sink: _Sink, buf: bytearray | memoryview | None) -> int:
    if buf is None:  # registration re-reads every pinned file: no zeroed buffer per file
        want = min(CHUNK, os.fstat(fh.fileno()).st_size + 1)  # +1: the size may have grown
        if want > SMALL_BUF:
            buf = bytearray(want)
        else:  # safe to reuse: the digest and the copy consume each chunk before the next read
            kept = _small.__dict__
            buf = memoryview(kept.get("buf") or kept.setdefault("buf", bytearray(SMALL_BUF)))[:want]
    view = memoryview(buf)
    size = 0
    while n := fh.readinto(buf):
        chunk = view[:n]
        digest.update(chunk)
        sink.write(chunk)
        size += n
    return size


def hash_file(path: str | os.PathLike, algorithm: str = "sha256") -> tuple[str, int]:
    """(hex digest, size) of one file in a single pass; md5 is what DVC records for a file."""
    digest = hashlib.sha256() if algorithm == "sha256" else hashlib.new(algorithm, usedforsecurity=False)
    size = _stream_file(os.fspath(path), digest, _Sink(), None)
    return digest.hexdigest(), size


def _tree_files(root: Path) -> list[tuple[str, Path]]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            item = Path(dirpath) / name
            if item.is_symlink():
                raise BadInput(f"{item}: symlinks are not allowed inside an artifact directory (this one points at "
                               f"{os.readlink(item)}); copy the file instead", field="artifacts")
        for name in filenames:
            item = Path(dirpath) / name
            if item.is_file():
                files.append((item.relative_to(root).as_posix(), item))
    files.sort()
    return files


def _frame(digest, rel: str, size: int) -> None:
    name = rel.encode("utf-8")
    digest.update(len(name).to_bytes(8, "big"))
    digest.update(name)
    digest.update(size.to_bytes(8, "big"))


def hash_tree(path: str | os.PathLike) -> tuple[str, int]:
    """(sha256 hex, total bytes) of a directory: framed relative paths + contents, sorted."""
    root = Path(path)
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    total = 0
    for rel, item in _tree_files(root):
        _frame(digest, rel, item.stat().st_size)
        total += _stream_file(str(item), digest, _Sink(), buf, nofollow=True)
    return digest.hexdigest(), total


def hash_path(path: str | os.PathLike) -> tuple[str, int]:
    """Hash a local file or directory. A file costs one open, one fstat and its reads (the
    registration re-check runs this for every pinned file every time)."""
    local = _local(os.fspath(path))
    try:
        # O_NONBLOCK: a FIFO opens (and is refused below) instead of waiting for a writer
        fd = os.open(local, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NotFound(f"{local}: no such file or directory") from None
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
    else:
        with open(fd, "rb", buffering=0) as fh:
            digest = hashlib.sha256()
            size = _stream_fd(fh, digest, _Sink(), None)
            return digest.hexdigest(), size
    p = Path(local)
    if stat.S_ISDIR(mode):
        if p.is_symlink():
            raise BadInput(f"{p}: is a symlink to a directory; pass the directory itself", field="artifacts")
        return hash_tree(p)
    raise NotFound(f"{p}: not a regular file or directory")


def hash_location(location: str) -> tuple[str, int]:
    """Hash a local path or any fsspec URL (file or directory prefix)."""
    if not is_url(location):
        return hash_path(location)
    import fsspec

    fs, root = fsspec.core.url_to_fs(location)
    return _hash_fs(fs, root)


def _hash_fs(fs, root: str) -> tuple[str, int]:
    if not fs.exists(root):
        raise NotFound(f"{root}: no such object")
    buf = bytearray(CHUNK)
    if fs.isdir(root):
        digest = hashlib.sha256()
        total = 0
        prefix = root.rstrip("/") + "/"
        files = sorted((p[len(prefix):], p) for p in fs.find(root) if p.startswith(prefix))
        for rel, full in files:
            _frame(digest, rel, int(fs.size(full)))
            total += _stream_fs(fs, full, digest, _Sink(), buf)
        return digest.hexdigest(), total
    digest = hashlib.sha256()
    size = _stream_fs(fs, root, digest, _Sink(), buf)
    return digest.hexdigest(), size


def _stream_fs(fs, path: str, digest, sink: _Sink, buf: bytearray) -> int:
    size = 0
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(len(buf)):
            digest.update(chunk)
            sink.write(chunk)
            size += len(chunk)
    return size


def check_artifact_name(name: object, field: str = "name") -> str:
    """Artifact names are relative POSIX paths of [A-Za-z0-9._-] segments (no '..', NUL, '/')."""
    from llmreg.registry.fields import as_str, check_path_safe

    name = as_str(name, field, max_len=200)
    return check_path_safe(name, field, relative_name=True)


class ContentMismatch(IntegrityError):
    """The bytes at a path are not what the caller declared; nothing was stored."""


# ---------------------------------------------------------------- the store

class ArtifactStore:
    """Content-addressed objects under `<root>/sha256/ab/<hex>` (a file or a directory)."""

    def __init__(self, root: str | os.PathLike):
        root = os.fspath(root)
        self.root = root
        self._remote = is_url(root)
        if self._remote:
            import fsspec

            self._fs, self._base = fsspec.core.url_to_fs(root)
            self._base = self._base.rstrip("/")
        else:
            self._fs = None
            self._base = os.path.abspath(_local(root))
            tmp_root = os.path.join(self._base, TMP_DIR)
            if os.path.isdir(tmp_root):
                try:
                    clean_temporaries(tmp_root)
                except OSError:
                    pass  # a reader without write access to the store (a gateway) leaves them to a writer

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    def object_path(self, sha256: str) -> str:
        if not isinstance(sha256, str) or not _HEX64.match(sha256):
            raise BadInput(f"sha256: {sha256!r} is not 64 lowercase hex digits", field="sha256")
        rel = f"sha256/{sha256[:2]}/{sha256}"
        return f"{self._base}/{rel}" if self._remote else os.path.join(self._base, rel)

    def uri(self, sha256: str) -> str:
        path = self.object_path(sha256)
        if self._remote:
            protocol = self._fs.protocol[0] if isinstance(self._fs.protocol, (tuple, list)) else self._fs.protocol
            return f"{protocol}://{path}"
        return path

    def contains(self, sha256: str) -> bool:
        path = self.object_path(sha256)
        return self._fs.exists(path) if self._remote else os.path.exists(path)

    def put(self, path: str | os.PathLike, name: str, kind: str = "other", *, sha256: str | None = None,
            size: int | None = None, label: str | None = None, field: str = ""):
        """Hash and copy a local file or directory into the store in one pass -> ArtifactRef.

        With `sha256` (and `size`) declared, bytes that differ are refused (ContentMismatch,
        naming `label`, never the digest they do have) and nothing is stored."""
        from llmreg.registry.entry import ArtifactRef

        check_artifact_name(name)
        label = label or f"artifact '{name}'"
        src = Path(_local(os.fspath(path)))
        if src.is_symlink() and src.is_dir():
            raise BadInput(f"{src}: is a symlink to a directory; pass the directory itself", field="artifacts")
        if not src.exists():
            raise BadInput(f"{src}: no such file or directory; pass the artifact's path", field="path")
        if not src.is_file() and not src.is_dir():  # a FIFO or device would block or never end
            raise BadInput(f"{src}: not a regular file or directory; pass the artifact's file", field="path")
        if sha256 is not None and not _HEX64.match(sha256):
            raise BadInput(f"sha256: {sha256!r} is not 64 lowercase hex digits", field="sha256")
        expect = Expected(sha256, size, label, os.fspath(path), field)
        if src.is_file():
            expect.check_size(src.stat().st_size)  # refused before a byte is read
        sha, total = self._put_remote(src, expect) if self._remote else self._put_local(src, expect)
        return ArtifactRef(name=name, uri=self.uri(sha), sha256=sha, size=total, kind=kind)

    def _put_local(self, src: Path, expect: Expected) -> tuple[str, int]:
        tmp_root = os.path.join(self._base, TMP_DIR)
        os.makedirs(tmp_root, mode=0o700, exist_ok=True)
        if stat.S_IMODE(os.stat(tmp_root).st_mode) != 0o700:
            os.chmod(tmp_root, 0o700)  # a store made before temporaries were private
        scratch = Scratch(tmp_root)
        try:
            sha, size = _copy_hashing(src, scratch.path)
            expect.check(sha, size)
            final = self.object_path(sha)
            if not os.path.exists(final):
                os.makedirs(os.path.dirname(final), mode=0o750, exist_ok=True)
                if os.path.isdir(scratch.path):
                    os.chmod(scratch.path, stored_dir_mode(os.stat(src).st_mode))
                try:
                    os.rename(scratch.path, final)
                except OSError:
                    if not os.path.exists(final):
                        raise
                    # a concurrent put of the same bytes won the rename; release removes ours
            return sha, size
        finally:
            scratch.release()

    def _put_remote(self, src: Path, expect: Expected) -> tuple[str, int]:
        if expect.sha256 is not None:
            expect.check(*hash_path(src))  # refuse before a byte leaves the machine
        fs = self._fs
        tmp = f"{self._base}/{TMP_DIR}/{uuid.uuid4().hex}"
        buf = bytearray(CHUNK)
        digest = hashlib.sha256()
        total = 0
        try:
            if src.is_dir():
                for rel, item in _tree_files(src):
                    _frame(digest, rel, item.stat().st_size)
                    with fs.open(f"{tmp}/{rel}", "wb") as out:
                        total += _stream_file(str(item), digest, _Sink(out), buf, nofollow=True)
            else:
                with fs.open(tmp, "wb") as out:
                    total = _stream_file(str(src), digest, _Sink(out), buf)
            sha = digest.hexdigest()
            expect.check(sha, total)  # the file changed between the two passes
            final = self.object_path(sha)
            if fs.exists(final):
                fs.rm(tmp, recursive=True)
            else:
                fs.mv(tmp, final, recursive=src.is_dir())
        except BaseException:
            if fs.exists(tmp):
                fs.rm(tmp, recursive=True)
            raise
        return sha, total

    def locate(self, sha256: str) -> str | None:
        return self.uri(sha256) if self.contains(sha256) else None

    def hash_object(self, sha256: str) -> tuple[str, int]:
        path = self.object_path(sha256)
        if self._remote:
            return _hash_fs(self._fs, path)
        return hash_path(path)

    def verify(self, ref, *, owner: str = "") -> ArtifactCheck:
        """Re-hash the bytes a loader would use for `ref`: the store's copy, else `ref.uri`."""
        where = f" of {owner}" if owner else ""
        location = self.locate(ref.sha256) if _HEX64.match(ref.sha256 or "") else None
        copy = "stored"
        try:
            if location is not None:
                actual, _ = self.hash_object(ref.sha256)
            elif ref.uri:
                location, copy = ref.uri, "remote" if is_url(ref.uri) else "local"
                actual, _ = hash_location(ref.uri)
            else:
                return ArtifactCheck(ref.name, ref.sha256, None, None, False,
                                     f"artifact '{ref.name}'{where}: not in the artifact store and no uri recorded")
        except (NotFound, OSError) as exc:
            return ArtifactCheck(ref.name, ref.sha256, None, location, False,
                                 f"artifact '{ref.name}'{where}: cannot read {location}: {exc}", copy)
        if actual != ref.sha256:
            return ArtifactCheck(ref.name, ref.sha256, actual, location, False,
                                 f"artifact '{ref.name}'{where}: expected sha256 {ref.sha256}, got {actual} ({location})",
                                 copy)
        return ArtifactCheck(ref.name, ref.sha256, actual, location, True, "ok", copy)

    def require(self, ref, *, owner: str = "") -> ArtifactCheck:
        check = self.verify(ref, owner=owner)
        if not check.ok:
            raise IntegrityError(check.detail)
        return check

    def remove(self, sha256: str, *, keep: "Collection[str]") -> bool:
        """Remove the stored copy of `sha256` (gc); False when there is none. `keep` is every
        digest a kept version still references (GcPlan.digests_to_remove): one of them is
        refused, never removed. A local copy is first renamed into `.tmp` (so no reader sees
        half a tree), then deleted. Run gc under the registry's write lock: a put of the same
        bytes racing a remove is not otherwise ordered."""
        path = self.object_path(sha256)
        if sha256 in keep:
            raise Refused(f"artifact {sha256}: still referenced by a version the retention policy keeps; not removed")
        if self._remote:
            if not self._fs.exists(path):
                return False
            self._fs.rm(path, recursive=True)
            return True
        tmp_root = os.path.join(self._base, TMP_DIR)
        os.makedirs(tmp_root, mode=0o700, exist_ok=True)
        scratch = Scratch(tmp_root)
        try:
            try:
                os.rename(path, scratch.path)
            except FileNotFoundError:
                return False
            return True
        finally:
            scratch.release()  # removes the renamed copy (read-only trees included)

    def iter_objects(self) -> Iterator[str]:
        base = os.path.join(self._base, "sha256") if not self._remote else f"{self._base}/sha256"
        if self._remote:
            if not self._fs.exists(base):
                return
            for prefix in self._fs.ls(base, detail=False):
                for obj in self._fs.ls(prefix, detail=False):
                    yield obj.rstrip("/").rsplit("/", 1)[-1]
            return
        if not os.path.isdir(base):
            return
        for prefix in sorted(os.listdir(base)):
            for obj in sorted(os.listdir(os.path.join(base, prefix))):
                yield obj


@dataclass(frozen=True, slots=True)
class Expected:
    """What the caller declared about the bytes at `src`; check() refuses anything else."""

    sha256: str | None
    size: int | None
    label: str
    src: str
    field: str = ""

    def check(self, sha: str, size: int) -> None:
        # The refusal never shows the digest the bytes do have: whoever registers a file
        # they may read but should not publish learns nothing about its content.
        where = f"{self.field}." if self.field else ""
        if self.sha256 is not None and sha != self.sha256:
            raise ContentMismatch(f"{self.label}: expected sha256 {self.sha256}, but {self.src} does not hash to it; "
                                  f"nothing was stored (fix {where}sha256, or point {where}uri at the right file)")
        self.check_size(size)

    def check_size(self, size: int) -> None:
        where = f"{self.field}." if self.field else ""
        if self.size is not None and size != self.size:
            raise ContentMismatch(f"{self.label}: expected size {self.size} bytes, but {self.src} is not that size; "
                                  f"nothing was stored (fix {where}size, or point {where}uri at the right file)")


def _copy_hashing(src: Path, dst: str) -> tuple[str, int]:
    """Hash `src` while copying it to the private path `dst`: files 0600 while written, then
    read-only at their stored mode; directories 0700 until published."""
    buf = bytearray(CHUNK)
    digest = hashlib.sha256()
    if src.is_dir():
        total = 0
        os.mkdir(dst, 0o700)
        for rel, item in _tree_files(src):
            _frame(digest, rel, item.stat().st_size)
            target = os.path.join(dst, *rel.split("/"))
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=0o700)
            total += _copy_file(str(item), target, digest, buf, nofollow=True)
        _set_dir_modes(src, dst)
        return digest.hexdigest(), total
    size = _copy_file(str(src), dst, digest, buf, nofollow=False)
    return digest.hexdigest(), size


def _copy_file(src: str, dst: str, digest, buf: bytearray, *, nofollow: bool) -> int:
    fd = os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as out:
        size = _stream_file(src, digest, _Sink(out), buf, nofollow=nofollow)
        os.fchmod(out.fileno(), stored_file_mode(os.stat(src, follow_symlinks=not nofollow).st_mode))
    return size


def _set_dir_modes(src: Path, dst: str) -> None:
    """Sub-directories of a stored tree: no more readable than their source (the top one is
    set at publication, so the tree stays private until then)."""
    for dirpath, dirnames, _ in os.walk(dst):
        for name in dirnames:
            target = os.path.join(dirpath, name)
            source = src / os.path.relpath(target, dst)
            os.chmod(target, stored_dir_mode(os.stat(source, follow_symlinks=False).st_mode))
