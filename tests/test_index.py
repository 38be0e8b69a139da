"""The Chroma index: incremental sync, rebuild of missing/empty/corrupt/mismatched stores, one writer at a time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from bot.corpus.documents import all_passages, load_knowledge
from bot.corpus.index import KnowledgeIndex, connect, release_locks
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


class CountingEmbeddings(Embeddings):
    """The real model, counting how many texts it is asked to embed (instrumentation, not a stand-in)."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.embedded += 1
        return self.inner.embed_query(text)


def _index(data: Path, embeddings: Embeddings, model: str = "all-MiniLM-L6-v2") -> KnowledgeIndex:
    client, _ = connect(data)
    return KnowledgeIndex(client, embeddings, collection="passages", model_name=model)


def test_ingest_twice_costs_no_embedding(tmp_path: Path, embeddings: Embeddings, knowledge_copy: Path) -> None:
    counting = CountingEmbeddings(embeddings)
    index = _index(tmp_path, counting)
    passages = all_passages(load_knowledge(knowledge_copy))
    first = index.sync(passages)
    assert first.added == len(passages) == index.count()
    assert counting.embedded == len(passages) + sum(len(p.sentences) for p in passages)
    counting.embedded = 0
    second = index.sync(passages)
    assert (second.added, second.removed, second.unchanged) == (0, 0, len(passages))
    assert counting.embedded == 0
    assert second.notice == ""


def test_changed_removed_and_new_files(tmp_path: Path, embeddings: Embeddings, knowledge_copy: Path) -> None:
    index = _index(tmp_path, embeddings)
    index.sync(all_passages(load_knowledge(knowledge_copy)))
    article = knowledge_copy / "halt-ms-news.md"
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("both minimal and expected", "both minimal and expected (edited)"), "utf-8")
    report = index.sync(all_passages(load_knowledge(knowledge_copy)))
    assert (report.added, report.removed) == (1, 1)
    stored = index.client.get_collection("passages").get()["documents"] or []
    assert any("(edited)" in d for d in stored)
    assert not any("minimal and expected. Three" in d for d in stored)

    (knowledge_copy / "faq.md").write_text("---\nid: faq\ntitle: FAQ\n---\nA new paragraph.\n", "utf-8")
    report = index.sync(all_passages(load_knowledge(knowledge_copy)))
    assert report.added == 1
    article.unlink()
    report = index.sync(all_passages(load_knowledge(knowledge_copy)))
    assert index.count() == 1 and report.removed == 12


def test_furniture_never_reaches_the_index(tmp_path: Path, embeddings: Embeddings, knowledge_copy: Path) -> None:
    index = _index(tmp_path, embeddings)
    index.sync(all_passages(load_knowledge(knowledge_copy)))
    for name in index.names:
        for doc in index.client.get_collection(name).get()["documents"] or []:
            for bit in ("Related Videos", "Image Credit", "Image credit", "©", "All rights reserved"):
                assert bit not in doc


def test_missing_store_is_rebuilt_and_says_so(tmp_path: Path, embeddings: Embeddings, knowledge_copy: Path) -> None:
    report = _index(tmp_path, embeddings).sync(all_passages(load_knowledge(knowledge_copy)))
    assert "built it from knowledge/" in report.notice


def test_other_model_index_is_rebuilt(tmp_path: Path, embeddings: Embeddings, knowledge_copy: Path) -> None:
    passages = all_passages(load_knowledge(knowledge_copy))
    _index(tmp_path, embeddings, model="some-other-model").sync(passages)
    report = _index(tmp_path, embeddings).sync(passages)
    assert "another model" in report.notice and "some-other-model" in report.notice
    assert report.added == len(passages)
    meta = _index(tmp_path, embeddings).client.get_collection("passages").metadata
    assert meta["embedding_model"] == "all-MiniLM-L6-v2"


def test_corrupt_store_is_moved_aside_and_rebuilt(tmp_path: Path, embeddings: Embeddings, knowledge_copy: Path) -> None:
    passages = all_passages(load_knowledge(knowledge_copy))
    _index(tmp_path, embeddings).sync(passages)
    release_locks()
    sqlite_file = tmp_path / "chroma" / "chroma.sqlite3"
    sqlite_file.write_bytes(b"this is not a database" * 100)
    client, notice = connect(tmp_path)
    assert "could not be read" in notice and "rebuilt" in notice
    assert list(tmp_path.glob("chroma.broken-*"))
    index = KnowledgeIndex(client, embeddings, collection="passages", model_name="all-MiniLM-L6-v2")
    report = index.sync(passages)
    assert report.added == len(passages) and index.count() == len(passages)


_OPENER = """
import sys, time
from pathlib import Path
from bot.corpus.index import StoreBusyError, connect
started = time.perf_counter()
try:
    connect(Path(sys.argv[1]))
except StoreBusyError as exc:
    print("BUSY", round(time.perf_counter() - started, 2), exc)
    sys.exit(3)
print("OPENED")
"""


def test_second_process_gets_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    connect(tmp_path)  # this process holds the embedded store
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _OPENER, str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "open in another process" in proc.stdout and "BOT_CHROMA_URL" in proc.stdout
    assert time.perf_counter() - started < 30
    release_locks()
    proc = subprocess.run(
        [sys.executable, "-c", _OPENER, str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.stdout.strip() == "OPENED", proc.stderr


def test_same_process_can_reconnect(tmp_path: Path) -> None:
    connect(tmp_path)
    client, notice = connect(tmp_path)
    assert notice == ""
    client.heartbeat()


def test_bad_chroma_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not a URL"):
        connect(Path("unused"), "not a url")
