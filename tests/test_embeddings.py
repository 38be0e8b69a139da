"""The embedding model: run by ONNX Runtime in the app's environment, it gives sentence-transformers' own vectors
(computed in the export environment, where torch lives); it is exported once per cache folder, pooled as its
config says, and every way it can fail to load says what to do."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from typer.testing import CliRunner

from bot.cli import app
from bot.corpus.embeddings import (
    DEFAULT_CACHE,
    ModelError,
    OnnxEmbeddings,
    export_model,
    exported_path,
    load_embeddings,
    max_length,
    reference_vectors,
    resolve_model,
)
from bot.settings import DEFAULT_MODEL

pytestmark = pytest.mark.slow

TEXTS = [
    "How many people took part in the study?",
    "what are the side efects of the stem cell treatment",
    "",
    "¿Cuántas personas participaron en el estudio?",
    "relapse " * 400,  # longer than the model's 256 tokens: truncated as sentence-transformers truncates
]
#: More texts than a batch, of mixed lengths: each vector must come back in its own text's place.
MANY = [f"{'more words ' * (i % 9)}question number {i}" for i in range(70)]


def _model_copy(folder: Path) -> Path:
    """A folder that links to the packaged model's files, so a test can change one config file of it."""
    source = Path(resolve_model(DEFAULT_MODEL))
    for path in source.rglob("*"):
        if path.is_file():
            (folder / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, folder / path.relative_to(source))
    return folder


def _set_config(folder: Path, relative: str, text: str) -> None:
    path = folder / relative
    path.unlink()  # a link to the packaged file: replace it, never write through it
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the model exported afresh into an empty cache, by the export environment: (folder, cache)."""
    base = tmp_path_factory.mktemp("export")
    folder = _model_copy(base / "model")
    cache = base / "cache"
    export_model(str(folder), cache)
    return folder, cache


def test_the_default_model_runs_on_onnx_and_gives_sentence_transformers_vectors(embeddings: Embeddings) -> None:
    assert isinstance(embeddings, OnnxEmbeddings) and embeddings.pooling == ("mean",)
    ours = np.asarray(embeddings.embed_documents(TEXTS))
    reference = np.asarray(reference_vectors(DEFAULT_MODEL, TEXTS + MANY))  # one start of the export environment
    theirs = reference[: len(TEXTS)]
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.abs(np.asarray(embeddings.embed_query(TEXTS[0])) - theirs[0]).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert embeddings.embed_documents([]) == []
    many = np.asarray(embeddings.embed_documents(MANY))
    assert np.abs(many - reference[len(TEXTS) :]).max() < 1e-5


def test_the_app_environment_runs_without_torch_or_sentence_transformers() -> None:
    import importlib.util

    # Installed, torch is imported at every start by spaCy's thinc: seconds. `make clean && make install` fixes
    # an environment made before the export environment existed.
    for module in ("torch", "transformers", "sentence_transformers"):
        assert importlib.util.find_spec(module) is None, f"{module} is installed in the app's environment"


def test_a_model_is_exported_once_into_its_cache_then_reused(
    exported: tuple[Path, Path], embeddings: Embeddings
) -> None:
    folder, cache = exported
    target = exported_path(folder, cache)
    assert target.is_file() and [p.name for p in cache.iterdir()] == [target.name]  # no temporary file left
    made = target.stat().st_mtime_ns
    assert export_model(str(folder), cache) == target and target.stat().st_mtime_ns == made
    first, second = load_embeddings(str(folder), cache=cache), load_embeddings(str(folder), cache=cache)
    vectors = [np.asarray(e.embed_query(TEXTS[1])) for e in (first, second, embeddings)]
    assert np.abs(vectors[0] - vectors[2]).max() < 1e-5 and np.array_equal(vectors[0], vectors[1])
    # The shipped environment's export is where `make install` put it, not in a data folder.
    assert exported_path(Path(resolve_model(DEFAULT_MODEL))).parent == DEFAULT_CACHE


@pytest.mark.parametrize(
    ("mode", "differs"),
    # The root-length mean is the mean times a factor per text, which the unit length takes out again.
    [("pooling_mode_cls_token", True), ("pooling_mode_max_tokens", True), ("pooling_mode_mean_sqrt_len_tokens", False)],
)
def test_a_model_pooled_otherwise_gives_its_own_sentence_transformers_vectors(
    exported: tuple[Path, Path], tmp_path: Path, mode: str, differs: bool
) -> None:
    _, cache = exported
    folder = _model_copy(tmp_path / "model")  # the same weights: the cache's export serves it
    config = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    _set_config(folder, "1_Pooling/config.json", json.dumps(config | {"pooling_mode_mean_tokens": False, mode: True}))
    loaded = load_embeddings(str(folder), cache=cache)
    ours = np.asarray(loaded.embed_documents(TEXTS[:2] + MANY[:40]))
    theirs = np.asarray(reference_vectors(str(folder), TEXTS[:2] + MANY[:40]))
    assert np.abs(ours - theirs).max() < 1e-5
    # ... and differ from the mean-pooled model's where the pooling does: the config was read, not assumed.
    assert bool(np.abs(ours[0] - np.asarray(load_embeddings().embed_query(TEXTS[0]))).max() > 1e-3) is differs


def test_a_model_without_its_own_length_setting_is_cut_where_sentence_transformers_cuts_it(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    _, cache = exported
    folder = _model_copy(tmp_path / "model")
    (folder / "sentence_bert_config.json").unlink()  # the packaged model's 256; without it, 512 from its configs
    assert max_length(folder) == 512
    long_texts = ["relapse " * 400, "remission " * 300, TEXTS[0]]  # 400 and 300 words: over 256 tokens, under 512
    ours = np.asarray(load_embeddings(str(folder), cache=cache).embed_documents(long_texts))
    assert np.abs(ours - np.asarray(reference_vectors(str(folder), long_texts))).max() < 1e-5
    _set_config(folder, "config.json", "{}")
    _set_config(folder, "tokenizer_config.json", "{}")
    with pytest.raises(ModelError, match="how many tokens"):
        max_length(folder)


def test_a_pooling_this_app_cannot_run_is_a_clear_error_before_any_export(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path / "model")
    _set_config(folder, "1_Pooling/config.json", json.dumps({"pooling_mode": "lasttoken"}))
    with pytest.raises(ModelError, match=r"pooling \['lasttoken'\] is not supported"):
        export_model(str(folder), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_model_not_yet_exported_says_how_to_export_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _model_copy(tmp_path / "unexported")  # another name, so another export file than the packaged one
    with pytest.raises(ModelError, match=r"not exported to ONNX .*make install"):
        load_embeddings(str(folder), cache=tmp_path / "cache")
    # The commands that load the model say so in one line and exit 2, not with a traceback.
    monkeypatch.setenv("BOT_EMBEDDING_MODEL", str(folder))
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2 and "not exported to ONNX" in result.output
    assert "Traceback" not in result.output


def test_exporting_without_an_export_environment_or_with_a_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path / "unexported")
    result = CliRunner().invoke(app, ["export-model", "--model", str(folder), "--python", str(tmp_path / "nopython")])
    assert result.exit_code == 2 and "no export environment" in result.output
    _set_config(folder, "config.json", "{ not json")
    with pytest.raises(ModelError, match="the ONNX exporter failed") as info:
        export_model(str(folder), tmp_path / "cache")
    assert "config.json" in str(info.value) or "JSON" in str(info.value)  # the exporter's own reason travels
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_an_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="neither the packaged default nor a folder on disk"):
        load_embeddings("no-such-model")


def test_a_folder_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path / "model")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelError, match="no weights"):
        load_embeddings(str(folder), cache=tmp_path / "cache")
