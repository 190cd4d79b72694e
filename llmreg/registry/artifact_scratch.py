"""Private temporaries of the artifact store and the modes of what it publishes.

Every copy into the store is first written to `<root>/.tmp/<id>` (a 0600 file or a 0700
directory inside the 0700 `.tmp`), with a lock file `<id>.lock` held (flock) while it is in
use. `clean_temporaries` (run when a store opens) removes what no live writer holds: the
leftovers of a crash, which would otherwise pile up (and keep bytes that were refused).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import uuid

TMP_DIR = ".tmp"


def stored_file_mode(source_mode: int) -> int:
    """Read-only; no more readable than the source; never more than 0640 (others never read)."""
    return stat.S_IRUSR | (source_mode & stat.S_IRGRP)


def stored_dir_mode(source_mode: int) -> int:
    return stat.S_IRWXU | (source_mode & (stat.S_IRGRP | stat.S_IXGRP))


class Scratch:
    """One private working path `<tmp>/<id>` (created by the caller: a 0600 file or a 0700
    directory) and its lock file `<id>.lock`, held (flock) for as long as the path is in use."""

    def __init__(self, tmp_root: str):
        while True:
            ident = uuid.uuid4().hex
            lock = os.path.join(tmp_root, ident + ".lock")
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:  # a cleaner that won the race unlinks it before unlocking
                break
            os.close(fd)
        self.path = os.path.join(tmp_root, ident)
        self._lock, self._fd = lock, fd

    def release(self) -> None:
        """Remove what is left of the path, then the lock (unlinked while still held)."""
        try:
            if os.path.lexists(self.path):
                remove_path(self.path)
            os.unlink(self._lock)
        finally:
            os.close(self._fd)


def clean_temporaries(tmp_root: str) -> int:
    """Remove temporaries no live writer holds (crash leftovers); returns how many."""
    try:
        names = os.listdir(tmp_root)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in names:
        path = os.path.join(tmp_root, name)
        if name.endswith(".lock"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a writer is using it
                if os.path.lexists(path[:-len(".lock")]):
                    remove_path(path[:-len(".lock")])
                    removed += 1
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            finally:
                os.close(fd)
        elif not os.path.lexists(path + ".lock"):
            remove_path(path)  # no lock: left by a crash (or by a release before locks existed)
            removed += 1
    return removed


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, _ in os.walk(path):  # read-only trees: make them removable
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), stat.S_IRWXU)
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
