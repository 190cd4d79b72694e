"""What makes `audit verify` fast, kept apart from what it checks (audit_check.py).

- `ReplayReads`: the reads the promotion gates make (reviews, approvals, evidence, evals of
  one version), answered from per-version indexes of the replayed state instead of a scan of
  everything folded so far: replaying n promotions was O(n^2), now O(n).
- `SignatureBatch`: on a large log the signatures are checked in worker processes while the
  main process walks the chain and replays the rules; the walk asks `bad(seq, digest)` in log
  order, so the first failing event is still named exactly (a failure is re-checked inline
  for its reason). Public keys are parsed once per fingerprint, in every process.

    LLMREG_AUDIT_WORKERS=N   worker processes (default: CPUs - 1, at most 4; 0 = none)
    LLMREG_AUDIT_PARALLEL_MIN=N  only logs with at least N signed events use them (default 8000)

Workers are forked, and only from a process with one thread (the CLI, a batch job); elsewhere
(a gateway, a Dagster run) the signatures are checked inline.
"""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Callable, Mapping

from llmreg.registry import events as ev
from llmreg.registry.store.memory import _MemoryReads, _State

WORKERS_ENV = "LLMREG_AUDIT_WORKERS"
PARALLEL_MIN_ENV = "LLMREG_AUDIT_PARALLEL_MIN"
PARALLEL_MIN = 8000
CHUNK = 2048


class ReplayReads(_MemoryReads):
    """The replayed state, read the way the gates read the projection, through indexes kept up
    to date by `observe` (called after each event is folded)."""

    def __init__(self, state: _State):
        self.folded = state
        self._evidence: dict[tuple, list] = defaultdict(list)
        self._reviews: dict[tuple, list] = defaultdict(list)
        self._approvals: dict[tuple, set] = defaultdict(set)
        self._evals: dict[tuple, list] = defaultdict(list)
        self._entries: dict[tuple, Any] = {}  # (name, version) -> Entry, parsed once (entries are immutable)

    def _state(self) -> _State:
        return self.folded

    def observe(self, type_: str, name: Any, version: Any, env: Any, payload: dict, actor: str) -> None:
        state = self.folded
        if type_ == ev.EVIDENCE_RECORDED:
            self._evidence[(name, version, env)].append(state.evidence[-1])
        elif type_ == ev.REVIEW_RECORDED:
            self._reviews[(name, version, env)].append(state.reviews[-1])
        elif type_ in (ev.APPROVAL_GRANTED, ev.APPROVAL_WITHDRAWN):
            self._approvals[(name, version, env)].add((name, version, env, payload["stage"], actor))
        elif type_ == ev.EVAL_RECORDED:
            self._evals[(name, version)].append(state.evals[-1])

    def remember_entry(self, name: str, version: str, entry: Any) -> None:
        self._entries[(name, version)] = entry

    def entry(self, name: str, version: str):
        found = self._entries.get((name, version))
        if found is None:
            from llmreg.registry.spec import Entry

            data = self.entry_data(name, version)
            if data is None:
                return None
            found = self._entries[(name, version)] = Entry.from_dict(data)
        return found

    # The folded rows are fresh from json.loads and never handed out for writing: no copies.
    def reviews(self, name: str, version: str, env: str) -> list[dict]:
        return [{"actor": a, "decision": d, "notes": notes, "seq": seq}
                for seq, _, _, _, a, d, notes in self._reviews.get((name, version, env), ())]

    def approvals(self, name: str, version: str, env: str, *, stage: str | None = None,
                  granted_only: bool = True) -> list[dict]:
        held = self.folded.approvals
        rows = sorted((held[key][1], key[4], key[3], held[key][0]) for key in self._approvals.get((name, version, env), ()))
        return [{"actor": a, "stage": st, "seq": seq} for seq, a, st, granted in rows
                if (stage is None or st == stage) and (granted or not granted_only)]

    def evidence(self, name: str, version: str, env: str) -> list[dict]:
        return [{"kind": k, "data": data, "actor": a, "seq": seq}
                for seq, _, _, _, k, a, data in self._evidence.get((name, version, env), ())]

    def eval_records(self, name: str, version: str) -> list[dict]:
        return [dict(report, actor=a, seq=seq) for seq, _, _, a, report in self._evals.get((name, version), ())]


# ---------------------------------------------------------------------------- signatures

def checker(public) -> Callable[[str, str], bool]:
    """check(event hash hex, signature base64) -> bool for one public key, parsed once. PyNaCl
    (libsodium, ~1.9x faster) when installed (`pip install llm-registry[fast-audit]`), else
    `cryptography`; both check the same SSHSIG bytes."""
    import base64
    import binascii

    from llmreg.registry.signatures import EVENT_NAMESPACE, signed_data, verify_event_signature

    try:
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey
    except ImportError:
        crypto = public.crypto_key()
        return lambda digest, sig: verify_event_signature(crypto, digest, sig)
    import hashlib

    verify = VerifyKey(public.raw).verify
    b64decode, sha512 = base64.b64decode, hashlib.sha512
    # signed_data(ns, m) is a constant prefix + sha512(m): built once, not per event.
    prefix = signed_data(EVENT_NAMESPACE, b"")[:-64]

    def check(digest: str, sig: str) -> bool:
        try:
            raw = b64decode(sig, validate=True)
            if len(raw) != 64 or len(digest) != 64:
                return False
            verify(prefix + sha512(digest.encode("ascii")).digest(), raw)
        except (BadSignatureError, binascii.Error, ValueError, UnicodeError):
            return False
        return True
    return check


def _verify_chunk(args: tuple[dict[str, str], list[tuple]]) -> list[int]:
    """In a worker: the seqs of `items` (seq, digest, signer, sig) that do not verify, or whose
    signer has no key here (the walk re-checks those inline, with the keys bound then)."""
    from llmreg.registry.keys import PublicKey

    lines, items = args
    checks: dict[str, Any] = {}
    bad = []
    for seq, digest, signer, sig in items:
        check = checks.get(signer)
        if check is None:
            line = lines.get(signer)
            public = PublicKey.parse(line) if line else None
            check = checks[signer] = (checker(public) if public is not None and public.fingerprint == signer
                                      else (lambda d, s: False))
        if not sig or not check(digest, sig):
            bad.append(seq)
    return bad


def workers_wanted(signed: int, env: Mapping[str, str] | None = None) -> int:
    """Worker processes for a log with `signed` events to check (0: check them inline)."""
    import threading

    found: Mapping[str, str] = os.environ if env is None else env
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return 0  # forking a process with other threads running (a gateway, a Dagster run) is not safe
    try:
        minimum = int(found.get(PARALLEL_MIN_ENV, PARALLEL_MIN))
        wanted = int(found[WORKERS_ENV]) if found.get(WORKERS_ENV) else min(4, (os.cpu_count() or 1) - 1)
    except ValueError:
        return 0
    return wanted if wanted > 0 and signed >= minimum else 0


class SignatureBatch:
    """Wraps the walk's row iterator: rows are read a few chunks ahead of the walk and each chunk's
    signatures (events after `after_seq`) go to worker processes as soon as it is read."""

    AHEAD = 6  # chunks in flight: enough to keep the workers busy, memory stays bounded

    def __init__(self, rows, lines: dict[str, str], after_seq: int, workers: int):
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self._rows = iter(rows)
        self._lines = lines
        self._after = after_seq
        # fork: cheap, and re-imports no __main__ (spawn/forkserver would run an unguarded
        # script again); workers_wanted allows it only while this process has one thread.
        self._pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"))
        self._queue: list = []  # (rows, future) in log order
        self._verdicts: dict[int, tuple[str, bool]] = {}  # seq -> (digest checked, bad)

    def _read_chunk(self) -> bool:
        chunk = []
        for row in self._rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                break
        if not chunk:
            return False
        items = [(r[0], r[10], r[11], r[12]) for r in chunk if r[11] is not None and r[0] > self._after]
        self._queue.append((chunk, items, self._pool.submit(_verify_chunk, (self._lines, items)) if items else None))
        return True

    def __iter__(self):
        while len(self._queue) < self.AHEAD and self._read_chunk():
            pass
        while self._queue:
            chunk, items, future = self._queue.pop(0)
            while len(self._queue) < self.AHEAD and self._read_chunk():
                pass
            bad = set(future.result()) if future is not None else set()
            self._verdicts = {seq: (digest, seq in bad) for seq, digest, _, _ in items}
            yield from chunk

    def bad(self, seq: int, digest: str) -> bool | None:
        """The worker's verdict on event `seq` with this hash; None when it did not check it."""
        found = self._verdicts.get(seq)
        if found is None or found[0] != digest:
            return None
        return found[1]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
