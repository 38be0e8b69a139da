"""How far two labellers agree on the category of the real patient questions, and how often each accepts the bot's.

The real questions' dev halves (`qa/external*.dev.jsonl`) were labelled twice, independently: once by whoever
collected them, once by a second labeller who saw only the article and the questions
(`qa/real_dev.second_labels.jsonl`). Where two careful people disagree, no classifier can please both; the
agreement is the ceiling a category score on these questions can be read against.

    python scripts/label_agreement.py          # labellers only
    python scripts/label_agreement.py --bot    # and the bot's categories (builds the bot; about a minute)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from bot.evaluation.qa_format import QAItem, load_items

QA = Path(__file__).resolve().parent.parent / "tests" / "data" / "qa"
SETS = ("external", "external2", "external3")


def load() -> tuple[list[QAItem], dict[str, list[str]]]:
    items = [i for s in SETS for i in load_items(QA / f"{s}.dev.jsonl")]
    second: dict[str, list[str]] = {}
    for line in (QA / "real_dev.second_labels.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        second[row["id"]] = [row["category"], *([row["also"]] if row.get("also") else [])]
    return items, second


def agreement(first: dict[str, list[str]], second: dict[str, list[str]]) -> dict[str, float]:
    ids = sorted(first)
    n = len(ids)
    a, b = [first[i][0] for i in ids], [second[i][0] for i in ids]
    return {
        "items": n,
        "primary_agree": round(sum(x == y for x, y in zip(a, b, strict=True)) / n, 3),
        "sets_overlap": round(sum(bool(set(first[i]) & set(second[i])) for i in ids) / n, 3),
        "cohen_kappa": round(float(cohen_kappa_score(a, b)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot", action="store_true", help="also score the bot's categories against each labeller")
    args = parser.parse_args()
    items, second = load()
    first = {i.id: [c.value for c in i.expected_category] for i in items}
    if set(first) != set(second):
        raise SystemExit(f"the second labelling covers {len(second)} ids, the dev halves {len(first)}: relabel")
    out: dict[str, object] = {**agreement(first, second)}
    out["disagreements (first / second)"] = dict(
        Counter(f"{first[i][0]} / {second[i][0]}" for i in first if first[i][0] != second[i][0]).most_common()
    )
    if args.bot:
        from bot.chat import ChatBot
        from bot.evaluation.runner import evaluate
        from bot.settings import Settings

        # A private data folder, as `bot bench` and `bot fit` use: a running app holds the default store's lock.
        with tempfile.TemporaryDirectory(prefix="agreement-") as tmp:
            bot = ChatBot.from_settings(Settings(log_conversations=False, data_dir=Path(tmp)))
            got = {r.item.id: str(getattr(r.category, "value", r.category)) for r in evaluate(bot, items).results}
        n = len(first)
        out["bot_accepted_by_first"] = round(sum(got[i] in first[i] for i in first) / n, 3)
        out["bot_accepted_by_second"] = round(sum(got[i] in second[i] for i in first) / n, 3)
        out["bot_accepted_by_both"] = round(sum(got[i] in first[i] and got[i] in second[i] for i in first) / n, 3)
        out["bot_accepted_by_either"] = round(sum(got[i] in first[i] or got[i] in second[i] for i in first) / n, 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
