"""Evaluation: the QA format and its errors, the metrics on hand-made replies, the runner, the reports, the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.answer.caveats import FOOTER
from bot.corpus.documents import Passage, all_passages, load_knowledge, split_sentences
from bot.evaluation import cli as eval_cli
from bot.evaluation.qa_format import QAFileError, QAItem, load_items, parse_csv, parse_jsonl
from bot.evaluation.report import render_html
from bot.evaluation.runner import (
    ADDITIONAL_KEYS,
    AGGREGATE_KEYS,
    EvalRun,
    aggregate,
    by_category,
    confusion,
    evaluate,
    parse_thresholds,
    read_thresholds,
    wilson,
)
from bot.evaluation.scoring import check_references, citation_scores, score_reply
from bot.evaluation.support import SupportScorer, numbers, segment
from bot.reply import Category, Citation, Reply
from bot.safety import replies
from tests.conftest import DATA, KNOWLEDGE

QA = DATA / "qa" / "own.dev.jsonl"
THRESHOLDS = DATA / "qa" / "thresholds.txt"

# --------------------------------------------------------------------------------------------------------------
# Hand-made source and replies
# --------------------------------------------------------------------------------------------------------------

TEXTS = {
    "p-size": "The investigators examined HDIT/HCT in 24 volunteers aged 26 to 52 years with RRMS.",
    "p-deaths": "Adverse events, such as infections, were both minimal and expected. Three participants died.",
    "p-mobility": "Some of the participants saw improvements in their physical capabilities, such as mobility.",
}


def _passages() -> list[Passage]:
    return [
        Passage(id=pid, doc_id="doc", title="t", paragraph=i + 1, text=text, sentences=split_sentences(text))
        for i, (pid, text) in enumerate(TEXTS.items())
    ]


PASSAGES = _passages()


def cite(n: int, pid: str, quote: str | None = None) -> Citation:
    text = TEXTS[pid]
    return Citation(n, pid, quote if quote is not None else text, f"doc#{pid}", "t", 1.0, text)


def item(**kw: Any) -> QAItem:
    return QAItem.model_validate({"id": "q", "question": "How many volunteers?", **kw})


def score(it: QAItem, reply: Reply) -> Any:
    return score_reply(it, reply, PASSAGES, SupportScorer.for_passages(PASSAGES))


# --------------------------------------------------------------------------------------------------------------
# Format and validation
# --------------------------------------------------------------------------------------------------------------

BAD_JSONL = "\n".join(
    [
        '{"id": "ok-1", "question": "How many volunteers?", "expected_category": "answered"}',
        '{"id": "bad-json", "question": "oops",',
        '{"id": "no-question"}',
        '{"id": "types", "question": "Q", "expect_caveat": "yes", "must_include": "24"}',
        '{"id": "cat", "question": "Q", "expected_category": ["answered", "answerd"]}',
        "",
        '{"id": "ok-1", "question": "duplicate id"}',
        '{"id": "regex", "question": "Q", "must_not_include": ["(unclosed"]}',
        '{"id": "typo", "question": "Q", "must_includes": [["24"]]}',
        '["not", "an", "object"]',
        '{"id": "ok-2", "question": "Fine", "must_include": ["24", ["26", "twenty-six"]]}',
    ]
)


def test_every_bad_line_is_reported_with_line_and_field() -> None:
    with pytest.raises(QAFileError) as info:
        parse_jsonl(BAD_JSONL)
    errors = info.value.errors
    text = "\n".join(errors)
    assert re.search(r"line 2: not valid JSON", text)
    assert re.search(r"line 3: field 'question': is required", text)
    assert re.search(r"line 4: field 'expect_caveat'", text)
    assert re.search(r"line 4: field 'must_include'", text)
    assert re.search(r"line 5: field 'expected_category'.*'answerd' is not a category", text)
    assert re.search(r"line 7: field 'id': 'ok-1' is already used on line 1", text)
    assert re.search(r"line 8: field 'must_not_include'.*not a valid regular expression", text)
    assert re.search(r"line 9: field 'must_includes': is not a known field", text)
    assert re.search(r"line 10: expected a JSON object", text)
    # nothing skipped silently: every bad line (2-5, 7-10) is named, the good ones are not
    named = {int(m) for m in re.findall(r"^line (\d+):", text, re.MULTILINE)}
    assert named == {2, 3, 4, 5, 7, 8, 9, 10}


def test_valid_jsonl_items_and_shorthands() -> None:
    items = parse_jsonl(
        '{"id": "a", "question": "Q", "expected_category": "answered", "must_include": ["24", ["26", "x"]]}\n'
        "\n"
        '{"id": "b", "question": "Q2", "expected_category": ["answered", "not_in_article"], "expect_caveat": true}\n'
    )
    assert [i.id for i in items] == ["a", "b"]
    assert [i.line for i in items] == [1, 3]
    assert items[0].must_include == (("24",), ("26", "x"))
    assert items[0].expected_category == (Category.ANSWERED,)
    assert items[1].expects == {Category.ANSWERED, Category.NOT_IN_ARTICLE}


def test_empty_file_is_an_error() -> None:
    with pytest.raises(QAFileError, match="no questions"):
        parse_jsonl("\n\n")


CSV = (
    "id,question,history,expected_category,must_include,must_not_include,reference_quotes,expect_caveat,tags\n"
    'c1,How many volunteers?,,answered,"[[""24"",""twenty-four""],[""volunteers""]]",'
    "(?i)\\b(BEAM|ATG)\\b,24 volunteers,true,facts|size\n"
    """c2,"A question
over two lines","[{""role"":""user"",""content"":""hi""}]",answered|not_in_article,24|volunteers,,,,
"""
)
JSONL = "\n".join(
    json.dumps(x)
    for x in [
        {
            "id": "c1",
            "question": "How many volunteers?",
            "expected_category": "answered",
            "must_include": [["24", "twenty-four"], ["volunteers"]],
            "must_not_include": [r"(?i)\b(BEAM|ATG)\b"],
            "reference_quotes": ["24 volunteers"],
            "expect_caveat": True,
            "tags": ["facts", "size"],
        },
        {
            "id": "c2",
            "question": "A question\nover two lines",
            "history": [{"role": "user", "content": "hi"}],
            "expected_category": ["answered", "not_in_article"],
            "must_include": [["24"], ["volunteers"]],
        },
    ]
)


def test_csv_and_jsonl_load_the_same_items(tmp_path: Path) -> None:
    (tmp_path / "set.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "set.jsonl").write_text(JSONL, encoding="utf-8")
    from_csv, from_jsonl = load_items(tmp_path / "set.csv"), load_items(tmp_path / "set.jsonl")
    assert [i.model_dump() for i in from_csv] == [i.model_dump() for i in from_jsonl]
    assert from_csv[0].must_not_include == (r"(?i)\b(BEAM|ATG)\b",)  # '|' inside a regex is not a separator
    assert [i.line for i in from_csv] == [2, 3]


def test_csv_errors_name_the_physical_line() -> None:
    bad = CSV + 'c3,Q,,answerd,"[[""24""]",,,maybe,\n'
    with pytest.raises(QAFileError) as info:
        parse_csv(bad)
    text = "\n".join(info.value.errors)
    # the quoted question of c2 spans lines 3-4, so c3 starts on line 5
    assert "line 5: field 'must_include': not valid JSON" in text
    assert "line 5: field 'expect_caveat'" in text
    with pytest.raises(QAFileError, match="column\\(s\\) 'questoin'"):
        parse_csv("id,questoin\nx,y\n")


def test_reference_quotes_must_be_in_the_source() -> None:
    items = parse_jsonl(
        '{"id": "a", "question": "Q", "reference_quotes": ["24 volunteers", "48 volunteers"]}\n'
        '{"id": "b", "question": "Q", "reference_context_ids": ["doc#p1", "nope"]}\n'
    )
    errors = check_references(items, PASSAGES)
    assert len(errors) == 2
    assert errors[0].startswith("line 1: field 'reference_quotes[1]'")
    assert errors[1].startswith("line 2: field 'reference_context_ids[1]'")


# --------------------------------------------------------------------------------------------------------------
# Text helpers and metrics on hand-made replies
# --------------------------------------------------------------------------------------------------------------


def test_segment_splits_cited_claims_from_framing() -> None:
    claims, unmarked = segment(
        "The article does not say.\n\nThe closest thing: 24 volunteers. [1]\n\n- A [2][3], and B [4]."
    )
    assert [(c.text, c.cites) for c in claims] == [
        ("The closest thing: 24 volunteers.", (1,)),
        ("A", (2, 3)),
        ("and B", (4,)),
    ]
    assert unmarked == ["The article does not say."]


def test_numbers_are_canonical() -> None:
    assert numbers("more than 400,000 and 2.5 million; 69% of 24 [7]") == {"400000", "2.5", "69", "24"}
    assert numbers("Three participants, twenty-four volunteers, one round, 5-year results") == {"3", "24", "5"}
    assert numbers("Three participants", words=False) == set()


def test_a_number_in_a_name_is_not_a_number_but_a_range_s_end_is() -> None:
    """ "SARS-CoV-2" names a virus: a question about it states no number the documents must confirm."""
    assert numbers("How are patients protected from SARS-CoV-2 and COVID-19?") == set()
    assert numbers("aged 26-52") == {"26", "52"}


def test_a_good_answer_passes_every_check() -> None:
    it = item(
        expected_category="answered",
        must_include=[["24", "twenty-four"], ["volunteers"]],
        must_not_include=[r"(?i)\bBEAM\b"],
        reference_quotes=["24 volunteers aged 26"],
        expect_caveat=True,
    )
    reply = Reply(
        f"{TEXTS['p-size']} [1]",
        Category.ANSWERED,
        (cite(1, "p-size"), cite(2, "p-deaths", "Three participants died.")),
        ("Three participants died [2].", FOOTER),
    )
    result = score(it, reply)
    assert result.passed, result.failures
    assert result.answer_citation.recall == 1.0 and result.answer_citation.precision == 1.0
    assert result.context_recall == 1.0 and result.context_rr == 1.0
    agg, extra = aggregate([result])
    assert list(agg) == list(AGGREGATE_KEYS) and list(extra) == list(ADDITIONAL_KEYS)
    assert agg["verbatim_quote_rate"] == 1.0 and agg["fabrication_rate"] == 0.0
    assert agg["emergency_recall"] is None  # no item expects an emergency


def test_an_answer_that_cites_the_reference_second_passes_but_does_not_lead_with_it() -> None:
    """reference_quote accepts any citation; lead_quote_rate tells an evaluator whether answers lead with it."""
    it = item(expected_category="answered", reference_quotes=["24 volunteers aged 26"])
    second = Reply(
        f"{TEXTS['p-deaths']} [1]\n\n{TEXTS['p-size']} [2]",
        Category.ANSWERED,
        (cite(1, "p-deaths"), cite(2, "p-size")),
    )
    first = Reply(f"{TEXTS['p-size']} [1]", Category.ANSWERED, (cite(1, "p-size"),))
    results = [score(it, second), score(it, first)]
    assert all(r.passed for r in results)
    assert [r.lead_quote for r in results] == [False, True]
    _, extra = aggregate(results)
    assert extra["lead_quote_rate"] == 0.5
    assert extra["answer_sentences_mean"] == 1.5


def test_each_check_fails_for_its_own_reason() -> None:
    it = item(
        expected_category="answered",
        must_include=[["24"], ["volunteers"]],
        must_not_include=[r"(?i)\bBEAM\b", r"(?i)^\s*yes\b"],
        reference_quotes=["Three participants died"],
        expect_caveat=True,
    )
    reply = Reply("Yes, the BEAM regimen was used in 24 people. [1]", Category.NOT_IN_ARTICLE, (cite(1, "p-size"),))
    result = score(it, reply)
    assert set(result.failures) == {"category", "must_include", "must_not_include", "reference_quote", "caveat"}
    assert "volunteers" in result.failures["must_include"] and "'24'" not in result.failures["must_include"]
    assert result.key_facts == [True, False]
    assert len(result.forbidden_hits) == 2
    agg, _ = aggregate([result])
    assert agg["key_fact_recall"] == 0.5 and agg["fabrication_rate"] == 1.0 and agg["caveat_rate"] == 0.0


def test_a_quote_not_in_the_source_lowers_verbatim_quote_rate() -> None:
    good = Reply("24 volunteers took part. [1]", Category.ANSWERED, (cite(1, "p-size", "24 volunteers aged 26"),))
    bad = Reply(
        "24 volunteers took part. [1]",
        Category.ANSWERED,
        (cite(1, "p-size", "24 brave volunteers aged 26"),),  # paraphrased, not verbatim
    )
    results = [score(item(), good), score(item(id="q2"), bad)]
    assert "verbatim_quotes" not in results[0].failures
    assert "[1]" in results[1].failures["verbatim_quotes"]
    assert aggregate(results)[0]["verbatim_quote_rate"] == 0.5


def test_a_number_in_no_cited_passage_is_fabrication() -> None:
    reply = Reply(
        "The investigators examined HDIT/HCT in 36 volunteers aged 26 to 52 years with RRMS. [1]",
        Category.ANSWERED,
        (cite(1, "p-size"),),
    )
    result = score(item(question="How many volunteers?"), reply)
    assert result.unsupported_numbers == ["36"]
    assert result.fabricated
    assert result.answer_citation.recall == 0.0  # the claim's number is not in its evidence
    # numbers from the question, crisis lines, or the cited passages are not fabrication
    ok = Reply(
        "Call 911. About 48 people? The article says 24 volunteers. [1]", Category.ANSWERED, (cite(1, "p-size"),)
    )
    assert score(item(question="Were there 48 people?"), ok).unsupported_numbers == []


def test_an_excess_citation_lowers_precision_not_recall() -> None:
    claim = "The investigators examined HDIT/HCT in 24 volunteers aged 26 to 52 years with RRMS."
    exact = Reply(f"{claim} [1]", Category.ANSWERED, (cite(1, "p-size"),))
    padded = Reply(f"{claim} [1] [2]", Category.ANSWERED, (cite(1, "p-size"), cite(2, "p-mobility")))
    a, b = score(item(), exact), score(item(id="q2"), padded)
    assert (a.answer_citation.recall, a.answer_citation.precision) == (1.0, 1.0)
    assert (b.answer_citation.recall, b.answer_citation.precision) == (1.0, 0.5)
    assert aggregate([a, b])[0]["citation_precision"] == 0.75


def test_two_citations_needed_together_are_both_precise() -> None:
    scorer = SupportScorer(TEXTS)
    claim = segment("24 volunteers aged 26 to 52; three participants died. [1] [2]")[0]
    cites = [cite(1, "p-size"), cite(2, "p-deaths")]
    scores = citation_scores(claim, cites, scorer)
    assert (scores.recall, scores.precision) == (1.0, 1.0)


def test_an_answer_without_citations_has_zero_citation_recall() -> None:
    result = score(item(), Reply("There were 24 volunteers. They were aged 26 to 52.", Category.ANSWERED))
    assert result.answer_citation.claims == 2 and result.answer_citation.recall == 0.0
    # framing and policy replies make no claims
    framing = score(item(id="f"), Reply("The article does not say.", Category.NOT_IN_ARTICLE))
    assert framing.answer_citation.claims == 0
    emergency = score(item(id="e"), Reply("Call 911 now.", Category.EMERGENCY))
    assert emergency.answer_citation.claims == 0 and not emergency.fabricated


def test_a_fixed_safety_text_in_any_language_invents_no_numbers_but_an_answer_still_can() -> None:
    """France's emergency text gives 15 and 112: the bot's own fixed text, not a number made up."""
    french = score(item(id="fr"), Reply(replies.emergency_text("stroke", "fr"), Category.EMERGENCY, language="fr"))
    assert not french.fabricated, french.unsupported_numbers
    made_up = score(item(id="a"), Reply("Call 15 now, 15 people died.", Category.ANSWERED))
    assert made_up.fabricated


def test_a_benefit_without_a_caveat_fails() -> None:
    reply = Reply(f"{TEXTS['p-mobility']} [1]", Category.ANSWERED, (cite(1, "p-mobility"),), (FOOTER,))
    result = score(item(), reply)
    assert "benefit_caveat" in result.failures


def test_category_metrics_and_confusion_with_alternatives() -> None:
    rows = [
        (item(id="a", expected_category="emergency"), Category.EMERGENCY),
        (item(id="b", expected_category="emergency"), Category.ANSWERED),
        (item(id="c", expected_category=["answered", "not_in_article"]), Category.NOT_IN_ARTICLE),
        (item(id="d", expected_category=["answered", "not_in_article"]), Category.GREETING),
        (item(id="e"), Category.ANSWERED),  # no expectation: not in accuracy or the matrix
    ]
    results = [score(it, Reply("x", cat)) for it, cat in rows]
    agg, extra = aggregate(results)
    assert agg["category_accuracy"] == 0.5
    assert agg["emergency_recall"] == 0.5
    assert extra["emergency_precision"] == 1.0
    assert confusion(results) == {
        "answered": {"greeting": 1},
        "not_in_article": {"not_in_article": 1},
        "emergency": {"answered": 1, "emergency": 1},
    }
    assert by_category(results)["emergency"]["n"] == 2


def test_metrics_are_deterministic() -> None:
    reply = Reply(f"{TEXTS['p-size']} [1] [2]", Category.ANSWERED, (cite(1, "p-size"), cite(2, "p-deaths")))
    runs = [aggregate([score(item(must_include=[["24"]]), reply)]) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_pass_rate_intervals_are_wilson_intervals_that_narrow_with_more_questions() -> None:
    z = 1.959964  # the normal quantile for 95%

    def by_formula(k: int, n: int) -> tuple[float, float]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return centre - half, centre + half

    for k, n in ((274, 349), (8, 12), (0, 20), (20, 20)):
        low, high = wilson(k, n) or (math.nan, math.nan)
        assert (low, high) == pytest.approx(by_formula(k, n), abs=1e-4)
        assert 0.0 <= low <= k / n <= high <= 1.0
    small, large = wilson(8, 12), wilson(80, 120)
    assert small and large and large[1] - large[0] < small[1] - small[0]
    assert wilson(0, 0) is None  # a metric over no question has no interval


def test_thresholds_parse_and_lower_is_better() -> None:
    ts = parse_thresholds(["category_accuracy=0.9", "fabrication_rate=0.05", "latency_p95_ms=500"])
    assert [t.at_most for t in ts] == [False, True, True]
    with pytest.raises(ValueError) as info:
        parse_thresholds(["acuracy=0.9", "passed", "passed=lots"])
    message = str(info.value)
    assert "unknown metric 'acuracy'" in message and "METRIC=VALUE" in message and "not a number" in message


def test_report_html_escapes_and_loads_nothing() -> None:
    it = item(question="<script>alert('q')</script>", expected_category="answered")
    result = score(it, Reply("<img src=x onerror=alert(1)> [1]", Category.ANSWERED, (cite(1, "p-size"),)))
    agg, extra = aggregate([result])
    run = EvalRun({"answerer": "test"}, [result], agg, extra, confusion([result]), by_category([result]))
    html = render_html(run)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


# --------------------------------------------------------------------------------------------------------------
# The shipped set
# --------------------------------------------------------------------------------------------------------------


def test_the_ci_set_is_valid_and_has_facts_follow_ups_and_thresholds() -> None:
    items = load_items(QA)
    assert len(items) >= 50
    facts = [i for i in items if i.must_include and i.reference_quotes and Category.ANSWERED in i.expects]
    assert len(facts) >= 15
    assert any(i.history for i in items)
    passages = all_passages(load_knowledge(KNOWLEDGE))
    assert check_references(items, passages) == []
    thresholds = parse_thresholds(read_thresholds(THRESHOLDS))
    assert {t.metric for t in thresholds} >= {"category_accuracy", "key_fact_recall", "emergency_recall"}


# --------------------------------------------------------------------------------------------------------------
# With the real bot: runner, reports, CLI, baseline
# --------------------------------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_cli.eval_command)
    return app


@pytest.fixture
def cli(bot, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(eval_cli, "make_bot", lambda: bot)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(_app(), list(args))

    return invoke


@pytest.fixture(scope="module")
def shipped(bot, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """One CLI run of the shipped set with the CI thresholds (what CI gates on)."""
    return _run_cli(bot, tmp_path_factory.mktemp("eval-report"), QA, *_threshold_args())


@pytest.fixture(scope="module")
def side_by_side(bot, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A CLI run with --baseline over a slice of the shipped set: two of each primary category."""
    folder = tmp_path_factory.mktemp("baseline")
    per: dict[str, int] = {}
    lines = []
    for line in QA.read_text(encoding="utf-8").splitlines():
        cats = json.loads(line)["expected_category"]
        key = cats if isinstance(cats, str) else cats[0]
        if per.get(key, 0) < 2:
            per[key] = per.get(key, 0) + 1
            lines.append(line)
    subset = folder / "subset.jsonl"
    subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _run_cli(bot, folder / "out", subset, "--baseline")


def _threshold_args() -> list[str]:
    return [arg for spec in read_thresholds(THRESHOLDS) for arg in ("--fail-under", spec)]


def _run_cli(bot: Any, out: Path, qa: Path, *args: str) -> tuple[Any, Path]:
    mp = pytest.MonkeyPatch()
    mp.setattr(eval_cli, "make_bot", lambda: bot)
    try:
        result = CliRunner().invoke(_app(), [qa.as_posix(), "--out", out.as_posix(), *args])
    finally:
        mp.undo()
    return result, out


@pytest.mark.slow
def test_shipped_set_meets_the_ci_thresholds(shipped: tuple[Any, Path]) -> None:
    result, _ = shipped
    assert result.exit_code == 0, result.output
    assert "questions passed" in result.output


@pytest.mark.slow
def test_report_json_has_the_required_shape(shipped: tuple[Any, Path]) -> None:
    _, out = shipped
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert list(report["aggregate"]) == list(AGGREGATE_KEYS)
    assert set(report["run"]) >= {"commit", "model", "settings", "date"}
    assert not any("password" in k for k in report["run"]["settings"])
    items = load_items(QA)
    assert report["aggregate"]["n"] == len(items) == len(report["questions"])
    row = report["questions"][0]
    assert set(row) >= {"id", "passed", "category", "answer", "failed_checks", "failures"}
    assert [q["id"] for q in report["questions"]] == [i.id for i in items]
    assert report["aggregate"]["passed"] == sum(q["passed"] for q in report["questions"])
    for q in report["questions"]:
        assert q["passed"] == (not q["failed_checks"])
    assert "baseline" not in report
    # The pass rate comes with its 95% interval, which holds the rate itself.
    interval = report["intervals"]["pass_rate"]
    assert (interval["k"], interval["n"]) == (report["aggregate"]["passed"], report["aggregate"]["n"])
    assert interval["low"] <= report["additional"]["pass_rate"] <= interval["high"]


@pytest.mark.slow
def test_baseline_is_reported_side_by_side(side_by_side: tuple[Any, Path]) -> None:
    result, out = side_by_side
    assert result.exit_code == 0, result.output
    assert "naive baseline" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    base = report["baseline"]
    assert list(base["aggregate"]) == list(AGGREGATE_KEYS)
    assert base["run"]["answerer"] == "naive-baseline" and report["run"]["answerer"] == "chatbot"
    assert [q["id"] for q in base["questions"]] == [q["id"] for q in report["questions"]]
    assert {q["category"] for q in base["questions"]} == {"answered"}  # no policy
    emergency = report["comparison"]["emergency_recall"]
    assert (emergency["bot"], emergency["baseline"], emergency["better"]) == (1.0, 0.0, "bot")
    assert report["aggregate"]["passed"] > base["aggregate"]["passed"]
    assert base["aggregate"]["caveat_rate"] == 0.0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "naive baseline" in html and html.count("<svg") >= 2


@pytest.mark.slow
def test_report_html_is_self_contained_with_every_question(shipped: tuple[Any, Path]) -> None:
    _, out = shipped
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"https?://", html)
    assert not re.search(r"<link\b", html, re.IGNORECASE)
    assert html.count("<svg") >= 2
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    positions = {q["id"]: html.index(f'id="q-{q["id"]}"') for q in report["questions"]}
    failed = [positions[q["id"]] for q in report["questions"] if not q["passed"]]
    passed = [positions[q["id"]] for q in report["questions"] if q["passed"]]
    assert not failed or max(failed) < min(passed)  # failures first


@pytest.mark.slow
def test_fail_under_exit_1_names_each_unmet_threshold(cli: Any, tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    lines = [line for line in QA.read_text(encoding="utf-8").splitlines() if '"emerg-00' in line][:3]
    small.write_text("\n".join(lines), encoding="utf-8")
    unmet = cli(
        small.as_posix(),
        "--out",
        (tmp_path / "out").as_posix(),
        "--fail-under",
        "passed=1000",
        "--fail-under",
        "latency_p95_ms=0",
        "--fail-under",
        "caveat_rate=0.5",
        "--fail-under",
        "emergency_recall=1.0",
    )
    assert unmet.exit_code == 1
    assert "passed = 3, needed passed >= 1000" in unmet.output
    assert "needed latency_p95_ms <= 0" in unmet.output  # lower is better: "at most"
    assert "caveat_rate is not defined for this set" in unmet.output
    assert "needed emergency_recall" not in unmet.output  # met thresholds are not listed
    assert (tmp_path / "out" / "report.json").exists()  # the report is written either way


def test_bad_file_and_unknown_metric_exit_2_before_the_bot_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_bot() -> None:
        raise AssertionError("the bot must not be built for a bad file or option")

    monkeypatch.setattr(eval_cli, "make_bot", no_bot)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(BAD_JSONL, encoding="utf-8")
    result = CliRunner().invoke(_app(), [bad.as_posix()])
    assert result.exit_code == 2
    for n in (2, 3, 4, 5, 7, 8, 9, 10):
        assert f"line {n}:" in result.output
    assert "line 1:" not in result.output
    unknown = CliRunner().invoke(_app(), [QA.as_posix(), "--fail-under", "accuracy=0.9"])
    assert unknown.exit_code == 2 and "unknown metric 'accuracy'" in unknown.output
    missing = CliRunner().invoke(_app(), [(tmp_path / "nope.jsonl").as_posix()])
    assert missing.exit_code == 2 and "no such file" in missing.output
    # Several sets: every bad one is named, not only the first.
    several = CliRunner().invoke(_app(), [QA.as_posix(), bad.as_posix(), (tmp_path / "nope.jsonl").as_posix()])
    assert several.exit_code == 2
    assert "bad.jsonl cannot be used" in several.output and "no such file" in several.output
    # Two sets whose reports would overwrite each other.
    twin = tmp_path / "twin" / QA.name
    twin.parent.mkdir()
    twin.write_text(QA.read_text(encoding="utf-8"), encoding="utf-8")
    clash = CliRunner().invoke(_app(), [QA.as_posix(), twin.as_posix()])
    assert clash.exit_code == 2 and "share the report folder" in clash.output


@pytest.mark.slow
def test_refused_input_is_a_failed_question_not_a_skipped_one(bot) -> None:
    items = [
        item(id="long", question="x" * (bot.settings.max_message_chars + 1), expected_category="answered"),
        item(id="ok", question="Hello", expected_category="greeting"),
    ]
    run = evaluate(bot, items)
    assert run.aggregate["n"] == 2 and run.aggregate["passed"] == 1
    assert run.additional["errors"] == 1
    long = run.results[0]
    assert set(long.failures) == {"error", "category"} and "characters long" in long.failures["error"]
    assert run.confusion["answered"] == {"error": 1}


@pytest.mark.slow
def test_evaluate_rejects_references_the_article_lacks(bot) -> None:
    with pytest.raises(QAFileError, match="reference_quotes"):
        evaluate(bot, [item(reference_quotes=["48 volunteers aged 30"])])


@pytest.mark.slow
def test_naive_baseline_answers_with_the_top_passage(bot) -> None:
    from bot.evaluation.baseline import NaiveBaseline

    naive = NaiveBaseline(bot)
    reply = naive.ask("I have chest pain and can't breathe")
    assert reply.category is Category.ANSWERED and not reply.caveats  # no policy at all
    assert len(reply.citations) == 1 and reply.answer.endswith("[1]")
    c = reply.citations[0]
    texts = {p.id: p.text for p in bot.passages}
    assert texts[c.passage_id] == c.quote and reply.answer == f"{c.quote} [1]"
    question = "How many volunteers took part in the study and how old were they?"
    dense = bot.index.search(bot.embeddings.embed_query(question), k=4)
    assert naive.ask(question).citations[0].passage_id == dense[0][0]  # the plain dense top hit
