"""`python -m bot triage ...` as staff use it, against a real database in a temporary BOT_DATA_DIR."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.reply import Category, Citation, Reply
from bot.settings import Settings
from bot.triage.cli import app
from bot.triage.store import Store

runner = CliRunner()
QUOTE = "the results showed that 69% had survived without experiencing progression of disability"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BOT_CONFIG", str(tmp_path / "no-such.toml"))
    monkeypatch.delenv("BOT_RETENTION_DAYS", raising=False)
    monkeypatch.setenv("COLUMNS", "150")
    return tmp_path / "data"


@pytest.fixture
def seeded(data_dir: Path) -> dict[str, int]:
    """A small queue: one conversation with an emergency, a knowledge gap, and an answered turn."""
    moment = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    store = Store(data_dir / "bot.sqlite3", clock=lambda: moment)
    cite = Citation(1, "halt-ms-news-p4", QUOTE, "halt-ms-news#p4", "HALT-MS", 0.8)
    ids = {
        "answered": store.log_turn("alice", "What share survived?", Reply("69% did [1].", Category.ANSWERED, (cite,))),
        "gap": store.log_turn("bob", "Does it cure diabetes?", Reply("Not covered.", Category.NOT_IN_ARTICLE)),
    }
    moment += timedelta(minutes=5)
    ids["emergency"] = store.log_turn(
        "alice",
        "I'm Sarah Connor and my legs went numb",
        Reply("Call 911 now.", Category.EMERGENCY),
        source="ui",
    )
    items = {item.turn_id: item.id for item in store.list_items()}
    return {"gap_item": items[ids["gap"]], "emergency_item": items[ids["emergency"]], **ids}


def test_list_shows_urgent_first_as_a_table(seeded: dict[str, int]) -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Triage queue (2)" in out
    assert out.index("legs went numb") < out.index("cure diabetes")
    assert "urgent" in out and "emergency" in out and "not_in_article" in out
    assert "Sarah" not in out and "[NAME]" in out  # rich did not eat the placeholder as markup


def test_list_fits_a_narrow_terminal(seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "cure diabetes?" in result.stdout and "not_in_article" in result.stdout


def test_list_json_and_filters(seeded: dict[str, int]) -> None:
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    items = json.loads(result.stdout)
    assert [i["id"] for i in items] == [seeded["emergency_item"], seeded["gap_item"]]
    assert items[0]["priority"] == "urgent" and items[0]["turn"]["source"] == "ui"

    only_gaps = json.loads(runner.invoke(app, ["list", "--json", "--category", "not_in_article"]).stdout)
    assert [i["turn"]["question"] for i in only_gaps] == ["Does it cure diabetes?"]
    assert json.loads(runner.invoke(app, ["list", "--json", "--status", "resolved"]).stdout) == []
    assert "No triage items." in runner.invoke(app, ["list", "--status", "resolved"]).stdout


def test_show_gives_the_item_and_the_whole_conversation(seeded: dict[str, int]) -> None:
    result = runner.invoke(app, ["show", str(seeded["emergency_item"])])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Triage item #{seeded['emergency_item']}" in out and "URGENT" in out
    assert "I'm [NAME] and my legs went numb" in out
    assert "Call 911 now." in out
    # the earlier turn of the same session, with its citation, is part of the conversation detail
    assert "Conversation (2 turns)" in out
    assert "What share survived?" in out
    assert "Does it cure diabetes?" not in out  # another session

    cited = runner.invoke(app, ["show", "--json", str(seeded["emergency_item"])])
    data = json.loads(cited.stdout)
    assert [t["question"] for t in data["conversation"]] == [
        "What share survived?",
        "I'm [NAME] and my legs went numb",
    ]


def test_assign_resolve_and_note(seeded: dict[str, int], data_dir: Path) -> None:
    item = seeded["gap_item"]
    assigned = runner.invoke(app, ["assign", str(item), "Nurse Kim"])
    assert assigned.exit_code == 0
    assert assigned.stdout.strip() == f"Item #{item} assigned to Nurse Kim (status: in_progress)."
    assert runner.invoke(app, ["note", str(item), "Asked the study team"]).exit_code == 0
    resolved = runner.invoke(app, ["resolve", str(item), "--note", "Added to the FAQ"])
    assert resolved.exit_code == 0 and resolved.stdout.strip() == f"Item #{item} resolved."

    stored = Store(data_dir / "bot.sqlite3").get_item(item)
    assert (stored.status, stored.assignee) == ("resolved", "Nurse Kim")
    assert [n.text for n in stored.notes] == ["Asked the study team", "Added to the FAQ"]
    assert runner.invoke(app, ["status", str(item), "new"]).stdout.strip() == f"Item #{item} is now new."
    # a resolution without a note is a usage error, and nothing changes
    assert runner.invoke(app, ["resolve", str(seeded["emergency_item"])]).exit_code == 2
    assert Store(data_dir / "bot.sqlite3").get_item(seeded["emergency_item"]).status == "new"


@pytest.mark.parametrize(
    "args",
    [["show", "999"], ["assign", "999", "Kim"], ["resolve", "999", "--note", "x"], ["note", "999", "x"]],
    ids=["show", "assign", "resolve", "note"],
)
def test_unknown_id_is_one_readable_line_and_exit_1(seeded: dict[str, int], args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr == "Error: No triage item with id 999.\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_export_csv_to_stdout_and_jsonl_to_a_file(seeded: dict[str, int], tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--format", "csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["category"], r["turn_question"]) for r in rows] == [
        ("emergency", "I'm [NAME] and my legs went numb"),
        ("not_in_article", "Does it cure diabetes?"),
    ]

    target = tmp_path / "exports" / "triage.jsonl"
    result = runner.invoke(app, ["export", "--format", "jsonl", "--out", str(target)])
    assert result.exit_code == 0
    assert result.stderr.strip() == f"Exported 2 items to {target}."
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [seeded["emergency_item"], seeded["gap_item"]]
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind

    turns = runner.invoke(app, ["export", "--format", "jsonl", "--what", "turns"])
    assert [json.loads(line)["citations"][0]["quote"] if json.loads(line)["citations"] else None
            for line in turns.stdout.splitlines()] == [QUOTE, None, None]  # fmt: skip


def test_purge_uses_retention_days_from_settings_by_default(
    seeded: dict[str, int], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seeded turns are from 2025-03-01; a turn logged now is younger than any retention window.
    Store(data_dir / "bot.sqlite3").log_turn("carol", "Hello", Reply("Hi!", Category.GREETING))
    monkeypatch.setenv("BOT_RETENTION_DAYS", "36500")
    kept = runner.invoke(app, ["purge"])
    assert kept.exit_code == 0 and kept.stdout.strip() == "Purged 0 turns older than 36500 days."

    monkeypatch.setenv("BOT_RETENTION_DAYS", "30")
    purged = runner.invoke(app, ["purge"])
    assert purged.stdout.strip() == "Purged 3 turns older than 30 days."
    assert [t.session_id for t in Store(data_dir / "bot.sqlite3").turns()] == ["carol"]
    assert runner.invoke(app, ["purge", "--days", "0"]).stdout.strip() == "Purged 1 turns older than 0 days."


def test_bad_settings_are_reported_when_a_command_runs(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_RETENTION_DAYS", "0")
    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "retention_days" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_settings_from_the_parent_cli_context_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mounted as `bot triage`, the parent may hand over its Settings; the environment is then not read."""
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("BOT_CONFIG", str(tmp_path / "no-such.toml"))
    chosen = tmp_path / "chosen"
    Store(chosen / "bot.sqlite3").log_turn("s", "Does it cure diabetes?", Reply("No.", Category.NOT_IN_ARTICLE))

    parent = typer.Typer()

    @parent.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=chosen)

    parent.add_typer(app, name="triage")
    result = runner.invoke(parent, ["triage", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert [i["turn"]["question"] for i in json.loads(result.stdout)] == ["Does it cure diabetes?"]
    assert not (tmp_path / "elsewhere").exists()


def test_terminal_actions_are_in_the_audit_trail_with_the_account(
    seeded: dict[str, int], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "kim")
    item = seeded["gap_item"]
    assert runner.invoke(app, ["assign", str(item), "Nurse Kim"]).exit_code == 0
    assert runner.invoke(app, ["resolve", str(item), "--note", "Added to the FAQ"]).exit_code == 0
    events = Store(data_dir / "bot.sqlite3").get_item(item).events
    assert [(e.actor, e.action) for e in events] == [
        ("cli:kim", "assign"),
        ("cli:kim", "status"),
        ("cli:kim", "resolve"),
    ]
    shown = runner.invoke(app, ["show", str(item)]).stdout
    assert "Audit trail:" in shown and "cli:kim resolve: Added to the FAQ" in shown
