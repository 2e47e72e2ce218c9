// The exam page: builds the paper from the server's sitting state, saves every change through the outbox,
// keeps the server's clock, detects a second live tab, and submits after a summary.
(function () {
  "use strict";

  const root = document.getElementById("exam-root");
  if (!root) return;
  const T = JSON.parse(document.getElementById("exam-strings").textContent);
  const sittingId = root.dataset.sittingId;
  const api = root.dataset.api; // /api/v1/sittings/<id>
  const resultUrl = root.dataset.resultUrl;
  const tabKey = "exam-tab-" + sittingId;
  // A reload keeps the tab id (sessionStorage survives it), so it is not mistaken for a second tab.
  let tab = window.sessionStorage.getItem(tabKey);
  if (!tab) {
    tab = window.examUuid();
    window.sessionStorage.setItem(tabKey, tab);
  }
  const seqKey = "exam-seq-" + sittingId;
  const seqs = JSON.parse(window.localStorage.getItem(seqKey) || "{}");

  let state = null;
  let position = 0;
  let deadlineMs = 0;
  let finished = false;
  const answers = {}; // paper item id -> {answer, flagged}

  const el = (tag, attrs, children) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "html") node.innerHTML = v; // server-sanitised item HTML only
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => c && node.appendChild(c));
    return node;
  };
  const $ = (id) => document.getElementById(id);
  const fmt = (s, args) => s.replace(/%\((\w+)\)s/g, (_, k) => String(args[k]));

  // ----- outbox and save status -----------------------------------------------------------------------------
  const outbox = new window.ExamOutbox("exam-outbox-" + sittingId, {
    onAck: (op, body) => {
      if (body && typeof body.remaining_seconds === "number") syncClock(body.remaining_seconds);
      if (body && body.saved_at) $("save-status").dataset.lastSaved = body.saved_at;
    },
    onState: (s) => renderStatus(s),
    onFatal: (op, status, body) => {
      const code = body && body.error ? body.error.code : "";
      if (code === "other_tab") {
        showTakeover();
        return "stop";
      }
      if (code === "submitted") {
        finish();
        return "drop";
      }
      if (status === 400 && code === "csrf") {
        showBanner(T.session_expired);
        return "stop";
      }
      if (status === 401) {
        showBanner(T.signed_out);
        return "stop";
      }
      showBanner((body && body.error && body.error.message) || T.save_refused);
      return "drop";
    },
  });
  window.examOutbox = {
    /** Queue any write for this sitting (used by proctoring snapshots too). */
    enqueue: (url, body, collapse) => outbox.enqueue(url, Object.assign({ tab: tab }, body), collapse),
    pending: () => outbox.pending(),
    sittingId: sittingId,
    tab: tab,
  };

  function renderStatus(s) {
    const box = $("save-status");
    let text;
    let cls;
    if (s.stopped) {
      text = fmt(T.not_saved, { n: s.pending });
      cls = "bad";
    } else if (s.offline) {
      text = fmt(T.offline_waiting, { n: s.pending });
      cls = "bad";
    } else if (s.pending > 0) {
      text = T.saving;
      cls = "busy";
    } else {
      text = T.all_saved;
      cls = "ok";
    }
    if (s.error === "storage") text += " · " + T.storage_full;
    box.textContent = text;
    box.className = "save-status " + cls;
    box.dataset.pending = String(s.pending);
  }

  function showBanner(message) {
    const banner = $("exam-banner");
    banner.textContent = message;
    banner.hidden = !message;
  }

  // ----- clock ------------------------------------------------------------------------------------------------
  function syncClock(remainingSeconds) {
    deadlineMs = Date.now() + remainingSeconds * 1000;
  }

  function tick() {
    if (finished) return;
    const left = Math.max(0, Math.round((deadlineMs - Date.now()) / 1000));
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const s = left % 60;
    const clock = $("exam-clock");
    clock.textContent = (h ? h + ":" : "") + String(m).padStart(h ? 2 : 1, "0") + ":" + String(s).padStart(2, "0");
    clock.className = "clock" + (left <= 300 ? " warn" : "");
    clock.dataset.seconds = String(left);
    if (left === 0) timeUp();
  }

  async function timeUp() {
    if (finished) return;
    finished = true;
    showBanner(T.time_up);
    await waitForOutbox(20000);
    await submitNow();
  }

  // ----- answers ----------------------------------------------------------------------------------------------
  function nextSeq(pid) {
    seqs[pid] = (seqs[pid] || 0) + 1;
    window.localStorage.setItem(seqKey, JSON.stringify(seqs));
    return seqs[pid];
  }

  function record(pid, answer, flagged) {
    const current = answers[pid] || { answer: null, flagged: false };
    if (answer !== undefined) current.answer = answer;
    if (flagged !== undefined) current.flagged = flagged;
    answers[pid] = current;
    outbox.enqueue(
      api + "/answers",
      { paper_item_id: Number(pid), answer: current.answer, flagged: current.flagged, seq: nextSeq(pid), tab: tab },
      "item-" + pid
    );
    renderNav();
  }

  const debounced = {};
  function recordSoon(pid, answerFn) {
    window.clearTimeout(debounced[pid]);
    debounced[pid] = window.setTimeout(() => record(pid, answerFn()), 500);
  }

  function isAnswered(a) {
    if (!a || a.answer === null || a.answer === undefined) return false;
    const v = a.answer;
    if (typeof v === "string") return v.trim() !== "";
    if (Array.isArray(v)) return v.some((x) => String(x).trim() !== "");
    if (typeof v === "object") return Object.values(v).some((x) => x);
    return true;
  }

  // ----- rendering --------------------------------------------------------------------------------------------
  function renderNav() {
    const nav = $("exam-nav");
    nav.innerHTML = "";
    state.items.forEach((item, i) => {
      const a = answers[item.id];
      const classes = ["navbtn"];
      if (isAnswered(a)) classes.push("answered");
      if (a && a.flagged) classes.push("flagged");
      if (i === position) classes.push("current");
      nav.appendChild(
        el("button", {
          type: "button",
          class: classes.join(" "),
          "data-testid": "nav-" + item.number,
          "aria-label": fmt(T.item_n, { n: item.number }),
          onclick: () => go(i),
          text: String(item.number),
        })
      );
    });
    const answered = state.items.filter((it) => isAnswered(answers[it.id])).length;
    $("exam-progress").textContent = fmt(T.progress, { answered: answered, total: state.items.length });
  }

  function choiceInput(item, type, name, key, checked, onchange) {
    return el("input", { type: type, name: name, value: key, checked: checked, onchange: onchange });
  }

  function renderAnswerArea(item) {
    const pid = String(item.id);
    const a = answers[pid] || { answer: null };
    const box = el("div", { class: "answer-area", "data-type": item.type });
    const name = "item-" + pid;
    if (item.type === "single_choice") {
      item.options.forEach((o) => {
        box.appendChild(
          el("label", { class: "option" }, [
            choiceInput(item, "radio", name, o.key, a.answer === o.key, () => record(pid, o.key)),
            el("span", { class: "okey", text: o.key + "." }),
            el("span", { html: o.text }),
          ])
        );
      });
    } else if (item.type === "multiple_choice") {
      const current = new Set(Array.isArray(a.answer) ? a.answer : []);
      item.options.forEach((o) => {
        box.appendChild(
          el("label", { class: "option" }, [
            choiceInput(item, "checkbox", name, o.key, current.has(o.key), (ev) => {
              if (ev.target.checked) current.add(o.key);
              else current.delete(o.key);
              record(pid, item.options.map((x) => x.key).filter((k) => current.has(k)));
            }),
            el("span", { class: "okey", text: o.key + "." }),
            el("span", { html: o.text }),
          ])
        );
      });
    } else if (item.type === "true_false") {
      [
        [true, T.true_],
        [false, T.false_],
      ].forEach(([value, label]) => {
        box.appendChild(
          el("label", { class: "option" }, [
            el("input", { type: "radio", name: name, checked: a.answer === value, onchange: () => record(pid, value) }),
            el("span", { text: label }),
          ])
        );
      });
    } else if (item.type === "fill_blank") {
      const values = Array.isArray(a.answer) ? a.answer.slice() : [];
      for (let i = 0; i < (item.blanks || 1); i++) {
        const input = el("input", {
          type: "text",
          class: "blank",
          "aria-label": fmt(T.blank_n, { n: i + 1 }),
          "data-testid": "blank-" + (i + 1),
          value: values[i] || "",
        });
        input.addEventListener("input", () => {
          values[i] = input.value;
          recordSoon(pid, () => Array.from({ length: item.blanks || 1 }, (_, j) => values[j] || ""));
        });
        box.appendChild(el("label", { class: "blank-label" }, [el("span", { text: "(" + (i + 1) + ") " }), input]));
      }
    } else if (item.type === "numerical") {
      const input = el("input", { type: "text", inputmode: "decimal", class: "numeric", value: a.answer || "" });
      input.addEventListener("input", () => recordSoon(pid, () => input.value));
      box.appendChild(input);
      if (item.units && item.units.length) box.appendChild(el("span", { class: "hint", text: item.units.join(" / ") }));
    } else if (item.type === "short_answer" || item.type === "essay") {
      const area = el("textarea", { rows: item.type === "essay" ? 14 : 5, class: "free-text", "data-testid": "free-text" });
      area.value = a.answer || "";
      const count = el("div", { class: "hint", text: fmt(T.characters, { n: area.value.length }) });
      area.addEventListener("input", () => {
        count.textContent = fmt(T.characters, { n: area.value.length });
        recordSoon(pid, () => area.value);
      });
      box.appendChild(area);
      box.appendChild(count);
    } else if (item.type === "matching") {
      const left = item.options.filter((o) => o.side === "left");
      const right = item.options.filter((o) => o.side === "right");
      const pairs = Object.assign({}, a.answer || {});
      left.forEach((o) => {
        const select = el("select", { "aria-label": o.key }, [el("option", { value: "", text: "—" })]);
        right.forEach((r) => {
          const opt = el("option", { value: r.key, text: r.key + ". " + r.text.replace(/<[^>]+>/g, "") });
          if (pairs[o.key] === r.key) opt.selected = true;
          select.appendChild(opt);
        });
        select.addEventListener("change", () => {
          if (select.value) pairs[o.key] = select.value;
          else delete pairs[o.key];
          record(pid, Object.assign({}, pairs));
        });
        box.appendChild(el("div", { class: "match-row" }, [el("span", { html: o.key + ". " + o.text }), select]));
      });
    } else if (item.type === "ordering") {
      let order = Array.isArray(a.answer) && a.answer.length ? a.answer.slice() : item.options.map((o) => o.key);
      const byKey = Object.fromEntries(item.options.map((o) => [o.key, o]));
      const list = el("ol", { class: "ordering" });
      const draw = () => {
        list.innerHTML = "";
        order.forEach((k, i) => {
          const move = (d) => {
            const j = i + d;
            if (j < 0 || j >= order.length) return;
            [order[i], order[j]] = [order[j], order[i]];
            record(pid, order.slice());
            draw();
          };
          list.appendChild(
            el("li", {}, [
              el("span", { html: byKey[k] ? byKey[k].text : k }),
              el("button", { type: "button", class: "small", "aria-label": T.move_up, text: "↑", onclick: () => move(-1) }),
              el("button", { type: "button", class: "small", "aria-label": T.move_down, text: "↓", onclick: () => move(1) }),
            ])
          );
        });
      };
      draw();
      box.appendChild(list);
    }
    return box;
  }

  function go(i) {
    if (i < 0 || i >= state.items.length) return;
    position = i;
    const item = state.items[i];
    const pane = $("exam-item");
    pane.innerHTML = "";
    const flagged = !!(answers[item.id] && answers[item.id].flagged);
    pane.appendChild(
      el("div", { class: "item-head" }, [
        el("h2", { text: fmt(T.item_n, { n: item.number }) + (item.section ? " · " + item.section : "") }),
        el("span", { class: "points", text: fmt(T.points, { n: item.points }) }),
        el("label", { class: "flag" }, [
          el("input", {
            type: "checkbox",
            "data-testid": "flag",
            checked: flagged,
            onchange: (ev) => record(String(item.id), undefined, ev.target.checked),
          }),
          el("span", { text: T.flag_for_review }),
        ]),
      ])
    );
    pane.appendChild(el("div", { class: "stem", html: item.stem }));
    pane.appendChild(renderAnswerArea(item));
    $("prev-btn").disabled = i === 0;
    $("next-btn").disabled = i === state.items.length - 1;
    renderNav();
    fetch(api + "/position", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ position: i, tab: tab }),
    }).catch(() => null); // resuming on the right item is a convenience; answers go through the outbox
  }

  // ----- claim, takeover, heartbeat ------------------------------------------------------------------------
  function csrf() {
    return document.querySelector('meta[name="csrf-token"]').content;
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => null);
    return { status: response.status, ok: response.ok, data: data };
  }

  async function claim(force) {
    try {
      const r = await postJson(api + "/claim", { tab: tab, force: !!force });
      if (r.ok) {
        syncClock(r.data.remaining_seconds);
        return "ok";
      }
      const code = r.data && r.data.error ? r.data.error.code : "";
      if (code === "other_tab") return "other";
      if (code === "submitted") return "submitted";
      return "error";
    } catch (e) {
      return "offline";
    }
  }

  function showTakeover() {
    $("takeover").hidden = false;
    outbox.stopped = true;
  }

  async function takeOver() {
    const r = await claim(true);
    if (r === "ok") {
      $("takeover").hidden = true;
      await begin();
      outbox.resume();
    }
  }

  async function heartbeat() {
    if (finished) return;
    const r = await claim(false);
    if (r === "other") showTakeover();
    if (r === "submitted") finish();
  }

  // ----- submit -------------------------------------------------------------------------------------------
  function waitForOutbox(timeoutMs) {
    return new Promise((resolve) => {
      const start = Date.now();
      const check = () => {
        if (outbox.pending() === 0 || Date.now() - start > timeoutMs) resolve(outbox.pending() === 0);
        else window.setTimeout(check, 200);
      };
      outbox.flush(true);
      check();
    });
  }

  function openSummary() {
    const unanswered = state.items.filter((it) => !isAnswered(answers[it.id])).map((it) => it.number);
    const flagged = state.items.filter((it) => answers[it.id] && answers[it.id].flagged).map((it) => it.number);
    $("summary-unanswered").textContent = unanswered.length ? fmt(T.unanswered_list, { items: unanswered.join(", ") }) : T.all_answered;
    $("summary-flagged").textContent = flagged.length ? fmt(T.flagged_list, { items: flagged.join(", ") }) : "";
    $("summary-pending").textContent = outbox.pending() ? fmt(T.offline_waiting, { n: outbox.pending() }) : "";
    $("summary").hidden = false;
  }

  async function submitNow() {
    $("confirm-submit").disabled = true;
    const flushed = await waitForOutbox(15000);
    if (!flushed && !finished) {
      $("summary-pending").textContent = T.cannot_submit_offline;
      $("confirm-submit").disabled = false;
      return;
    }
    try {
      const r = await postJson(api + "/submit", {});
      if (r.ok || (r.data && r.data.error && r.data.error.code === "submitted")) {
        finish();
        return;
      }
      $("summary-pending").textContent = (r.data && r.data.error && r.data.error.message) || T.save_refused;
    } catch (e) {
      $("summary-pending").textContent = T.cannot_submit_offline;
    }
    $("confirm-submit").disabled = false;
  }

  function finish() {
    finished = true;
    window.localStorage.removeItem("exam-outbox-" + sittingId);
    window.localStorage.removeItem(seqKey);
    window.location.assign(resultUrl);
  }

  // ----- start-up -----------------------------------------------------------------------------------------
  async function load() {
    let response;
    try {
      response = await fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      showBanner(T.offline_start);
      return false;
    }
    if (!response.ok) {
      showBanner(T.load_failed);
      return false;
    }
    state = await response.json();
    if (state.state === "submitted") {
      finish();
      return false;
    }
    syncClock(state.remaining_seconds);
    Object.keys(answers).forEach((k) => delete answers[k]);
    Object.entries(state.answers).forEach(([pid, a]) => {
      answers[pid] = { answer: a.answer, flagged: a.flagged };
      // The server's seq is the floor for new saves: a new device continues numbering above it.
      seqs[pid] = Math.max(seqs[pid] || 0, a.seq || 0);
    });
    // Anything still in this browser's outbox is newer than the server's copy: show it, it will be sent.
    outbox.ops.forEach((op) => {
      if (op.body && op.body.paper_item_id) {
        answers[String(op.body.paper_item_id)] = { answer: op.body.answer, flagged: op.body.flagged };
      }
    });
    $("exam-title").textContent = state.exam_title;
    go(Math.min(state.position || 0, state.items.length - 1));
    return true;
  }

  async function start() {
    $("prev-btn").addEventListener("click", () => go(position - 1));
    $("next-btn").addEventListener("click", () => go(position + 1));
    $("submit-btn").addEventListener("click", openSummary);
    $("cancel-submit").addEventListener("click", () => ($("summary").hidden = true));
    $("confirm-submit").addEventListener("click", submitNow);
    $("takeover-btn").addEventListener("click", takeOver);
    window.addEventListener("beforeunload", (ev) => {
      if (outbox.pending() > 0 && !finished) {
        ev.preventDefault();
        ev.returnValue = "";
      }
    });
    const claimed = await claim(false);
    if (claimed === "submitted") return finish();
    if (claimed === "other") {
      showTakeover();
      return;
    }
    if (claimed === "offline") showBanner(T.offline_start);
    await begin();
  }

  let running = false;
  async function begin() {
    if (!(await load())) {
      if (!finished) window.setTimeout(begin, 3000);
      return;
    }
    showBanner("");
    $("exam-loading").hidden = true;
    $("exam-main").hidden = false;
    if (!running) {
      running = true;
      window.setInterval(tick, 500);
      window.setInterval(heartbeat, 15000);
    }
    tick();
    outbox.flush(true);
  }

  start();
})();
