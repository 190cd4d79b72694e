"""The retrieval half of the rag-stack example: a small but real embed -> index -> search -> rerank.

The embedder is feature hashing (words, optionally word pairs, hashed into `dim` signed
buckets, L2-normalised): deterministic on every machine, so an index rebuilt from the same
documents and embedder config is byte-identical and its content hash is its version.

    python rag.py build --docs kb/docs-2026-07-01.jsonl --embedder embedders/hash-embedder-1.0.0.yaml \
        --out index/2026-07-01
    python rag.py search --index index/2026-07-01 --embedder embedders/hash-embedder-1.0.0.yaml \
        --reranker rerankers/overlap-reranker-1.2.0.yaml "how long does shipping to japan take"
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import struct
import sys
from pathlib import Path

_WORD = re.compile(r"[a-z0-9]+")


def load_config(path: str | Path) -> dict:
    from llmreg.registry.documents import read_document
    from llmreg.registry.errors import BadInput

    try:
        data = read_document(path, "component config")
    except BadInput as exc:
        raise SystemExit(str(exc)) from None
    for key in ("name", "version"):
        if not isinstance(data, dict) or not data.get(key):
            raise SystemExit(f"{path}: field {key!r} is missing; a component config needs name and version")
    return data


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def embed(text: str, embedder: dict) -> list[float]:
    # The gateway's own implementation: the vectors an index is built with are the ones served.
    from llmreg.serving.backends.hash_embedder import embed_text

    return embed_text(text, embedder)[0]


def _dump(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def build_index(docs_path: str | Path, embedder_path: str | Path, out: str | Path) -> Path:
    """Write out/{docs.jsonl, vectors.f16, manifest.json}: same inputs, same bytes."""
    docs_path, out = Path(docs_path), Path(out)
    embedder = load_config(embedder_path)
    docs = [json.loads(line) for line in docs_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    (out / "docs.jsonl").write_bytes(docs_path.read_bytes())
    with open(out / "vectors.f16", "wb") as handle:  # little-endian float16, one row per document
        for doc in docs:
            vector = embed(doc["title"] + " " + doc["text"], embedder)
            handle.write(struct.pack(f"<{len(vector)}e", *vector))
    _dump(out / "manifest.json", {
        "embedder": f"{embedder['name']}@{embedder['version']}",
        "embedder_sha256": hashlib.sha256(Path(embedder_path).read_bytes()).hexdigest(),
        "docs_sha256": hashlib.sha256(docs_path.read_bytes()).hexdigest(),
        "count": len(docs), "dim": int(embedder["dim"]),
    })
    return out


def search(index: str | Path, embedder: dict, reranker: dict, query: str, k: int = 3) -> list[dict]:
    """Cosine top-`candidates` from the index, reranked by word overlap; the best `k`."""
    index = Path(index)
    manifest = json.loads((index / "manifest.json").read_text())
    if manifest["embedder"] != f"{embedder['name']}@{embedder['version']}":
        raise SystemExit(f"{index} was built with {manifest['embedder']}, not "
                         f"{embedder['name']}@{embedder['version']}; rebuild the index or pass its embedder")
    docs = [json.loads(line) for line in (index / "docs.jsonl").read_text().splitlines() if line.strip()]
    raw = (index / "vectors.f16").read_bytes()
    dim = manifest["dim"]
    rows = [struct.unpack_from(f"<{dim}e", raw, i * dim * 2) for i in range(len(docs))]
    q = embed(query, embedder)
    scored = sorted(((sum(a * b for a, b in zip(q, row)), doc) for row, doc in zip(rows, docs)),
                    key=lambda pair: -pair[0])[: int(reranker.get("candidates", 5))]
    asked = set(words(query))
    weight = float(reranker.get("lexical_weight", 0.5))

    def rerank(pair: tuple[float, dict]) -> float:
        score, doc = pair
        overlap = len(asked & set(words(doc["title"] + " " + doc["text"]))) / (len(asked) or 1)
        return (1 - weight) * score + weight * overlap

    return [dict(doc, score=round(rerank(pair), 4)) for pair in sorted(scored, key=rerank, reverse=True)[:k]
            for doc in (pair[1],)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build or query the example's vector index.")
    sub = parser.add_subparsers(dest="verb", required=True)
    b = sub.add_parser("build")
    b.add_argument("--docs", required=True)
    b.add_argument("--embedder", required=True)
    b.add_argument("--out", required=True)
    s = sub.add_parser("search")
    s.add_argument("--index", required=True)
    s.add_argument("--embedder", required=True)
    s.add_argument("--reranker", required=True)
    s.add_argument("query")
    args = parser.parse_args(argv)
    if args.verb == "build":
        print(f"built {build_index(args.docs, args.embedder, args.out)}")
    else:
        for hit in search(args.index, load_config(args.embedder), load_config(args.reranker), args.query):
            print(f"{hit['score']:.3f}  {hit['id']}  {hit['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
