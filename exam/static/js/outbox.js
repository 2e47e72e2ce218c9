// A durable outbox: every write a student makes is stored in localStorage first, then sent until the server
// acknowledges it. Resends carry the same op_id, so the server applies each operation once. Writes that replace
// each other (the same item's answer) share a `collapse` key: only the newest unsent one is kept.
(function () {
  "use strict";

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  class Outbox {
    /**
     * @param {string} storageKey localStorage key (one per sitting)
     * @param {object} hooks onAck(op, body), onState(state), onFatal(op, status, body) -> "stop" | "drop"
     */
    constructor(storageKey, hooks) {
      this.key = storageKey;
      this.hooks = hooks || {};
      this.ops = this._load();
      this.inFlight = null;
      this.backoff = 0;
      this.timer = null;
      this.stopped = false;
      this.lastError = null;
      window.addEventListener("online", () => this.flush(true));
    }

    _load() {
      try {
        return JSON.parse(window.localStorage.getItem(this.key) || "[]");
      } catch (e) {
        return [];
      }
    }

    _store() {
      try {
        window.localStorage.setItem(this.key, JSON.stringify(this.ops));
      } catch (e) {
        // Storage full or disabled: the op stays in memory and is still sent; say so in the status.
        this.lastError = "storage";
      }
    }

    pending() {
      return this.ops.length;
    }

    pendingFor(collapse) {
      return this.ops.filter((op) => op.collapse === collapse);
    }

    /** Queue a write. Returns the op. */
    enqueue(url, body, collapse) {
      const op = { op_id: uuid(), url: url, body: Object.assign({}, body), collapse: collapse || null };
      op.body.op_id = op.op_id;
      if (collapse) {
        this.ops = this.ops.filter((o) => o.collapse !== collapse || (this.inFlight && o.op_id === this.inFlight.op_id));
      }
      this.ops.push(op);
      this._store();
      this._emit();
      this.flush();
      return op;
    }

    _emit() {
      if (this.hooks.onState) {
        this.hooks.onState({
          pending: this.ops.length,
          sending: !!this.inFlight,
          offline: this.backoff > 0,
          stopped: this.stopped,
          error: this.lastError,
        });
      }
    }

    _schedule(ms) {
      if (this.timer) window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => {
        this.timer = null;
        this.flush();
      }, ms);
    }

    resume() {
      this.stopped = false;
      this.flush(true);
    }

    /** Send queued ops one by one, oldest first. */
    async flush(now) {
      if (now) this.backoff = 0;
      if (this.inFlight || this.stopped || this.ops.length === 0) {
        this._emit();
        return;
      }
      const op = this.ops[0];
      this.inFlight = op;
      this._emit();
      let response = null;
      let body = null;
      try {
        response = await fetch(op.url, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content,
          },
          body: JSON.stringify(op.body),
        });
        body = await response.json().catch(() => null);
      } catch (e) {
        response = null;
      }
      this.inFlight = null;
      if (response && response.ok) {
        this.ops = this.ops.filter((o) => o.op_id !== op.op_id);
        this._store();
        this.backoff = 0;
        this.lastError = null;
        if (this.hooks.onAck) this.hooks.onAck(op, body);
        this._emit();
        this.flush();
        return;
      }
      if (response && response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        const verdict = this.hooks.onFatal ? this.hooks.onFatal(op, response.status, body) : "stop";
        if (verdict === "drop") {
          this.ops = this.ops.filter((o) => o.op_id !== op.op_id);
          this._store();
          this._emit();
          this.flush();
        } else {
          this.stopped = true;
          this._emit();
        }
        return;
      }
      // Network down or server error: keep the op and retry with capped exponential backoff plus jitter.
      this.backoff = Math.min(this.backoff ? this.backoff * 2 : 1000, 30000);
      this.lastError = response ? "server" : "network";
      this._emit();
      this._schedule(this.backoff + Math.random() * 250);
    }
  }

  window.ExamOutbox = Outbox;
  window.examUuid = uuid;
})();
