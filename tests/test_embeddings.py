"""The embedding factory: the packaged model run by ONNX Runtime gives sentence-transformers' vectors, is exported
once per cache folder, and a model the export does not fit still loads (through sentence-transformers)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from bot.corpus.embeddings import DEFAULT_CACHE, OnnxEmbeddings, exported_path, load_embeddings, resolve_model
from bot.settings import DEFAULT_MODEL

pytestmark = pytest.mark.slow

TEXTS = [
    "How many people took part in the study?",
    "what are the side efects of the stem cell treatment",
    "",
    "¿Cuántas personas participaron en el estudio?",
    "relapse " * 400,  # longer than the model's 256 tokens: truncated as sentence-transformers truncates
]


def test_the_default_model_runs_on_onnx_and_gives_sentence_transformers_vectors(embeddings: Embeddings) -> None:
    from langchain_huggingface import HuggingFaceEmbeddings

    assert isinstance(embeddings, OnnxEmbeddings)
    reference = HuggingFaceEmbeddings(
        model=resolve_model(DEFAULT_MODEL), model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    ours = np.asarray(embeddings.embed_documents(TEXTS))
    theirs = np.asarray(reference.embed_documents(TEXTS))
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.abs(np.asarray(embeddings.embed_query(TEXTS[0])) - theirs[0]).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert embeddings.embed_documents([]) == []
    # More texts than a batch, of mixed lengths: each vector comes back in its text's place.
    many = [f"{'more words ' * (i % 9)}question number {i}" for i in range(70)]
    assert np.abs(np.asarray(embeddings.embed_documents(many)) - reference.embed_documents(many)).max() < 1e-5


def _model_copy(tmp_path: Path) -> Path:
    """A folder that links to the packaged model's files, so a test can change one config file of it."""
    source = Path(resolve_model(DEFAULT_MODEL))
    folder = tmp_path / "model"
    for path in source.rglob("*"):
        if path.is_file():
            (folder / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, folder / path.relative_to(source))
    return folder


def test_a_model_is_exported_once_into_its_cache_then_reused(tmp_path: Path, embeddings: Embeddings) -> None:
    folder = _model_copy(tmp_path)
    cache = tmp_path / "cache"
    first = load_embeddings(str(folder), cache=cache)
    exported = exported_path(folder, cache)
    assert exported.is_file() and [p.name for p in cache.iterdir()] == [exported.name]  # no temporary file left
    made = exported.stat().st_mtime_ns
    second = load_embeddings(str(folder), cache=cache)
    assert exported.stat().st_mtime_ns == made
    vectors = [np.asarray(e.embed_query(TEXTS[1])) for e in (first, second, embeddings)]
    assert np.abs(vectors[0] - vectors[2]).max() < 1e-5 and np.array_equal(vectors[0], vectors[1])
    # The shipped environment's export is where `make install` put it, not in a data folder.
    assert exported_path(Path(resolve_model(DEFAULT_MODEL))).parent == DEFAULT_CACHE


def test_a_model_that_is_not_mean_pooled_loads_through_sentence_transformers(tmp_path: Path) -> None:
    from langchain_huggingface import HuggingFaceEmbeddings

    folder = _model_copy(tmp_path)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    pooling.unlink()
    pooling.write_text(json.dumps(config | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    cache = tmp_path / "cache"
    loaded = load_embeddings(str(folder), cache=cache)
    assert isinstance(loaded, HuggingFaceEmbeddings)
    assert not cache.exists()
    assert len(loaded.embed_query("a question")) == 384


def test_an_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="neither the packaged default nor a folder on disk"):
        load_embeddings("no-such-model")


def test_a_folder_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ValueError, match="no weights"):
        load_embeddings(str(folder), cache=tmp_path / "cache")
