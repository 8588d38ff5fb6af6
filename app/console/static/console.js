/* Junction console: live updates from /ws/stream and forms that post without a reload.
 *
 * A page names its channels and the newest event id it was rendered with (data-channels,
 * data-last-event-id on <body>). This script opens the WebSocket stream from that id, so
 * nothing that happened while the page rendered is lost; each event re-fetches the page's body
 * (?fragment=1, the same server-rendered template) and operation.progress events move the
 * progress bars at once. When the stream drops it reconnects with backoff, replaying from the
 * last id it saw, and polls GET /api/events meanwhile; the badge in the header says which.
 * No framework, no build step; without JavaScript every page and form still works.
 */
(() => {
  "use strict";
  const body = document.body;
  const live = document.getElementById("live");
  const statusEl = document.getElementById("stream-status");
  const notice = document.getElementById("notice");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const HEADERS = { "X-Requested-With": "junction-console" };
  const POLL_MS = Number(body.dataset.pollMs || 5000);
  const state = (window.junctionConsole = { state: "connecting", lastId: 0, refreshes: 0, events: 0 });

  enhance(document);
  if (!body.dataset.channels || !live || !statusEl) return; // sign-in and error pages

  const channels = JSON.parse(body.dataset.channels);
  let lastId = Number(body.dataset.lastEventId || 0);
  state.lastId = lastId;
  let ws = null;
  let failures = 0;
  let retryTimer = null;
  let pollTimer = null;
  let downSince = null;

  function setStatus(name, text) {
    state.state = name;
    statusEl.dataset.state = name;
    statusEl.querySelector(".text").textContent = text;
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // -- the WebSocket stream ------------------------------------------------------------------
  function streamUrl() {
    const url = new URL("/ws/stream", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    channels.forEach((c) => url.searchParams.append("channel", c));
    url.searchParams.set("last_event_id", String(lastId));
    return url.toString();
  }

  function connect() {
    clearTimeout(retryTimer);
    if (!channels.length) {
      setStatus("live", "Nothing to follow on this page");
      return;
    }
    let opened = false;
    try {
      ws = new WebSocket(streamUrl());
    } catch (err) {
      down();
      return;
    }
    ws.onopen = () => {
      opened = true;
      failures = 0;
      downSince = null;
      stopPolling();
      setStatus("live", "Live");
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      handle(message);
    };
    ws.onclose = () => {
      ws = null;
      if (opened) scheduleRefresh();
      down();
    };
  }

  function down() {
    failures += 1;
    downSince = downSince || new Date();
    setStatus("down", `Live stream down since ${clock(downSince)} — reconnecting…`);
    startPolling();
    const delay = Math.min(1000 * 2 ** Math.min(failures - 1, 4), 15000);
    retryTimer = setTimeout(connect, delay);
  }

  // -- polling fallback ----------------------------------------------------------------------
  function startPolling() {
    if (!pollTimer) pollTimer = setTimeout(poll, 0);
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  async function poll() {
    const url = new URL("/api/events", location.href);
    channels.forEach((c) => url.searchParams.append("channel", c));
    url.searchParams.set("after", String(lastId));
    url.searchParams.set("limit", "200");
    try {
      const response = await fetch(url, { headers: { ...HEADERS, Accept: "application/json" } });
      if (response.status === 401) return signedOut();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = await response.json();
      if (ws && ws.readyState === WebSocket.OPEN) return;
      page.items.forEach(handle);
      setStatus("polling", `Live stream down since ${clock(downSince || new Date())} — polling every ${POLL_MS / 1000} s`);
    } catch (err) {
      setStatus("down", `Live stream down since ${clock(downSince || new Date())} — Junction is not answering`);
    }
    if (!ws || ws.readyState !== WebSocket.OPEN) pollTimer = setTimeout(poll, POLL_MS);
    else pollTimer = null;
  }

  function signedOut() {
    clearTimeout(retryTimer);
    stopPolling();
    if (ws) ws.close();
    setStatus("down", "Signed out — reload the page to sign in again");
  }

  // -- events --------------------------------------------------------------------------------
  function handle(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "dropped") {
      if (message.next_id) lastId = Math.max(lastId, message.next_id - 1);
      scheduleRefresh();
      return;
    }
    if (typeof message.id !== "number" || !message.channel) return; // hello, heartbeat...
    if (message.id <= lastId) return;
    lastId = message.id;
    state.lastId = lastId;
    state.events += 1;
    if (message.type === "operation.progress" && message.data) patchProgress(message.data);
    scheduleRefresh();
  }

  function patchProgress(op) {
    const p = op.progress || {};
    document.querySelectorAll(`.progress[data-operation-id="${CSS.escape(op.id)}"]`).forEach((el) => {
      const bar = el.querySelector("progress");
      if (bar && typeof p.percent === "number") bar.value = p.percent;
      const text = el.querySelector(".progress-text");
      if (text && typeof p.percent === "number") {
        text.textContent = `${p.percent} %` + (p.total ? ` · ${p.done} of ${p.total}` : "");
      }
    });
  }

  // -- live body -----------------------------------------------------------------------------
  let refreshTimer = null;
  let inFlight = false;
  let again = false;
  let deferred = false;

  function scheduleRefresh() {
    if (!refreshTimer) {
      refreshTimer = setTimeout(() => {
        refreshTimer = null;
        refresh();
      }, 300);
    }
  }

  function userIsEditing() {
    const active = document.activeElement;
    return active && live.contains(active) && active.matches("input, select, textarea");
  }

  async function refresh() {
    if (inFlight) {
      again = true;
      return;
    }
    if (userIsEditing()) {
      deferred = true; // re-rendering now would reset what the user is choosing
      return;
    }
    inFlight = true;
    try {
      const url = new URL(location.href);
      url.searchParams.set("fragment", "1");
      const response = await fetch(url, { headers: HEADERS, cache: "no-store" });
      if (response.status === 401) return signedOut();
      if (response.ok) {
        swap(await response.text());
        state.refreshes += 1;
      }
    } catch (err) {
      /* the stream status already says what is wrong */
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        scheduleRefresh();
      }
    }
  }

  live.addEventListener("focusout", () => {
    if (deferred) {
      deferred = false;
      setTimeout(() => (userIsEditing() ? (deferred = true) : scheduleRefresh()), 0);
    }
  });

  function swap(html) {
    const active = document.activeElement;
    let selector = null;
    if (active && live.contains(active)) {
      if (active.id) selector = `#${CSS.escape(active.id)}`;
      else if (active.form && active.form.getAttribute("action")) {
        selector = `form[action="${CSS.escape(active.form.getAttribute("action"))}"] button`;
      }
    }
    live.innerHTML = html;
    enhance(live);
    const target = selector && live.querySelector(selector);
    if (target) target.focus();
  }

  // -- forms ---------------------------------------------------------------------------------
  function enhance(root) {
    root.querySelectorAll("form[data-enhance]").forEach((form) => {
      if (form.dataset.enhanced) return;
      form.dataset.enhanced = "1";
      form.addEventListener("submit", submit);
    });
  }

  function show(ok, message) {
    if (!notice) return;
    notice.className = `notice ${ok ? "ok" : "error"}`;
    notice.textContent = message;
  }

  async function submit(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const button = event.submitter || form.querySelector("button");
    const data = event.submitter ? new FormData(form, event.submitter) : new FormData(form);
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    try {
      // A button's formAction is the page's URL when it has no formaction of its own.
      const own = event.submitter && event.submitter.hasAttribute("formaction");
      const target = own ? event.submitter.formAction : form.action;
      const response = await fetch(target, {
        method: "POST",
        body: data,
        headers: { ...HEADERS, "X-CSRF-Token": csrf, Accept: "application/json" },
      });
      let answer = {};
      try {
        answer = await response.json();
      } catch (err) {
        answer = {};
      }
      if (response.status === 401) signedOut();
      show(response.ok && answer.ok !== false, answer.message || `Failed (HTTP ${response.status}).`);
    } catch (err) {
      show(false, `Junction did not answer: ${err.message}`);
    } finally {
      if (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
      refresh();
    }
  }

  if (typeof WebSocket === "undefined") startPolling();
  else connect();
})();
