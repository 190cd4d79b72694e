"""Event signature cost: sign (per registration) and verify (per event in `audit verify`).

    .venv/bin/python -m bench.signature_bench [--events 20000] [--workers 2]

Verifies N distinct event signatures (SSHSIG over the event hash, what
`verify_event_signature` checks) made by 8 keys, with the public keys parsed once as the
audit would; best of 3 rounds. Also the bare ed25519 verify of `cryptography` (the floor),
PyNaCl's (libsodium) when it is importable, and N signatures split over worker processes.
Target: >= 10,000 events/s with signatures checked.
"""
from __future__ import annotations

import argparse
import base64
import os
import time
from concurrent.futures import ProcessPoolExecutor

from llmreg.registry import signatures
from llmreg.registry.keys import SigningKey
from llmreg.registry.signatures import sign_event_hash, verify_event_signature


def _events(n: int, keys: list[SigningKey]) -> list[tuple[int, str, str]]:
    import hashlib

    out = []
    for i in range(n):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        signature, _ = sign_event_hash(keys[i % len(keys)], digest)
        out.append((i % len(keys), digest, signature))
    return out


def _best(fn, rounds: int = 3) -> float:
    """Best wall time; the CPU time of that round goes to _LAST_CPU (on a shared machine the
    CPU-time rate is what one idle core would do)."""
    global _LAST_CPU
    best = float("inf")
    for _ in range(rounds):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, _LAST_CPU = wall, time.process_time() - cpu
    return best


_LAST_CPU = 0.0


def _rate(label: str, n: int, wall: float) -> None:
    print(f"{label:<40}{n / wall:>10,.0f} events/s  ({wall / n * 1e6:.1f} us/event wall; "
          f"{n / max(_LAST_CPU, 1e-9):,.0f}/s per CPU-second)")


def _verify_chunk(args) -> int:
    publics, events = args
    from llmreg.registry.keys import PublicKey

    crypto = [PublicKey.parse(line).crypto_key() for line in publics]
    ok = 0
    for index, digest, signature in events:
        ok += verify_event_signature(crypto[index], digest, signature)
    return ok


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    keys = [SigningKey.generate(f"k{i}") for i in range(8)]
    n = args.events
    sign_s = _best(lambda: _events(n, keys), rounds=1)
    events = _events(n, keys)
    crypto = [k.public.crypto_key() for k in keys]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {n} events, 8 keys")
    print(f"sign_event_hash (cryptography)          {n / sign_s:>10,.0f} events/s")

    def verify_all():
        bad = sum(not verify_event_signature(crypto[i], d, s) for i, d, s in events)
        assert bad == 0

    _rate("verify_event_signature (cryptography)", n, _best(verify_all))

    from llmreg.registry.audit_replay import checker

    checks = [checker(k.public) for k in keys]  # what `audit verify` runs per event, key parsed once

    def audit_checker():
        bad = sum(not checks[i](d, s) for i, d, s in events)
        assert bad == 0

    _rate("audit_replay.checker (audit verify)", n, _best(audit_checker))

    prepared = [(crypto[i], base64.b64decode(s), signatures.signed_data(signatures.EVENT_NAMESPACE, d.encode()))
                for i, d, s in events]
    _rate("bare Ed25519PublicKey.verify (floor)", n, _best(lambda: [key.verify(sig, msg) for key, sig, msg in prepared]))

    try:
        from nacl.signing import VerifyKey
    except ImportError:
        print("PyNaCl                                  not installed (pip install pynacl to compare)")
    else:
        nacl_keys = [VerifyKey(k.public.raw) for k in keys]
        nacl_prepared = [(nacl_keys[i], sig, msg) for (i, _, _), (_, sig, msg) in zip(events, prepared)]
        _rate("bare PyNaCl VerifyKey.verify", n, _best(lambda: [key.verify(msg, sig) for key, sig, msg in nacl_prepared]))

    if args.workers > 1:
        publics = [k.public.openssh() for k in keys]
        size = -(-n // args.workers)
        chunks = [(publics, events[i:i + size]) for i in range(0, n, size)]
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(_verify_chunk, chunks))  # start the workers outside the timing
            t = _best(lambda: sum(pool.map(_verify_chunk, chunks)))
        print(f"verify_event_signature, {args.workers} processes    {n / t:>10,.0f} events/s")


if __name__ == "__main__":
    main()
