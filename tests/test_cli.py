"""`python -m bot`: readable answers, JSON, and a JSONL batch that survives bad lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import KNOWLEDGE, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"BOT_DATA_DIR": str(tmp_path / "data"), "BOT_KNOWLEDGE_DIR": str(KNOWLEDGE)}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_ingest_then_nothing_to_do(env: dict[str, str]) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["ingest"])
    assert first.exit_code == 0, first.output
    assert "12 passages: 12 embedded, 0 removed, 0 unchanged" in first.output
    # The safety examples are embedded by ingest too, so the first start after it embeds nothing (seconds).
    (bank,) = Path(env["BOT_DATA_DIR"]).glob("safety-bank-*.npy")
    embedded = bank.stat().st_mtime_ns
    second = runner.invoke(app, ["ingest"])
    assert "12 passages: 0 embedded, 0 removed, 12 unchanged" in second.output
    assert runner.invoke(app, ["ask", "How many people took part?"]).exit_code == 0
    assert bank.stat().st_mtime_ns == embedded


def test_setup_errors_are_one_line_and_exit_2_in_every_command(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "knowledge"
    bad.mkdir()
    (bad / "doc.md").write_text("---\nid: doc\ntitle: [unclosed\n---\nSome text.\n", encoding="utf-8")
    monkeypatch.setenv("BOT_KNOWLEDGE_DIR", str(bad))
    for command in (["ingest"], ["ask", "How many people took part?"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith("error: ") and "doc.md" in result.output and "Traceback" not in result.output


def test_ask_readable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["ask", "How old were the volunteers?"])
    assert result.exit_code == 0, result.output
    assert "aged 26 to 52" in result.output.replace("**", "")
    assert "[1] halt-ms-news#p6" in result.output
    assert "not medical advice" in result.output


def test_ask_json(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["ask", "Did anyone die?", "--json"])
    reply = json.loads(result.stdout)
    assert reply["category"] == "answered"
    assert {"answer", "category", "citations", "caveats", "latency_ms"} <= reply.keys()
    first = reply["citations"][0]
    assert {"n", "passage_id", "quote", "anchor", "title", "score"} <= first.keys()
    assert "Three participants died" in reply["answer"]


def test_ask_needs_a_question(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["ask"])
    assert result.exit_code == 2
    assert "give a QUESTION" in result.output


def test_ask_rejects_blank_question_clearly(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["ask", "   "])
    assert result.exit_code == 2
    assert "the question is empty" in result.output


def test_jsonl_batch_keeps_order_and_reports_bad_lines(env: dict[str, str]) -> None:
    lines = [
        json.dumps({"id": "a", "question": "How many people were in the study?"}),
        "{not json",
        json.dumps({"id": "c"}),
        json.dumps({"id": "d", "question": "   "}),
        json.dumps({"id": "e", "question": "x" * 50_000}),
        json.dumps({"id": "f", "question": "hello\x07there"}),
        json.dumps({"id": "g", "question": "How old were they?", "history": "not a list"}),
        json.dumps(["an", "array"]),
        "",
        json.dumps(
            {
                "id": "i",
                "question": "How old were they?",
                "history": [
                    {"role": "user", "content": "Who took part in the study?"},
                    {"role": "assistant", "content": "24 volunteers"},
                ],
            }
        ),
    ]
    result = CliRunner().invoke(app, ["ask", "--jsonl"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["a", None, "c", "d", "e", "f", "g", None, "i"]
    assert [o.get("line") for o in out if "error" in o] == [2, 3, 4, 5, 6, 7, 8]
    assert "24 volunteers" in out[0]["answer"].replace("**", "")
    assert "not valid JSON" in out[1]["error"] and out[1]["line"] == 2
    assert out[2]["error"] == "missing field 'question'"
    assert out[3]["error"] == "the question is empty"
    assert "50,000 characters" in out[4]["error"]
    assert "control characters" in out[5]["error"]
    assert "history must be a list" in out[6]["error"]
    assert "JSON object" in out[7]["error"]
    assert "aged 26 to 52" in out[8]["answer"].replace("**", "")


def test_real_entry_point_batch(env: dict[str, str]) -> None:
    """The installed entry point, in a fresh process, loads the model once for a whole batch."""
    batch = "\n".join(json.dumps({"id": i, "question": q}) for i, q in enumerate(["hello", "Who is Richard Nash?"]))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "ask", "--jsonl"],
        input=batch,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["category"] for r in replies] == ["greeting", "answered"]
    assert "principal investigator Richard Nash" in replies[1]["answer"].replace("**", "")
    # medspaCy's unused NLTK (and the SciPy statistics and scikit-learn it pulls in) never ran: seconds of a start.
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert "quickumls" in imported and not imported & {"nltk.corpus", "scipy.stats", "sklearn"}
