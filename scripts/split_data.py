"""Split each labelled set into a dev half (to tune on) and a test half (frozen before any tuning).

Deterministic: within each label, items are ordered by sha256 of their id and dealt alternately to dev and
test, so both halves hold every label in the same proportion. Run once, when a set is added; the test halves'
checksums go to tests/data/FROZEN.sha256, and tests/test_data_splits.py fails if a frozen file changes.

    python scripts/split_data.py SRC.jsonl tests/data/qa/NAME --label expected_category
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from pathlib import Path


def label_of(row: dict[str, object], key: str) -> str:
    value = row[key]
    return str(value[0] if isinstance(value, list) else value)


def split(rows: list[dict[str, object]], key: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    by_label: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        by_label[label_of(row, key)].append(row)
    dev: list[dict[str, object]] = []
    test: list[dict[str, object]] = []
    for label in sorted(by_label):
        ordered = sorted(by_label[label], key=lambda r: hashlib.sha256(str(r["id"]).encode()).hexdigest())
        for i, row in enumerate(ordered):
            (dev if i % 2 == 0 else test).append(row)
    order = {r["id"]: i for i, r in enumerate(rows)}
    return sorted(dev, key=lambda r: order[r["id"]]), sorted(test, key=lambda r: order[r["id"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("prefix", help="output prefix: writes PREFIX.dev.jsonl and PREFIX.test.jsonl")
    parser.add_argument("--label", default="expected_category")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.source.read_text(encoding="utf-8").splitlines() if line.strip()]
    for name, half in zip(("dev", "test"), split(rows, args.label), strict=True):
        out = Path(f"{args.prefix}.{name}.jsonl")
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in half), encoding="utf-8")
        print(f"{out}: {len(half)}")


if __name__ == "__main__":
    main()
