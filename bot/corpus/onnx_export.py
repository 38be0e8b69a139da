"""Export a sentence-transformers model to ONNX, in the export environment (torch, transformers,
sentence-transformers), never in the app's own.

Run as a script, by path (with -P, so this folder is not on sys.path), so nothing of the app is imported here:

    <export python> -P bot/corpus/onnx_export.py export MODEL_FOLDER TARGET.onnx
    <export python> -P bot/corpus/onnx_export.py vectors MODEL_FOLDER < texts.json > vectors.json

`export` writes the transformer's token vectors as an ONNX graph (pooling happens in the app, read from the
model's own pooling config). `vectors` prints sentence-transformers' own unit vectors for a JSON list of texts:
the reference the app's ONNX vectors are checked against.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def export(folder: Path, target: Path) -> Path:
    """Export the transformer of a sentence-transformers folder (token vectors out). Written to a temporary file
    first, so an interrupted export leaves nothing half-made."""
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
        axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "token_vectors")}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on tracing, none of which applies to a fixed graph
            torch.onnx.export(
                TokenVectors(),
                tuple(sample[name] for name in INPUTS),
                tmp,
                input_names=list(INPUTS),
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


def vectors(folder: Path, texts: list[str]) -> list[list[float]]:
    """sentence-transformers' unit vectors for `texts`: the reference for the ONNX model's."""
    _offline()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return [[float(v) for v in row] for row in model.encode(texts, normalize_embeddings=True)]


def main(argv: list[str]) -> int:
    usage = "usage: onnx_export.py export MODEL_FOLDER TARGET.onnx | vectors MODEL_FOLDER < texts.json"
    if len(argv) == 3 and argv[0] == "export":
        print(export(Path(argv[1]), Path(argv[2])))
        return 0
    if len(argv) == 2 and argv[0] == "vectors":
        texts = json.load(sys.stdin)
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            print("error: standard input must be a JSON list of strings", file=sys.stderr)
            return 2
        json.dump(vectors(Path(argv[1]), texts), sys.stdout)
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
