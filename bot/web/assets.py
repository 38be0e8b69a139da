"""The staff console's styling and <head> script (the urgent count in the tab title). The patient page's own
CSS and script live in `static/` (see `page`)."""

STAFF_HEAD = """
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>
(function () {
  // The urgent count in the tab title, from the badge the live queue refreshes; a title for the sign-in page too.
  var base = "Staff console";
  function retitle() {
    var badge = document.getElementById("urgent-count");
    var n = badge ? parseInt(badge.getAttribute("data-count") || "0", 10) : 0;
    var title = badge ? (n > 0 ? "(" + n + " urgent) " + base : base) : (document.title || "Sign in: " + base);
    if (document.title !== title) { document.title = title; }
  }
  setInterval(retitle, 1000);
  document.addEventListener("DOMContentLoaded", retitle);
})();
</script>
"""

STAFF_CSS = """
.gradio-container { max-width: 1400px !important; }
/* Contrast (WCAG AA 4.5:1): Gradio's orange primary button and grey footer links are too light. */
button.primary, .primary { background: #0b57d0 !important; color: #fff !important; border-color: #0b57d0 !important; }
footer a, footer button, .show-api, .built-with, .settings { color: #1f2933 !important; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .85em; font-weight: 600;
  background: #e8eaed; color: #1f2933; margin-right: 4px; }
.badge.urgent { background: #b00020; color: #fff; }
.badge.resolved { background: #1e6b2c; color: #fff; }
.badge.calm { background: #e8eaed; color: #1f2933; }
#urgent-badge .badge { font-size: 1em; padding: 4px 12px; }
.turn { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 12px; margin: 8px 0; }
.turn.flagged { border: 2px solid #b26a00; background: #fff8e1; color: #1f2933; }
.turn .meta { font-size: .85em; color: #4a5560; }
.turn .q, .turn .a { white-space: pre-wrap; margin: 4px 0; }
.turn .q::before { content: "Patient: "; font-weight: 700; }
.turn .a::before { content: "Bot: "; font-weight: 700; }
.notes li, .feedback li, .audit li { margin: 2px 0; }
.hbar { display: grid; grid-template-columns: minmax(180px, 3fr) 4fr 3em; gap: 8px; align-items: center;
  margin: 6px 0; }
.hbar .bar { background: #0b57d0; height: 16px; border-radius: 4px; min-width: 4px; }
.hbar .n { font-weight: 700; text-align: right; }
table.data { border-collapse: collapse; margin: 6px 0; }
#table-messages, #table-feedback { overflow-x: auto; }
table.data th, table.data td { border: 1px solid #c4ccd4; padding: 2px 8px; text-align: left; }
table.data td.n { text-align: right; }
"""
