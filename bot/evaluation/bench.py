"""Benchmarks (a script, not a test): warm latency vs the embedding+query floor, cold start, RSS, ingest rate.

Runs against private temporary data folders so it never contends with a running app for the store lock.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.settings import Settings

BENCH_SET = Path("tests/data/qa/own.dev.jsonl")  # questions of every category, from the QA data


def bench_questions(path: Path = BENCH_SET, n: int = 24) -> tuple[str, ...]:
    """The first `n` questions of a QA file, spread over its categories (round robin)."""
    by_category: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            cat = item.get("expected_category") or "any"
            by_category.setdefault(str(cat[0] if isinstance(cat, list) else cat), []).append(item["question"])
    rows = list(by_category.values())
    picked = [row[i] for i in range(max(map(len, rows), default=0)) for row in rows if i < len(row)]
    return tuple(picked[:n])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _scaled_knowledge(source: Path, target: Path, copies: int) -> None:
    """`copies` copies of every knowledge file, each with its own document id (so passages are distinct)."""
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for i in range(copies):
            body = re.sub(r"^id: (.+)$", rf"id: \1-copy{i}", text, count=1, flags=re.MULTILINE)
            if body == text:
                body = f"---\nid: {path.stem}-copy{i}\n---\n{text}"
            (target / f"{path.stem}-{i:04d}.md").write_text(body, encoding="utf-8")


def run_benchmarks(settings: Settings, *, questions: int = 200, scale: int = 100) -> dict[str, float]:
    import numpy as np

    from bot.chat import ChatBot
    from bot.corpus.documents import all_passages, load_knowledge
    from bot.corpus.embeddings import load_embeddings
    from bot.corpus.index import KnowledgeIndex, connect, release_locks

    console = Console()
    results: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="bot-bench-"))
    try:
        warm_dir = work / "warm"
        env = {**_env(), "BOT_DATA_DIR": str(warm_dir), "BOT_KNOWLEDGE_DIR": str(settings.knowledge_dir)}
        # Cold start first, while this process is still small: a forked child inherits the parent's RSS as
        # its starting high-water mark, so measuring later would report the parent's memory, not the child's.
        subprocess.run([sys.executable, "-m", "bot", "ingest"], capture_output=True, env=env, check=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "ask", bench_questions(n=1)[0], "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        results["cold_start_s"] = time.perf_counter() - t0
        json.loads(proc.stdout)
        results["answered_process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        bench_settings = settings.model_copy(update={"data_dir": warm_dir, "chroma_url": None})
        started = time.perf_counter()
        bot = ChatBot.from_settings(bench_settings)
        results["warm_build_s"] = time.perf_counter() - started
        pool = bench_questions()
        asked = [pool[i % len(pool)] for i in range(questions)]
        for q in pool:  # warm-up: first calls pay for lazy initialisation
            bot.ask(q)
        latencies, floors = [], []
        for q in asked:
            t0 = time.perf_counter()
            bot.ask(q)
            latencies.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            vector = bot.embeddings.embed_query(q)
            bot.index.search(np.asarray(vector), k=bench_settings.top_k)
            floors.append((time.perf_counter() - t0) * 1000)
        results["warm_p50_ms"] = statistics.median(latencies)
        results["warm_p95_ms"] = _pct(latencies, 0.95)
        results["floor_p50_ms"] = statistics.median(floors)
        results["floor_p95_ms"] = _pct(floors, 0.95)
        results["ratio_p50"] = results["warm_p50_ms"] / results["floor_p50_ms"]
        release_locks()

        # Ingest throughput on knowledge/ copied `scale` times, into a fresh store.
        big = work / "knowledge-x"
        _scaled_knowledge(settings.knowledge_dir, big, scale)
        passages = all_passages(load_knowledge(big))
        client, _ = connect(work / "ingest")
        index = KnowledgeIndex(
            client,
            load_embeddings(settings.embedding_model),
            collection="bench",
            model_name=settings.embedding_model,
        )
        t0 = time.perf_counter()
        index.sync(passages)
        elapsed = time.perf_counter() - t0
        sentences = sum(len(p.sentences) for p in passages)
        results["ingest_passages"] = len(passages)
        results["ingest_s"] = elapsed
        results["ingest_passages_per_s"] = len(passages) / elapsed
        results["ingest_texts_per_s"] = (len(passages) + sentences) / elapsed
        t0 = time.perf_counter()
        index.sync(passages)
        results["resync_unchanged_s"] = time.perf_counter() - t0
        release_locks()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"bench: {questions} warm questions, ingest x{scale}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:,.2f}")
    console.print(table)
    console.print(json.dumps({k: round(v, 3) for k, v in results.items()}))
    return results


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
