// The patient page: ask, show the answer at once with its first line in view, feedback by keyboard, keep the
// conversation in this browser until "Clear conversation", and print it for the neurologist.
(function () {
  "use strict";
  var KEY = "article-helper-conversation-v1";
  // Drawn thumbs: emoji fonts are not on every machine (headless browsers show empty boxes).
  var ICON_UP = '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3"/></svg>';
  var ICON_DOWN = '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17"/></svg>';
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var chat = $("#chat"), log = $("#log"), box = $("#question"), form = $("#ask"), send = $("#send");
  var sources = $("#sources-body"), announce = $("#announce"), newAnswer = $("#new-answer");
  var starters = $("#starters"), emptySources = sources.innerHTML;
  var state = load();
  var busy = false;

  function newSession() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "s" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  function load() {
    try {
      var saved = JSON.parse(localStorage.getItem(KEY) || "null");
      if (saved && typeof saved.session === "string" && Array.isArray(saved.entries)) { return saved; }
    } catch (e) { /* unreadable storage: start afresh */ }
    return { session: newSession(), entries: [] };
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* storage full or off */ }
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // -- drawing the conversation
  function turnNode(entry, i) {
    var li = el("li", { "class": "turn", "data-i": String(i) });
    var user = el("div", { "class": "msg user" });
    user.appendChild(el("span", { "class": "who" }, "You asked"));
    user.appendChild(el("p", {}, entry.question));
    li.appendChild(user);
    var bot = el("article", { "class": "msg bot cat-" + String(entry.category).replace(/[^a-z_]/g, ""),
                              id: "answer-" + i, tabindex: "-1", "aria-label": "Answer " + (i + 1) });
    bot.appendChild(el("span", { "class": "who" }, "Article helper"));
    var body = el("div", { "class": "answer" });
    body.innerHTML = entry.html;  // rendered and escaped by the server
    bot.appendChild(body);
    if (entry.turn_id !== null && entry.turn_id !== undefined) { bot.appendChild(feedbackBar(entry, i)); }
    li.appendChild(bot);
    return li;
  }
  function pendingNode(question) {
    var li = el("li", { "class": "turn pending-turn" });
    var user = el("div", { "class": "msg user" });
    user.appendChild(el("span", { "class": "who" }, "You asked"));
    user.appendChild(el("p", {}, question));
    li.appendChild(user);
    var bot = el("div", { "class": "msg bot" });
    bot.appendChild(el("p", { "class": "pending" }, "Looking through the article…"));
    li.appendChild(bot);
    return li;
  }
  function drawSources() {
    var groups = state.entries.filter(function (e) { return e.sources; });
    if (!groups.length) { sources.innerHTML = emptySources; return; }
    var html = "";
    groups.slice().reverse().forEach(function (e, k) {
      if (k === 0) { html += e.sources; return; }
      var d = document.createElement("div");
      d.textContent = e.question.length > 60 ? e.question.slice(0, 57) + "…" : e.question;
      html += '<details class="src-older"><summary>Earlier: “' + d.innerHTML + '”</summary>' + e.sources + "</details>";
    });
    sources.innerHTML = html;
  }
  function drawAll() {
    log.innerHTML = "";
    state.entries.forEach(function (e, i) { log.appendChild(turnNode(e, i)); });
    starters.hidden = state.entries.length > 0;
    drawSources();
  }

  // -- keeping the newest answer's first line in view
  function nearBottom() { return chat.scrollHeight - chat.clientHeight - chat.scrollTop < 80; }
  function showAnswer(node) {
    // The question above the answer too when both fit, else the answer's own first line at the top.
    var turn = node.closest(".turn") || node;
    var box = chat.getBoundingClientRect();
    var target = node.getBoundingClientRect().top - turn.getBoundingClientRect().top < box.height / 3 ? turn : node;
    chat.scrollTop += target.getBoundingClientRect().top - box.top - 8;
    var top = node.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 60) { window.scrollBy(0, top - 80); }
    newAnswer.hidden = true;
  }
  newAnswer.addEventListener("click", function () {
    var last = log.querySelector(".turn:last-child article.msg.bot");
    if (last) { showAnswer(last); last.focus({ preventScroll: true }); }
  });
  chat.addEventListener("scroll", function () {
    if (newAnswer.hidden) { return; }
    var last = log.querySelector(".turn:last-child article.msg.bot");
    if (last) {
      var r = last.getBoundingClientRect(), c = chat.getBoundingClientRect();
      if (r.top >= c.top && r.top < c.bottom - 40) { newAnswer.hidden = true; }
    }
  });

  // -- asking
  function history() {
    var h = [];
    state.entries.forEach(function (e) {
      if (e.plain) { h.push({ role: "user", content: e.question }, { role: "assistant", content: e.plain }); }
    });
    return h.slice(-12);
  }
  function post(url, data) {
    return fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                        body: JSON.stringify(data), credentials: "same-origin" })
      .then(function (r) { return r.json(); });
  }
  function ask(question) {
    question = (question || "").trim();
    if (!question || busy) { return; }
    busy = true; send.disabled = true;
    starters.hidden = true;
    box.value = "";
    var pending = pendingNode(question);
    log.appendChild(pending);
    chat.scrollTop = chat.scrollHeight;
    var followed = true;
    var onScroll = function () { followed = nearBottom(); };
    chat.addEventListener("scroll", onScroll);
    post("api/ask", { message: question, history: history(), session: state.session,
                      group: state.entries.length })
      .catch(function () {
        return { kind: "error", question: question, category: "notice", plain: "", text: "", sources: "",
                 html: '<p class="notice">Sorry, the helper could not be reached. Please check your connection and ' +
                       "try again. If this is an emergency, call 911 or your local emergency number.</p>",
                 turn_id: null, citations: [], summary: [], could_not_answer: false };
      })
      .then(function (entry) {
        chat.removeEventListener("scroll", onScroll);
        var atBottom = followed && nearBottom();
        pending.remove();
        state.entries.push(entry);
        save();
        var node = turnNode(entry, state.entries.length - 1);
        log.appendChild(node);
        drawSources();
        var answer = node.querySelector("article.msg.bot");
        if (atBottom) { showAnswer(answer); } else { newAnswer.hidden = false; }
        announce.textContent = "Answer: " + [entry.text].concat(entry.summary || []).join(" ");
      })
      .finally(function () { busy = false; send.disabled = false; });
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); ask(box.value); });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); ask(box.value); }
  });
  starters.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-question]");
    if (b) { ask(b.getAttribute("data-question")); box.focus(); }
  });

  // -- feedback: one record per action, nothing on Cancel, focus into the comment box and back
  function feedbackBar(entry, i) {
    var wrap = el("div", { "class": "fb" });
    var bar = el("div", { "class": "feedback", role: "group", "aria-label": "Feedback on answer " + (i + 1) });
    var up = el("button", { type: "button", "class": "fb-up", "aria-pressed": "false", title: "Helpful" });
    up.innerHTML = ICON_UP + '<span class="visually-hidden">Helpful</span>';
    var down = el("button", { type: "button", "class": "fb-down", "aria-pressed": "false", title: "Not helpful" });
    down.innerHTML = ICON_DOWN + '<span class="visually-hidden">Not helpful</span>';
    var report = el("button", { type: "button", "class": "fb-report" }, "Report a problem");
    var status = el("span", { "class": "fb-status", role: "status" });
    bar.appendChild(up); bar.appendChild(down); bar.appendChild(report); bar.appendChild(status);
    wrap.appendChild(bar);
    var panel = el("div", { "class": "fb-panel", hidden: "" });
    var fid = "fb-text-" + i;
    var label = el("label", { "for": fid });
    var input = el("textarea", { id: fid, maxlength: "2000", rows: "3" });
    var actions = el("div", { "class": "fb-actions" });
    var sendBtn = el("button", { type: "button", "class": "fb-send" }, "Send");
    var cancel = el("button", { type: "button", "class": "fb-cancel secondary" }, "Cancel");
    actions.appendChild(sendBtn); actions.appendChild(cancel);
    panel.appendChild(label); panel.appendChild(input); panel.appendChild(actions);
    wrap.appendChild(panel);
    var opener = null, rating = null;
    function record(r, comment, back) {
      post("api/feedback", { session: state.session, turn_id: entry.turn_id, rating: r, comment: comment || "" })
        .then(function (res) { status.textContent = res.message || ""; if (res.ok) { mark(r); } })
        .catch(function () { status.textContent = "Sorry, your feedback could not be sent. Please try again."; })
        .finally(function () { if (back) { back.focus(); } });
    }
    function mark(r) {
      up.setAttribute("aria-pressed", String(r === "up"));
      down.setAttribute("aria-pressed", String(r === "down"));
      entry.feedback = r; save();
    }
    if (entry.feedback) { mark(entry.feedback); }
    function open(r, button) {
      opener = button; rating = r;
      label.textContent = r === "down"
        ? "What was wrong with this answer? (optional; please no names or contact details)"
        : "Report a problem with this answer: what was wrong? (please no names or contact details)";
      input.value = ""; panel.hidden = false; status.textContent = "";
      input.focus();
      panel.scrollIntoView({ block: "nearest" });
    }
    function close() { panel.hidden = true; var b = opener; opener = null; rating = null; return b; }
    up.addEventListener("click", function () { record("up", "", null); });
    down.addEventListener("click", function () { open("down", down); });
    report.addEventListener("click", function () { open("report", report); });
    sendBtn.addEventListener("click", function () {
      var r = rating, comment = input.value.trim(), back = close();
      if (r) { record(r, comment, back); }
    });
    cancel.addEventListener("click", function () { var back = close(); if (back) { back.focus(); } });
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { var back = close(); if (back) { back.focus(); } }
    });
    return wrap;
  }

  // -- citations open their source card
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest('a[href^="#src-"], a.src-back') : null;
    if (!a) { return; }
    ev.preventDefault();
    if (a.classList.contains("src-back")) { box.focus(); box.scrollIntoView({ block: "nearest" }); return; }
    var card = document.getElementById(a.getAttribute("href").slice(1));
    if (!card) { return; }
    var details = card.closest("details");
    if (details) { details.open = true; }
    document.querySelectorAll(".src.active").forEach(function (e) { e.classList.remove("active"); });
    card.classList.add("active");
    card.scrollIntoView({ block: "nearest" });
    card.focus({ preventScroll: true });
  });

  // -- clear and print
  $("#clear").addEventListener("click", function () {
    state = { session: newSession(), entries: [] };
    try { localStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
    drawAll();
    newAnswer.hidden = true;
    announce.textContent = "Conversation cleared.";
    box.focus();
  });
  function printable() {
    var root = $("#printable");
    root.innerHTML = "";
    var title = document.body.getAttribute("data-title") || "Article helper";
    root.appendChild(el("h1", {}, "Questions and answers: " + title));
    root.appendChild(el("p", {}, "From the " + title + " on " + new Date().toLocaleDateString() +
      ". Education about one news article on one study, not medical advice: please talk these over with your " +
      "neurologist."));
    var answered = state.entries.filter(function (e) { return e.category === "answered"; });
    var gaps = state.entries.filter(function (e) { return e.could_not_answer; });
    var qa = el("section", { "class": "print-answers" });
    qa.appendChild(el("h2", {}, "Questions and answers"));
    if (!answered.length) { qa.appendChild(el("p", {}, "No answered questions yet.")); }
    answered.forEach(function (e) {
      qa.appendChild(el("h3", {}, "Q: " + e.question));
      qa.appendChild(el("p", {}, e.text));
      (e.summary || []).forEach(function (s) { qa.appendChild(el("p", { "class": "print-caveat" }, "Risk: " + s)); });
      if (e.citations && e.citations.length) {
        var ol = el("ul", { "class": "print-citations" });
        e.citations.forEach(function (c) {
          var quoted = /^[“"]/.test(c.quote) ? c.quote : "“" + c.quote + "”";
          ol.appendChild(el("li", {}, "[" + c.n + "] " + c.title + ", " + c.where + ": " + quoted +
                                      (c.source_url ? " (" + c.source_url + ")" : "")));
        });
        qa.appendChild(ol);
      }
    });
    root.appendChild(qa);
    var gapSection = el("section", { "class": "print-gaps" });
    gapSection.appendChild(el("h2", {}, "Questions the article could not answer: ask your neurologist"));
    var ul = el("ul", {});
    gaps.forEach(function (e) { ul.appendChild(el("li", {}, e.question)); });
    if (!gaps.length) { ul.appendChild(el("li", {}, "None so far.")); }
    gapSection.appendChild(ul);
    root.appendChild(gapSection);
  }
  $("#print").addEventListener("click", function () { printable(); window.print(); });
  window.addEventListener("beforeprint", printable);

  drawAll();
  var last = log.querySelector(".turn:last-child article.msg.bot");
  if (last) { showAnswer(last); }
})();
