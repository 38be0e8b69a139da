"""The pages' styling: the patient page CSS and <head> (viewport, the source-link script) and the staff CSS."""

PATIENT_CSS = """
.gradio-container { max-width: 1200px !important; overflow: visible !important; }
#banner { position: sticky; top: 0; z-index: 50; }
.banner-short { display: none; }
.banner { background: #fff8e1; border: 2px solid #b26a00; border-radius: 10px; padding: 10px 14px;
  color: #3b2a00; box-shadow: 0 2px 6px rgba(0,0,0,.08); }
.banner p { margin: 0 0 4px 0; font-size: 15px; line-height: 1.4; }
.banner .banner-emergency { margin: 0; color: #8a1c00; }
.banner strong { color: inherit; }
.dark .banner { background: #3b2a00; color: #fff3cd; }
.dark .banner .banner-emergency { color: #ffb4a6; }
#chat .caveats { border-left: 5px solid #b26a00; background: #fff4e0; color: #3b2a00;
  padding: 8px 12px; margin-top: 12px; border-radius: 6px; }
#chat .caveats-title { font-weight: 700; margin: 0 0 4px 0; }
#chat .caveats ul { margin: 0; padding-left: 1.2em; }
#chat .emergency { border: 3px solid #b00020; background: #ffe9ec; color: #5c0011; padding: 10px 12px;
  border-radius: 8px; font-size: 1.05em; }
#chat .notice { border-left: 5px solid #5b6770; background: #f1f3f5; color: #1f2933; padding: 8px 12px;
  border-radius: 6px; }
#chat a.cite, #chat a[href^="#src-"] { font-weight: 700; text-decoration: underline; color: #0b57d0; }
#chat a[href^="#src-"]:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
#sources { max-height: 680px; overflow-y: auto !important; }
.sources-title { font-size: 1.15em; margin: 0 0 8px 0; }
.sources-empty p { color: #4a5560; }
.src-group h3 { font-size: 0.95em; margin: 8px 0; color: #4a5560; }
.src-list { list-style: none; padding: 0; margin: 0; }
.src { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 10px; margin-bottom: 8px;
  scroll-margin-top: 120px; transition: background .3s, box-shadow .3s; }
.src.active { background: #e8f0fe; box-shadow: 0 0 0 3px #0b57d0; }
.src:focus { outline: none; }
.src-head { font-weight: 700; }
.src-doc { font-size: 0.82em; color: #4a5560; margin: 2px 0 6px 0; }
.src-doc cite { font-style: normal; }
#sources .src-text { margin: 0; padding: 0 0 0 10px; border-left: 3px solid #d0d7de; line-height: 1.5;
  font-style: normal; }
.src-back { font-size: 0.85em; display: inline-block; margin-top: 6px; }
#sources .src-text + .src-back { margin-top: 6px; }
#sources blockquote.src-text { margin: 0 !important; }
.src-text mark { background: #ffe066; color: #111; padding: 0 2px; }
.src-older summary { cursor: pointer; margin: 6px 0; color: #0b57d0; }
#starters button { white-space: normal; text-align: left; }
#clear { align-self: flex-start; width: auto; }
@media (max-width: 640px) {
  .banner { padding: 6px 10px; }
  .banner p { font-size: 13px; margin-bottom: 2px; }
  .banner .banner-long { display: none; }
  .banner .banner-short { display: block; }
  #sources { max-height: none; overflow-y: visible !important; }
}
"""

PATIENT_HEAD = """
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
/* outside Gradio's CSS scoping: the page margins on a phone */
@media (max-width: 640px) { .main.fillable.app { padding-left: 10px !important; padding-right: 10px !important; } }
</style>
<script>
(function () {
  function showSource(id) {
    var el = document.getElementById(id);
    if (!el) { return false; }
    var details = el.closest('details');
    if (details) { details.open = true; }
    document.querySelectorAll('.src.active').forEach(function (e) { e.classList.remove('active'); });
    el.classList.add('active');
    el.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    el.focus({preventScroll: true});
    return true;
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#src-"], a.src-back') : null;
    if (!a) { return; }
    ev.preventDefault();
    ev.stopPropagation();
    if (a.classList.contains('src-back')) {
      var box = document.querySelector('#question textarea');
      var chat = document.getElementById('chat');
      if (chat) { chat.scrollIntoView({behavior: 'smooth', block: 'start'}); }
      if (box) { box.focus({preventScroll: true}); }
      return;
    }
    showSource(a.getAttribute('href').slice(1));
  }, true);
  // Gradio labels each bot message with its raw Markdown/HTML source; let screen readers read the text.
  function relabel(root) {
    (root.querySelectorAll ? root.querySelectorAll('[data-testid="bot"][aria-label]') : []).forEach(
      function (el) { el.removeAttribute('aria-label'); });
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) { relabel(r.target.parentElement || document); });
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                        attributeFilter: ['aria-label']});
  window.haltShowSource = showSource;
})();
</script>
"""

STAFF_CSS = """
.gradio-container { max-width: 1400px !important; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .85em; font-weight: 600;
  background: #e8eaed; color: #1f2933; margin-right: 4px; }
.badge.urgent { background: #b00020; color: #fff; }
.badge.resolved { background: #1e7d32; color: #fff; }
.turn { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 12px; margin: 8px 0; }
.turn.flagged { border: 2px solid #b26a00; background: #fff8e1; }
.dark .turn.flagged { background: #3b2a00; }
.turn .meta { font-size: .85em; color: #5b6770; }
.turn .q, .turn .a { white-space: pre-wrap; margin: 4px 0; }
.turn .q::before { content: "Patient: "; font-weight: 700; }
.turn .a::before { content: "Bot: "; font-weight: 700; }
.notes li, .feedback li { margin: 2px 0; }
.hbar { display: grid; grid-template-columns: minmax(180px, 3fr) 4fr 3em; gap: 8px; align-items: center;
  margin: 6px 0; }
.hbar .bar { background: #0b57d0; height: 16px; border-radius: 4px; min-width: 4px; }
.hbar .n { font-weight: 700; text-align: right; }
"""
