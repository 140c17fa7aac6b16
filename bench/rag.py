"""RAG index build and query latency: RAGBaseline vs LangChain's FAISS used directly, same embeddings.

Both sides index the same precomputed vectors: a 2,000-chunk sample is embedded once and each vector
repeated with small noise up to the size wanted (embedding 100k chunks on a laptop CPU takes minutes,
and it is the same model on both sides, so embedding is timed separately, on the sample). Query
latency is end to end: embed the question, search, return k Documents with scores; "search p50" is
the vector search alone. The near-duplicate vectors make approximate (HNSW) search harder than real
text does, so its recall here is a lower bound.

    python -m bench.rag            # full: 10k and 100k chunks
    python -m bench.rag --quick    # 2k chunks, to check it works
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any

K = 4
TARGET_P50_MS = 20.0
WORDS = ("harbour tide lantern turbine kelp heron granite ferry census college railway market comet anthem "
         "mill strait otter rowing festival juniper bridge lighthouse pump island council bakery glacier "
         "orchard quarry ledger medal observatory dessert chess village cliff moor storm beacon").split()


def synthetic_chunks(count: int, seed: int = 0) -> list[str]:
    """Record-like chunks of about 40 words."""
    rng = random.Random(seed)
    return [f"Record {i}: " + " ".join(rng.choice(WORDS) for _ in range(40)) + "." for i in range(count)]


def synthetic_queries(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"What happened to the {rng.choice(WORDS)} near the {rng.choice(WORDS)} in record {rng.randrange(10**5)}?"
            for _ in range(count)]


def expand(vectors: Any, count: int, seed: int = 0) -> Any:
    """`count` distinct unit vectors near the sampled real ones (each real vector plus small noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = vectors[np.arange(count) % len(vectors)] + rng.normal(0, 0.3 / vectors.shape[1] ** 0.5,
                                                                   (count, vectors.shape[1])).astype("float32")
    return np.ascontiguousarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype="float32")


def latencies_ms(search, queries: list[str]) -> dict[str, float]:
    for query in queries[:5]:
        search(query)                                  # warm-up: caches, thread pools
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}


def embedding_throughput(ours: Any, langchain: Any, texts: list[str]) -> dict[str, float]:
    result = {}
    for name, embed in (("rag_baseline", ours.embed_array), ("langchain", langchain.embed_documents)):
        start = time.perf_counter()
        embed(texts)
        result[name] = len(texts) / (time.perf_counter() - start)
    return result


def bench_size(count: int, vectors: Any, ours: Any, langchain: Any, queries: list[str], graph: bool) -> list[dict]:
    """Build and query one index size on both sides; with `graph`, RAGBaseline's HNSW index too."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    from rag_baseline import RAGBaseline

    texts, matrix = synthetic_chunks(count), expand(vectors, count)
    query_vectors = ours.embed_array(queries)
    rows, exact = [], None
    for kind in ("flat", "hnsw") if graph else ("flat",):
        start = time.perf_counter()
        rag = RAGBaseline.from_embeddings(texts, matrix, embedder=ours, index=kind)
        build = time.perf_counter() - start
        top = [[doc.id for doc in docs] for docs in rag.retrieve_many(queries, K)]
        exact = exact or top
        rows.append({"impl": f"rag_baseline ({kind})", "chunks": count, "build_s": build,
                     **latencies_ms(lambda q: rag.retrieve(q, K), queries),
                     "search_p50_ms": _search_p50(rag.store, query_vectors),
                     "batch_queries_per_s": _batch_rate(rag, queries), f"recall@{K}_vs_exact": _recall(top, exact)})
    start = time.perf_counter()
    store = FAISS.from_embeddings(list(zip(texts, list(matrix))), langchain,
                                  distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    build = time.perf_counter() - start
    rows.append({"impl": "langchain FAISS", "chunks": count, "build_s": build,
                 **latencies_ms(lambda q: store.similarity_search_with_score(q, k=K), queries),
                 "search_p50_ms": _search_p50(store, query_vectors)})
    return rows


def _search_p50(store: Any, query_vectors: Any) -> float:
    """Median time of the vector search alone (query already embedded), in ms."""
    times = []
    for vector in query_vectors:
        start = time.perf_counter()
        store.similarity_search_with_score_by_vector(vector.tolist(), k=K)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _batch_rate(rag: Any, queries: list[str]) -> float:
    start = time.perf_counter()
    rag.retrieve_many(queries, K)
    return len(queries) / (time.perf_counter() - start)


def _recall(found: list[list[str]], exact: list[list[str]]) -> float:
    """Share of the exact top-k found, averaged over queries."""
    return sum(len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)) / len(exact)


def run(quick: bool = False) -> dict:
    """Time both sides at each size; returns rows, embedding throughput and whether p50 meets the target."""
    import numpy as np
    from langchain_huggingface import HuggingFaceEmbeddings

    from rag_baseline.embeddings import SentenceEmbeddings, default_embedder_path

    sizes, sample, query_count = ([2_000], 128, 20) if quick else ([10_000, 100_000], 2_000, 200)
    path = str(default_embedder_path())
    ours = SentenceEmbeddings(path, name="all-MiniLM-L6-v2")
    langchain = HuggingFaceEmbeddings(model_name=path, model_kwargs={"device": "cpu"},
                                      encode_kwargs={"normalize_embeddings": True})
    texts = synthetic_chunks(sample, seed=7)
    throughput = embedding_throughput(ours, langchain, texts[: min(sample, 512)])
    vectors = ours.embed_array(texts)
    queries = synthetic_queries(query_count)
    rows = []
    for count in sizes:
        rows += bench_size(count, np.asarray(vectors), ours, langchain, queries, graph=count >= 100_000)
        print(f"rag bench: {count} chunks done", file=sys.stderr, flush=True)
    best = min(row["p50_ms"] for row in rows if row["chunks"] == sizes[-1] and row["impl"].startswith("rag_baseline"))
    return {"k": K, "queries": query_count, "embedding_chunks_per_s": throughput, "rows": rows,
            "target_p50_ms": TARGET_P50_MS, "p50_at_largest_ms": best, "target_met": best <= TARGET_P50_MS}


def table(result: dict) -> str:
    """The rows as a fixed-width table."""
    recall = f"recall@{K}_vs_exact"
    lines = [f"{'impl':<22}{'chunks':>9}{'build s':>10}{'p50 ms':>9}{'p95 ms':>9}{'search p50':>11}"
             f"{'batch q/s':>11}{'recall':>8}"]
    for row in result["rows"]:
        batch = f"{row['batch_queries_per_s']:.0f}" if "batch_queries_per_s" in row else "-"
        found = f"{row[recall]:.2f}" if recall in row else "-"
        lines.append(f"{row['impl']:<22}{row['chunks']:>9}{row['build_s']:>10.2f}{row['p50_ms']:>9.1f}"
                     f"{row['p95_ms']:>9.1f}{row['search_p50_ms']:>11.2f}{batch:>11}{found:>8}")
    rates = result["embedding_chunks_per_s"]
    lines.append(f"embedding: rag_baseline {rates['rag_baseline']:.0f} chunks/s, langchain "
                 f"{rates['langchain']:.0f} chunks/s; query p50 at the largest size "
                 f"{result['p50_at_largest_ms']:.1f} ms (target <= {result['target_p50_ms']:.0f} ms: "
                 f"{'met' if result['target_met'] else 'NOT met'})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rag", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k chunks only")
    print(table(run(parser.parse_args(argv).quick)))


if __name__ == "__main__":
    main()
