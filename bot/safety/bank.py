"""The labelled example bank (`data/bank.yaml`): messages of each emergency kind, calm look-alikes, advice
requests, general questions and off-topic ones, embedded once per model and bank version and cached on disk."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from langchain_core.embeddings import Embeddings

DATA = Path(__file__).resolve().parent / "data"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bank:
    """The labelled example bank: texts, their labels ('emergency:stroke', 'calm', ...) and unit vectors."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    vectors: np.ndarray

    def neighbours(self, vectors: np.ndarray, k: int = 5) -> list[list[tuple[float, str, str]]]:
        """For each row of `vectors`: the k nearest (similarity, label, text), best first."""
        if not len(self.texts) or not len(vectors):
            return [[] for _ in range(len(vectors))]
        sims = vectors @ self.vectors.T
        out = []
        for row in sims:
            top = np.argsort(-row)[:k]
            out.append([(float(row[i]), self.labels[i], self.texts[i]) for i in top])
        return out


@lru_cache(maxsize=1)
def bank_texts() -> tuple[tuple[str, str], ...]:
    raw: dict[str, Any] = yaml.safe_load((DATA / "bank.yaml").read_text(encoding="utf-8"))
    items: list[tuple[str, str]] = []
    for kind, texts in raw["emergency"].items():
        items += [(f"emergency:{kind}", str(t)) for t in texts]
    for label in ("calm", "advice", "general", "out_of_scope"):
        items += [(label, str(t)) for t in raw[label]]
    return tuple(items)


def load_bank(embeddings: Embeddings, cache_dir: Path | str | None) -> Bank:
    """Embed the bank once per model and bank version; cache the vectors in `cache_dir` when given."""
    items = bank_texts()
    labels = tuple(label for label, _ in items)
    texts = tuple(text for _, text in items)
    model = str(getattr(embeddings, "model_name", type(embeddings).__name__))
    key = hashlib.sha256(repr((model, items)).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"safety-bank-{key}.npy" if cache_dir else None
    if cache is not None and cache.exists():
        try:
            vectors = np.load(cache)
            if vectors.shape[0] == len(texts):
                return Bank(texts, labels, vectors)
        except (OSError, ValueError):
            log.warning("safety bank cache %s unreadable; recomputing", cache)
    vectors = np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return Bank(texts, labels, vectors)
