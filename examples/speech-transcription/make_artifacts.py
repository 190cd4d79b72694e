"""Regenerate this example's binary model files: deterministic bytes standing in for weights.

    python examples/speech-transcription/make_artifacts.py

Each file is a small header (magic, JSON metadata) followed by float16 weights drawn from a
seeded generator, so the same metadata always gives the same bytes and the same sha256: the
entry files pin those checksums, and the registry re-hashes the files at every promotion.
"""
from __future__ import annotations

import json
import random
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = {
    # the frozen multilingual encoder/decoder every acoustic fine-tune starts from
    "models/asr-base-v3.bin": {"kind": "base", "arch": "conformer-ctc", "layers": 12, "seed": 3, "weights": 2048},
    # acoustic fine-tunes: 2026-05 (baseline), 2026-06 (more en-US hours), 2026-07 (accent-balanced)
    "models/acoustic-2026-05.bin": {"kind": "acoustic", "train_hours": {"en-US": 900, "en-IN": 300}, "seed": 5,
                                    "weights": 4096},
    "models/acoustic-2026-06.bin": {"kind": "acoustic", "train_hours": {"en-US": 2400, "en-IN": 300}, "seed": 6,
                                    "weights": 4096},
    "models/acoustic-2026-07.bin": {"kind": "acoustic", "train_hours": {"en-US": 2400, "en-IN": 1200}, "seed": 7,
                                    "weights": 4096},
}


def model_bytes(meta: dict) -> bytes:
    header = json.dumps(meta, sort_keys=True).encode("utf-8")
    draw = random.Random(meta["seed"])
    weights = struct.pack(f"<{meta['weights']}e", *(draw.gauss(0.0, 0.02) for _ in range(meta["weights"])))
    return b"ASRM" + struct.pack("<I", len(header)) + header + weights


def main() -> int:
    for rel, meta in FILES.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model_bytes(meta))
        print(f"wrote {rel} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
