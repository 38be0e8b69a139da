"""Passages and their sentences in Chroma: idempotent incremental sync, model check, rebuild when broken."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from filelock import FileLock, Timeout
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from bot.corpus.documents import Passage

SCHEMA = "2"
_LOCKS: dict[Path, FileLock] = {}

Progress = Callable[[int, int], None]
Vector = Sequence[float] | np.ndarray


class StoreBusyError(RuntimeError):
    """Another process has the embedded Chroma store open; Chroma would hang for minutes, so we refuse."""


@dataclass(frozen=True)
class SyncReport:
    """What one sync did; `notice` tells a person when the store had to be rebuilt and why."""

    added: int
    removed: int
    unchanged: int
    rebuilt: bool = False
    notice: str = ""


@dataclass(frozen=True)
class _Item:
    id: str
    text: str
    meta: dict[str, str | int]


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def connect(data_dir: Path, chroma_url: str | None = None) -> tuple[ClientAPI, str]:
    """A Chroma client: the server at `chroma_url`, else the embedded store in `data_dir/chroma`.

    Returns the client and a notice (non-empty when an unreadable store was moved aside and started afresh).
    The embedded store is guarded by a file lock: a second process gets StoreBusyError at once.
    """
    if chroma_url:
        url = urlparse(chroma_url)
        if not url.hostname:
            raise ValueError(f"BOT_CHROMA_URL {chroma_url!r} is not a URL like http://127.0.0.1:8000")
        client = chromadb.HttpClient(
            host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https", settings=_chroma_settings()
        )
        client.heartbeat()
        return client, ""
    path = (data_dir / "chroma").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    _lock(path)
    try:
        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        client.list_collections()
        return client, ""
    except Exception as exc:
        chromadb.api.client.SharedSystemClient.clear_system_cache()
        aside = path.with_name(f"chroma.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(str(path), aside)
        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        return client, (
            f"The knowledge store could not be read ({type(exc).__name__}); it was moved to {aside.name} "
            "and rebuilt from knowledge/."
        )


def _lock(path: Path) -> None:
    if path in _LOCKS:
        return
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0.2)
    except Timeout as exc:
        raise StoreBusyError(
            f"The knowledge store {path} is open in another process (the app or another command). "
            "Stop that process first, or run a Chroma server and set BOT_CHROMA_URL so several processes can share it."
        ) from exc
    _LOCKS[path] = lock


def release_locks() -> None:
    """Let go of every embedded-store lock this process holds (tests and clean shutdown)."""
    chromadb.api.client.SharedSystemClient.clear_system_cache()
    while _LOCKS:
        _, lock = _LOCKS.popitem()
        lock.release()


class KnowledgeIndex:
    """Two Chroma collections kept in step with knowledge/: passages (retrieval) and sentences (support check)."""

    def __init__(self, client: ClientAPI, embeddings: Embeddings, *, collection: str, model_name: str) -> None:
        self.client = client
        self.embeddings = embeddings
        self.names = (collection, f"{collection}_sentences")
        self.model_name = model_name
        self._stores: dict[str, Chroma] = {}
        self._size: int | None = None

    def _meta(self) -> dict[str, str]:
        return {"embedding_model": self.model_name, "schema": SCHEMA}

    def _store(self, name: str) -> Chroma:
        if name not in self._stores:
            self._stores[name] = Chroma(
                client=self.client,
                collection_name=name,
                embedding_function=self.embeddings,
                collection_metadata={**self._meta(), "hnsw:space": "cosine"},
            )
        return self._stores[name]

    def _check_model(self) -> str:
        """Drop collections built by another model or schema; say so."""
        reasons = []
        existing = {c.name: c for c in self.client.list_collections()}
        for name in self.names:
            coll = existing.get(name)
            if coll is None:
                continue
            meta = coll.metadata or {}
            if meta.get("embedding_model") != self.model_name or meta.get("schema") != SCHEMA:
                reasons.append(f"{name} was built with {meta.get('embedding_model')!r} (schema {meta.get('schema')})")
                self.client.delete_collection(name)
                self._stores.pop(name, None)
        if reasons:
            return f"The index was built with another model or format ({'; '.join(reasons)}); rebuilt it."
        return ""

    def sync(self, passages: Sequence[Passage], progress: Progress | None = None) -> SyncReport:
        """Make Chroma hold exactly these passages (and their sentences), embedding only what is new."""
        notice = self._check_model()
        self._size = None
        passage_items = [_Item(p.id, p.text, p.metadata()) for p in passages]
        sentence_items = [
            _Item(sentence_id(p, i), s, {**p.metadata(), "passage_id": p.id, "sentence": i})
            for p in passages
            for i, s in enumerate(p.sentences)
        ]
        was_empty = all(self._store(n)._collection.count() == 0 for n in self.names)
        todo = [(self.names[0], passage_items), (self.names[1], sentence_items)]
        plans = [(name, items, set(self._ids(name))) for name, items in todo]
        total = sum(len({i.id for i in items} - have) for _, items, have in plans)
        done = added = removed = unchanged = 0
        for name, items, have in plans:
            want = {i.id: i for i in items}
            stale = sorted(have - want.keys())
            if stale:
                self._store(name).delete(ids=stale)
            new = [want[i] for i in want if i not in have]
            for start in range(0, len(new), 256):
                batch = new[start : start + 256]
                self._store(name).add_texts(
                    [b.text for b in batch], metadatas=[b.meta for b in batch], ids=[b.id for b in batch]
                )
                done += len(batch)
                if progress:
                    progress(done, total)
            if name == self.names[0]:
                added, removed, unchanged = len(new), len(stale), len(want) - len(new)
        if was_empty and passages and not notice:
            notice = "The knowledge index was empty or missing; built it from knowledge/."
        return SyncReport(added, removed, unchanged, rebuilt=bool(notice), notice=notice)

    def _ids(self, name: str) -> list[str]:
        return list(self._store(name)._collection.get(include=[])["ids"])

    def count(self) -> int:
        return int(self._store(self.names[0])._collection.count())

    def search(self, vector: Vector, k: int) -> list[tuple[str, float]]:
        """Nearest passages to a query vector: (passage id, cosine similarity), best first."""
        if self._size is None:  # counted once per sync: a count is a round trip to Chroma on every query
            self._size = self.count()
        k = min(k, max(self._size, 1))
        hits = self._store(self.names[0]).similarity_search_by_vector_with_relevance_scores(
            np.asarray(vector, dtype=float).tolist(), k=k
        )
        return [(str(doc.id), 1.0 - float(distance)) for doc, distance in hits]

    def sentence_vectors(self) -> tuple[list[str], np.ndarray]:
        """All sentence ids and their stored vectors (loaded once; no embedding work)."""
        got = self._store(self.names[1])._collection.get(include=["embeddings"])
        ids = list(got["ids"])
        vectors = np.asarray(got["embeddings"], dtype=np.float32) if ids else np.zeros((0, 1), np.float32)
        return ids, vectors


def sentence_id(passage: Passage, index: int) -> str:
    return f"{passage.id}:{index}"
