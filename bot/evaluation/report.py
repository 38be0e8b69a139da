"""Evaluation reports: `report.json` (everything, machine-readable) and a self-contained `report.html`.

The HTML has no scripts and loads nothing: styles inline, charts drawn here as inline SVG, all text escaped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from bot.evaluation.compare import Comparison, paired_text
from bot.evaluation.runner import (
    ADDITIONAL_KEYS,
    AGGREGATE_KEYS,
    COUNTS_KEYS,
    LOWER_IS_BETTER,
    EvalRun,
    QuestionResult,
    Threshold,
    interval_lines,
    intervals,
)
from bot.reply import Category

BOT_COLOR = "#2b6cb0"
BASE_COLOR = "#a0aec0"
COUNTS = COUNTS_KEYS

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a202c;margin:24px auto;
max-width:1280px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse}
th,td{border:1px solid #e2e8f0;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f7fafc}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#4a5568;font-size:13px}.meta code{background:#edf2f7;padding:0 4px;border-radius:3px}
.better{color:#276749;font-weight:600}.worse{color:#9b2c2c}
.pass{background:#f0fff4}.fail{background:#fff5f5}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:#1e6b2c}.badge.ko{background:#b00020}
#failures-only:checked ~ table.questions tr.pass{display:none}
.toggle{font-weight:600;margin:8px 0;display:inline-flex;gap:6px;align-items:center}
.toggle input{width:20px;height:20px}
dl.defs dt{font-weight:600;margin-top:6px}dl.defs dd{margin:0 0 0 16px}
.met{color:#1e6b2c;font-weight:600}.unmet{color:#9b2c2c;font-weight:600}
.answer{white-space:pre-wrap;max-width:520px}.small{font-size:12px;color:#4a5568}
ul.f{margin:0;padding-left:16px;color:#9b2c2c}details summary{cursor:pointer;color:#1f5c99}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.grid{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}
"""


#: One line per metric, shown in the report itself (the full text is docs/evaluation.md).
METRIC_DEFINITIONS: dict[str, str] = {
    "n": "Number of questions in the file, errors included.",
    "passed": "Questions that passed every check.",
    "category_accuracy": "Of the questions that name an expected category, the share whose reply had one of them.",
    "key_fact_recall": "Of the questions with must_include groups, the mean share of groups found in the answer.",
    "citation_precision": "ALCE citation precision: cited passages that support the claim they are cited for.",
    "citation_recall": "ALCE citation recall: claims in the answer supported by their citations.",
    "context_recall": "Of the reference passages a good answer should cite, the share that were cited.",
    "fabrication_rate": "Replies with a forbidden phrase or a number found in no cited passage (lower is better).",
    "caveat_rate": "Of the questions that expect a caveat, the share whose reply carried one.",
    "emergency_recall": "Of the questions that expect an emergency reply, the share that got one.",
    "verbatim_quote_rate": "Of all quotes in citations, the share found verbatim in the passage they name.",
    "latency_p50_ms": "Median time to answer one question (lower is better).",
    "latency_p95_ms": "95th percentile of the time to answer (lower is better).",
    "pass_rate": "passed ÷ n.",
    "errors": "Questions where the bot raised instead of answering (lower is better).",
    "context_mrr": "Mean reciprocal rank of the first cited passage that is a reference passage.",
    "lead_quote_rate": "Of the questions with reference quotes, the share whose first cited sentence holds one.",
    "answer_sentences_mean": "Mean number of document sentences an answered reply cites in its body.",
    "caveat_citation_recall": "Citation recall over the caveats' claims instead of the answer's.",
    "caveat_citation_precision": "Citation precision over the caveats' claims instead of the answer's.",
    "must_not_include_rate": "Replies matching a must_not_include pattern (lower is better).",
    "unsupported_number_rate": "Replies with a number found in no cited passage (lower is better).",
    "benefit_caveat_rate": "Of the answers that state a benefit, the share that carry a caveat.",
    "emergency_precision": "Of the replies categorised emergency, the share whose question expected one.",
    "latency_mean_ms": "Mean time to answer (lower is better).",
    "latency_max_ms": "Slowest answer (lower is better).",
}


def definitions_html(names: Sequence[str]) -> str:
    items = "".join(
        f"<dt><code>{escape(n)}</code></dt><dd>{escape(METRIC_DEFINITIONS.get(n, 'See docs/evaluation.md.'))}</dd>"
        for n in names
    )
    return f'<dl class="defs">{items}</dl>'


def thresholds_html(run: EvalRun, thresholds: Sequence[Threshold]) -> str:
    """The `--fail-under` thresholds with the value reached and whether each was met."""
    if not thresholds:
        return "<p>No thresholds were given for this run (<code>--fail-under METRIC=VALUE</code>).</p>"
    rows = []
    for t in thresholds:
        reason = t.check(run)
        verdict = '<span class="met">met</span>' if reason is None else '<span class="unmet">NOT MET</span>'
        rows.append(
            f'<tr><td>{escape(t.metric)}</td><td class="num">{"≤" if t.at_most else "≥"} {t.value:g}</td>'
            f'<td class="num">{escape(_fmt(t.metric, run.metric(t.metric)))}</td><td>{verdict}</td></tr>'
        )
    head = "<tr><th>metric</th><th>threshold</th><th>this run</th><th>verdict</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def comparison_html(comp: Comparison | None) -> str:
    """The `--compare` section: metric deltas and the questions whose outcome changed."""
    if comp is None:
        return ""
    metric_rows = []
    for name, m in comp.metrics.items():
        if m["old"] is None and m["new"] is None:
            continue
        css = {"new": "better", "old": "worse"}.get(m["better"] or "", "")
        delta = "=" if not m["delta"] else f"{m['delta']:+g}"
        metric_rows.append(
            f'<tr><td>{escape(name)}</td><td class="num">{escape(_fmt(name, m["old"]))}</td>'
            f'<td class="num">{escape(_fmt(name, m["new"]))}</td><td class="num {css}">{escape(delta)}</td></tr>'
        )
    q_rows = "".join(
        f"<tr><td><code>{escape(c.id)}</code></td><td>{escape(c.change.replace('_', ' '))}</td>"
        f"<td>{escape(c.question)}</td><td>{escape(c.old_category or '—')} → {escape(c.new_category or '—')}</td>"
        f"<td>{escape(', '.join(c.newly_failed))}</td><td>{escape(', '.join(c.newly_passed))}</td>"
        f"<td>{'yes' if c.answer_changed else ''}</td></tr>"
        for c in comp.changes
    )
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in comp.counts.items())
    return (
        f"<h2>Changes since {escape(comp.old_label)}</h2><p>{escape(counts)}; {comp.unchanged} unchanged.</p>"
        f"<p>{escape(paired_text(comp.paired))}</p>"
        "<table><thead><tr><th>metric</th><th>old</th><th>new</th><th>new \u2212 old</th></tr></thead>"
        f"<tbody>{''.join(metric_rows)}</tbody></table>"
        "<h3>Questions whose outcome changed</h3>"
        + (
            "<table><thead><tr><th>id</th><th>change</th><th>question</th><th>category old → new</th>"
            "<th>checks now failing</th><th>checks now passing</th><th>answer changed</th></tr></thead>"
            f"<tbody>{q_rows}</tbody></table>"
            if comp.changes
            else "<p>None.</p>"
        )
    )


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in COUNTS:
        return str(int(value))
    if name.startswith("latency"):
        return f"{float(value):.1f} ms"
    return f"{100 * float(value):.1f}%"


def _direction(name: str) -> str:
    if name in COUNTS - {"errors"}:
        return ""
    return "↓ lower is better" if name in LOWER_IS_BETTER else "↑ higher is better"


def _metric_rows(run: EvalRun, names: Sequence[str]) -> str:
    base = run.baseline
    rows = []
    for name in names:
        value = run.metric(name)
        cells = [f"<td>{escape(name)}</td>", f'<td class="num">{escape(_fmt(name, value))}</td>']
        if base is not None:
            other = base.metric(name)
            cells.append(f'<td class="num">{escape(_fmt(name, other))}</td>')
            delta = ""
            css = ""
            if value is not None and other is not None and name != "n":
                diff = value - other
                if diff:
                    good = (diff < 0) == (name in LOWER_IS_BETTER)
                    css = "better" if good else "worse"
                    sign = "+" if diff > 0 else "\u2212"
                    mag = abs(diff)
                    if name in COUNTS:
                        delta = f"{sign}{int(mag)}"
                    elif name.startswith("latency"):
                        delta = f"{sign}{mag:.1f} ms"
                    else:
                        delta = f"{sign}{100 * mag:.1f} pts"
                else:
                    delta = "="
            cells.append(f'<td class="num {css}">{escape(delta)}</td>')
        cells.append(f'<td class="small">{escape(_direction(name))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(rows)


def _intervals_html(run: EvalRun) -> str:
    """How far the pass rate could move by the luck of which questions the set holds."""
    lines = interval_lines(intervals(run.results))
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<ul class="small">{items}</ul>'


def _metrics_table(run: EvalRun, names: Sequence[str]) -> str:
    head = "<th>metric</th><th>bot</th>"
    if run.baseline is not None:
        head += "<th>naive baseline</th><th>bot \u2212 baseline</th>"
    head += "<th></th>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{_metric_rows(run, names)}\n</tbody></table>"


def category_chart(run: EvalRun) -> str:
    """Horizontal bars: pass rate per expected category (bot, and the baseline beside it)."""
    cats = list(run.by_category)
    if run.baseline is not None:
        cats += [c for c in run.baseline.by_category if c not in cats]
    series = [("bot", BOT_COLOR, run.by_category)]
    if run.baseline is not None:
        series.append(("naive baseline", BASE_COLOR, run.baseline.by_category))
    bar_h, gap, label_w, plot_w = 16, 10, 150, 380
    group_h = bar_h * len(series) + gap
    height = group_h * max(len(cats), 1) + 30
    width = label_w + plot_w + 110
    parts = [
        f'<svg role="img" aria-label="pass rate per category" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * plot_w
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 22}" stroke="#e2e8f0"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" font-size="11" text-anchor="middle" fill="#4a5568">'
            f"{int(tick * 100)}%</text>"
        )
    for i, cat in enumerate(cats):
        y0 = i * group_h + 4
        parts.append(
            f'<text x="{label_w - 8}" y="{y0 + bar_h * len(series) / 2 + 4:.1f}" '
            'font-size="12" text-anchor="end">'
            f"{escape(cat)}</text>"
        )
        for j, (label, color, stats) in enumerate(series):
            y = y0 + j * bar_h
            s = stats.get(cat)
            if s is None:
                continue
            rate = float(s["pass_rate"])
            w = max(rate * plot_w, 1.0)
            text = f"{100 * rate:.0f}% ({s['passed']}/{s['n']})"
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{color}">'
                f"<title>{escape(f'{label}, {cat}: {text} passed')}</title></rect>"
            )
            parts.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}" font-size="11" fill="#2d3748">'
                f"{escape(text)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(span: float, bins: int) -> float:
    raw = max(span / bins, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def latency_histogram(run: EvalRun) -> str:
    """Counts of questions per latency bin; the baseline's beside the bot's, same bins."""
    series = [("bot", BOT_COLOR, [r.reply.latency_ms for r in run.results if r.reply])]
    if run.baseline is not None:
        series.append(("naive baseline", BASE_COLOR, [r.reply.latency_ms for r in run.baseline.results if r.reply]))
    values = [v for _, _, vs in series for v in vs]
    if not values:
        return "<p>No replies, so no latencies.</p>"
    step = _nice_step(max(values), 12)
    nbins = max(1, math.floor(max(values) / step) + 1)
    counts = [[0] * nbins for _ in series]
    for s, (_, _, vs) in enumerate(series):
        for v in vs:
            counts[s][min(int(v // step), nbins - 1)] += 1
    top = max(max(c) for c in counts)
    left, plot_w, plot_h, bottom = 40, 560, 180, 40
    width, height = left + plot_w + 20, plot_h + bottom + 10
    bin_w = plot_w / nbins
    bar_w = (bin_w - 4) / len(series)
    parts = [
        f'<svg role="img" aria-label="latency histogram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<line x1="{left}" y1="{plot_h + 10}" x2="{left + plot_w}" y2="{plot_h + 10}" stroke="#4a5568"/>',
    ]
    for t in range(0, top + 1, max(1, math.ceil(top / 5))):
        y = 10 + plot_h - t / top * plot_h
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#edf2f7"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{t}</text>')
    for b in range(nbins):
        x0 = left + b * bin_w + 2
        lo, hi = b * step, (b + 1) * step
        for s, (label, color, _) in enumerate(series):
            c = counts[s][b]
            if not c:
                continue
            h = c / top * plot_h
            parts.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{10 + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{color}">'
                f"<title>{escape(f'{label}: {c} question(s) at {lo:g} to {hi:g} ms')}</title></rect>"
            )
        if b % max(1, math.ceil(nbins / 8)) == 0:
            parts.append(
                f'<text x="{left + b * bin_w:.1f}" y="{plot_h + 26}" font-size="11" text-anchor="middle">{lo:g}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 2}" font-size="11" text-anchor="middle">latency (ms)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def confusion_table(matrix: dict[str, dict[str, int]], title: str) -> str:
    if not matrix:
        return f"<div><h3>{escape(title)}</h3><p>No question names an expected category.</p></div>"
    cols = [c.value for c in Category if any(c.value in row for row in matrix.values())]
    if any("error" in row for row in matrix.values()):
        cols.append("error")
    top = max(v for row in matrix.values() for v in row.values())
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    rows = []
    for exp, row in matrix.items():
        cells = []
        for col in cols:
            v = row.get(col, 0)
            alpha = 0.0 if not v else 0.1 + 0.4 * v / top  # light enough for dark text (4.5:1)
            rgb = "56,161,105" if col == exp else "229,62,62"
            style = f' style="background:rgba({rgb},{alpha:.2f})"' if v else ""
            cells.append(f'<td class="num"{style}>{v or ""}</td>')
        rows.append(f"<tr><th>{escape(exp)}</th>{''.join(cells)}</tr>")
    return (
        f"<div><h3>{escape(title)}</h3><table><thead><tr><th>expected ↓ / got →</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _reply_block(r: QuestionResult) -> str:
    reply = r.reply
    if reply is None:
        return f'<span class="small">{escape(r.error or "no reply")}</span>'
    parts = [f'<div class="answer">{escape(reply.answer)}</div>']
    if reply.citations or reply.caveats:
        inner = []
        for c in reply.citations:
            inner.append(f"<li>[{c.n}] <code>{escape(c.anchor)}</code> “{escape(c.quote)}”</li>")
        cav = "".join(f"<li>⚠ {escape(c)}</li>" for c in reply.caveats)
        parts.append(
            f"<details><summary>{len(reply.citations)} citation(s), {len(reply.caveats)} caveat(s)</summary>"
            f'<ul class="small">{"".join(inner)}</ul><ul class="small">{cav}</ul></details>'
        )
    return "".join(parts)


def _question_cell(r: QuestionResult) -> str:
    item = r.item
    out = escape(item.question)
    if item.history:
        turns = "".join(f"<li><b>{escape(t.role)}</b>: {escape(t.content)}</li>" for t in item.history)
        summary = f"<summary>history ({len(item.history)})</summary>"
        out += f'<details>{summary}<ul class="small">{turns}</ul></details>'
    return out


def _badge(passed: bool) -> str:
    return '<span class="badge ok">pass</span>' if passed else '<span class="badge ko">FAIL</span>'


def question_rows(run: EvalRun) -> str:
    base = {r.item.id: r for r in run.baseline.results} if run.baseline else {}
    order = sorted(range(len(run.results)), key=lambda i: (run.results[i].passed, i))
    rows = []
    for i in order:
        r = run.results[i]
        expected = " or ".join(r.item.expected_category) or "—"
        failures = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in r.failures.items())
        tags = f'<div class="small">{escape(", ".join(r.item.tags))}</div>' if r.item.tags else ""
        latency = f"{r.reply.latency_ms:.0f} ms" if r.reply else "—"
        cells = [
            f"<td><code>{escape(r.item.id)}</code>{tags}</td>",
            f"<td>{_badge(r.passed)}</td>",
            f"<td>{_question_cell(r)}</td>",
            f'<td class="small">{escape(expected)} → <b>{escape(r.category or "error")}</b></td>',
            f"<td>{_reply_block(r)}</td>",
            f"<td>{f'<ul class=f>{failures}</ul>' if failures else ''}</td>",
            f'<td class="num">{escape(latency)}</td>',
        ]
        if run.baseline is not None:
            b = base.get(r.item.id)
            if b is None:
                cells.append("<td>—</td>")
            else:
                cells.append(
                    f"<td>{_badge(b.passed)} <span class='small'>{escape(b.category or 'error')}</span>"
                    f"<details><summary>reply</summary>{_reply_block(b)}"
                    f'<ul class="f small">{"".join(f"<li>{escape(k)}</li>" for k in b.failures)}</ul>'
                    "</details></td>"
                )
        rows.append(f'<tr class="{"pass" if r.passed else "fail"}" id="q-{escape(r.item.id)}">{"".join(cells)}</tr>')
    head = "<th>id</th><th>result</th><th>question</th><th>expected → got</th><th>reply</th>"
    head += "<th>failed checks</th>"
    head += "<th>latency</th>" + ("<th>naive baseline</th>" if run.baseline is not None else "")
    return f'<table class="questions"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(rows) + "\n</tbody></table>"


def _run_meta(run: EvalRun) -> str:
    info = run.run
    bits = [
        ("file", info.get("file")),
        ("commit", info.get("commit")),
        ("model", info.get("model")),
        ("date", info.get("date")),
        ("passages", info.get("passages")),
    ]
    text = " · ".join(f"{escape(k)} <code>{escape(str(v))}</code>" for k, v in bits if v is not None)
    settings = escape(json.dumps(info.get("settings", {}), indent=1, ensure_ascii=False))
    return f'<p class="meta">{text}</p><details class="meta"><summary>settings</summary><pre>{settings}</pre></details>'


def render_html(run: EvalRun, thresholds: Sequence[Threshold] = (), comparison: Comparison | None = None) -> str:
    agg = run.aggregate
    n, passed = agg["n"], agg["passed"]
    legend = f'<p class="legend"><span style="background:{BOT_COLOR}"></span>bot'
    if run.baseline is not None:
        swatch = f'<span style="background:{BASE_COLOR}"></span>'
        legend += swatch + "naive baseline (Chroma top-4, answer = top passage)"
    legend += "</p>"
    confusions = confusion_table(run.confusion, "bot")
    if run.baseline is not None:
        confusions += confusion_table(run.baseline.confusion, "naive baseline")
    summary = f"{passed} of {n} questions passed"
    if run.baseline is not None:
        summary += f"; the naive baseline passed {run.baseline.aggregate['passed']} of {run.baseline.aggregate['n']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evaluation report: {escape(summary)}</title><style>{_CSS}</style></head>
<body>
<h1>Evaluation report</h1>
<p><b>{escape(summary)}.</b></p>
{_run_meta(run)}
<h2>Metrics</h2>
{_intervals_html(run)}
{_metrics_table(run, AGGREGATE_KEYS)}
<details><summary>more metrics</summary>{_metrics_table(run, ADDITIONAL_KEYS)}</details>
<h2>Thresholds</h2>
{thresholds_html(run, thresholds)}
<h2>What the metrics mean</h2>
<p class="small">Rates are shares of the questions each metric applies to; "—" means no question in the set
applies. The full definitions are in docs/evaluation.md.</p>
<details><summary>Definitions of every metric</summary>{definitions_html([*AGGREGATE_KEYS, *ADDITIONAL_KEYS])}</details>
{comparison_html(comparison)}
<h2>Pass rate per expected category</h2>
{legend}
{category_chart(run)}
<h2>Confusion matrix (categories)</h2>
<div class="grid">{confusions}</div>
<h2>Latency</h2>
{legend}
{latency_histogram(run)}
<h2>Questions (failures first)</h2>
<input type="checkbox" id="failures-only"> <label class="toggle" for="failures-only">Show failures only</label>
{question_rows(run)}
</body></html>
"""


def write_report(
    run: EvalRun,
    out: Path,
    *,
    thresholds: Sequence[Threshold] | dict[str, float] = (),
    comparison: Comparison | None = None,
) -> tuple[Path, Path]:
    """Write `report.json` and `report.html` into `out` (created if needed); return their paths.

    `thresholds` (the `--fail-under` ones) and `comparison` (`--compare`) are shown in the HTML; the comparison
    is also written as `compare.json` beside them."""
    if isinstance(thresholds, dict):
        thresholds = [Threshold(k, float(v)) for k, v in thresholds.items()]
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(json.dumps(run.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(run, thresholds, comparison), encoding="utf-8")
    if comparison is not None:
        text = json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n"
        (out / "compare.json").write_text(text, encoding="utf-8")
    return json_path, html_path
