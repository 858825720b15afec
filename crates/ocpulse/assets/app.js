// ocpulse dashboard: keeps server-rendered pages live and calls the JSON API for actions.
// Plain JavaScript, no build step. Live updates: one EventSource on /api/v1/events per page;
// an event marks a part of the page stale and the part is re-fetched (?fragment=1) at most
// once per its throttle period, so a busy fleet costs a bounded number of requests.
"use strict";

(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const page = document.body.dataset.page;

  function say(text) {
    const el = document.getElementById("live-status");
    if (el) el.textContent = text;
  }

  // The JSON API, authenticated by the session cookie; writes carry the CSRF header.
  async function api(method, path, body) {
    const headers = { "accept": "application/json" };
    if (method !== "GET") {
      headers["x-csrf-token"] = csrf;
      if (body !== undefined) headers["content-type"] = "application/json";
    }
    const res = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401 && document.querySelector('meta[name="csrf-token"]').content !== "") {
      say("Your session ended; log in again.");
    }
    return { ok: res.ok, status: res.status, data };
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function badge(text, cls) { return el("span", { class: "badge " + (cls || "") }, text); }

  function statusClass(s) {
    if (s === "Available") return "ok";
    if (s === "Faulted") return "bad";
    if (["Unavailable", "Reserved"].includes(s)) return "warn";
    if (["Charging", "Occupied", "Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing"].includes(s)) return "busy";
    return "off";
  }

  function outcomeClass(o) {
    if (o === "Completed" || o === "Partial") return "ok";
    if (o === "Pending" || o === "Running") return "busy";
    return "bad";
  }

  // ---- fragments: re-fetch a part of the page, throttled --------------------------------
  const fragments = [];
  function throttled(fn, ms) {
    let timer = null, last = 0;
    return function () {
      if (timer) return;
      const wait = Math.max(0, last + ms - Date.now());
      timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
    };
  }
  for (const part of document.querySelectorAll("[data-fragment]")) {
    const refresh = throttled(async () => {
      try {
        const res = await fetch(part.dataset.fragment, { credentials: "same-origin" });
        // The session ended (logout elsewhere, expiry, a revoked token): to the login page.
        if (res.redirected && new URL(res.url).pathname === "/ui/login") { location.href = res.url; return; }
        if (!res.ok) return;
        const html = await res.text();
        // Keep focus where it was when the element is replaced (keyboard users).
        const focused = document.activeElement && part.contains(document.activeElement) ? document.activeElement.id : null;
        part.innerHTML = html;
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        part.dispatchEvent(new CustomEvent("refreshed"));
      } catch (e) { /* the next event retries */ }
    }, Number(part.dataset.throttle || 1000));
    fragments.push({ part, refresh });
  }

  // Which events concern a fragment: its `data-actions` (if any) and, for lists, the rows shown.
  function concerns(part, ev) {
    const actions = part.dataset.actions;
    if (actions && !actions.split(",").includes(ev.action)) return false;
    const rows = part.dataset.rows;
    if (rows) {
      const shown = new Set([...part.querySelectorAll(rows)].map((r) => r.dataset.station));
      if (!shown.has(ev.stationId)) return false;
    }
    return true;
  }

  // One stream per page: the union of what its fragments and widgets ask for.
  const listeners = [];
  function follow(query) {
    const src = new EventSource("/api/v1/events?" + query, { withCredentials: true });
    src.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      for (const f of fragments) if (concerns(f.part, ev)) f.refresh();
      for (const l of listeners) l(ev);
    };
    src.onerror = () => say("Live updates interrupted; reconnecting…");
    src.onopen = () => say("");
    return src;
  }

  // ---- charts ----------------------------------------------------------------------------
  function chartWidth(node) { return Math.max(300, node.clientWidth || 800); }

  function fleetChart() {
    const node = document.getElementById("fleet-chart");
    const island = document.getElementById("fleet-samples");
    if (!node || !island || typeof uPlot === "undefined") return;
    const s = JSON.parse(island.textContent);
    // The last point is "now" (no trigger count yet): drawn for the stations only.
    const triggers = s.triggers.map((v, i) => (i === s.triggers.length - 1 ? null : v));
    const data = [s.t, s.connected, s.known, triggers];
    if (node._plot) { node._plot.setData(data); return; }
    node._plot = new uPlot({
      width: chartWidth(node), height: 220,
      series: [{}, { label: "connected", stroke: "#0a7d32", width: 2, scale: "n" },
        { label: "known", stroke: "#555", dash: [4, 4], scale: "n" },
        { label: "triggers / 10 s", stroke: "#8a3ffc", width: 1.5, scale: "t", paths: uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined }],
      axes: [{}, { scale: "n", label: "stations" }, { scale: "t", side: 1, label: "triggers", grid: { show: false } }],
    }, data, node);
  }

  async function meterChart() {
    const node = document.getElementById("meter-chart");
    if (!node || typeof uPlot === "undefined") return;
    const id = encodeURIComponent(node.dataset.station);
    const from = new Date(Date.now() - 3600 * 1000).toISOString();
    const get = (m) => api("GET", `/api/v1/stations/${id}/meter-values?measurand=${m}&from=${encodeURIComponent(from)}&limit=1000`);
    const [p, e] = await Promise.all([get("Power.Active.Import"), get("Energy.Active.Import.Register")]);
    const rows = [];
    const scale = (r) => (r.value == null ? null : r.value * Math.pow(10, r.multiplier || 0) * (r.unit === "kW" || r.unit === "kWh" ? 1000 : 1));
    for (const r of (p.data && p.data.items) || []) rows.push([Date.parse(r.receivedAt) / 1000, scale(r), null]);
    for (const r of (e.data && e.data.items) || []) rows.push([Date.parse(r.receivedAt) / 1000, null, scale(r) / 1000]);
    rows.sort((a, b) => a[0] - b[0]);
    const empty = document.getElementById("meter-empty");
    if (empty) empty.hidden = rows.length > 0;
    const data = [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])];
    if (node._plot) { node._plot.setData(data); return; }
    node._plot = new uPlot({
      width: chartWidth(node), height: 240,
      series: [{}, { label: "power (W)", stroke: "#b35900", spanGaps: true, scale: "W" },
               { label: "energy (kWh)", stroke: "#1f5fbf", spanGaps: true, scale: "kWh" }],
      axes: [{}, { scale: "W", label: "W" }, { scale: "kWh", side: 1, label: "kWh", grid: { show: false } }],
    }, data, node);
  }

  // ---- station page ----------------------------------------------------------------------
  function journalRow(ev) {
    const payload = typeof ev.payload === "string" ? ev.payload : JSON.stringify(ev.payload);
    return el("tr", { "data-action": ev.action || "", "data-direction": ev.direction || "", "data-type": ev.type || "" },
      el("td", { class: "num" }, ev.seq), el("td", {}, ev.at), el("td", {}, ev.direction),
      el("td", {}, ev.type), el("td", {}, ev.action || ""), el("td", {}, el("code", {}, payload)));
  }

  function applyJournalFilter() {
    const f = ((document.getElementById("journal-filter") || {}).value || "").toLowerCase();
    const dir = (document.getElementById("journal-direction") || {}).value || "";
    const type = (document.getElementById("journal-type") || {}).value || "";
    for (const r of document.querySelectorAll("#journal tbody tr")) {
      r.hidden = (f !== "" && !(r.dataset.action || "").toLowerCase().includes(f))
        || (dir !== "" && r.dataset.direction !== dir) || (type !== "" && r.dataset.type !== type);
    }
  }

  async function stationPage() {
    const root = document.getElementById("station");
    if (!root) return;
    const id = root.dataset.station;
    const enc = encodeURIComponent(id);
    // Journal: the latest page, then the live tail.
    const body = document.querySelector("#journal tbody");
    const seen = new Set();
    const older = document.getElementById("journal-older");
    let next = null;
    async function loadOlder() {
      const j = await api("GET", `/api/v1/stations/${enc}/messages?limit=30` + (next ? `&after=${next}` : ""));
      for (const e of (j.data && j.data.items) || []) { if (!seen.has(e.seq)) { seen.add(e.seq); body.append(journalRow(e)); } }
      next = j.data && j.data.next;
      older.hidden = !next;
      applyJournalFilter();
    }
    await loadOlder();
    older.addEventListener("click", loadOlder);
    for (const id of ["journal-filter", "journal-direction", "journal-type"]) {
      document.getElementById(id).addEventListener("input", applyJournalFilter);
      document.getElementById(id).addEventListener("change", applyJournalFilter);
    }
    const pending = [];
    const flush = throttled(() => {
      if (document.getElementById("journal-pause").checked) return;
      for (const e of pending.splice(0)) body.prepend(journalRow(e));
      // Live rows are capped (older ones come back with "Load older entries").
      while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
      applyJournalFilter();
    }, 500);
    const meter = throttled(meterChart, 5000);
    const triggers = throttled(recentTriggers, 1000);
    listeners.push((ev) => {
      if (ev.stationId !== id || seen.has(ev.seq)) return;
      seen.add(ev.seq);
      pending.push(ev);
      if (pending.length > 200) pending.shift();
      flush();
      if (ev.action === "MeterValues" || ev.action === "TransactionEvent" || ev.action === "StopTransaction") meter();
      if (ev.kind === "trigger") triggers();
    });
    follow("station=" + enc);
    meterChart();
    recentTriggers();
    const form = document.getElementById("trigger-form");
    if (form) form.addEventListener("submit", (e) => { e.preventDefault(); sendTrigger(form, enc); });
  }

  async function recentTriggers() {
    const table = document.getElementById("recent-triggers");
    if (!table) return;
    const r = await api("GET", `/api/v1/triggers?station=${encodeURIComponent(table.dataset.station)}&limit=10`);
    const body = table.tBodies[0];
    body.replaceChildren();
    const items = (r.data && r.data.items) || [];
    if (items.length === 0) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No triggers yet.")));
    for (const t of items) {
      body.append(el("tr", {},
        el("td", {}, el("a", { href: "/ui/triggers/" + encodeURIComponent(t.id) }, t.createdAt || t.id)),
        el("td", {}, (t.request && t.request.requestedMessage) || t.requestedMessage || ""),
        el("td", {}, badge(t.outcome || "", outcomeClass(t.outcome))),
        el("td", { class: "num" }, t.elapsedMs == null ? "" : t.elapsedMs + " ms"),
        el("td", {}, t.requestedBy || "")));
    }
  }

  async function sendTrigger(form, enc) {
    const out = document.getElementById("trigger-result");
    const button = form.querySelector("button");
    const body = { requestedMessage: form.requestedMessage.value };
    const target = form.querySelector("#target");
    if (target && target.value !== "") body[target.name] = Number(target.value);
    button.disabled = true;
    out.replaceChildren(el("p", {}, "Waiting for the station…"));
    const r = await api("POST", `/api/v1/stations/${enc}/trigger`, body);
    button.disabled = false;
    out.replaceChildren();
    const d = r.data || {};
    if (!r.ok && !d.outcome) {
      out.append(el("p", { class: "error", role: "alert" }, `${r.status} ${d.error || ""}: ${d.message || ""}`));
      return;
    }
    out.append(el("p", {}, "Outcome ", badge(d.outcome || "?", outcomeClass(d.outcome)),
      ` · station answered ${d.status || "—"} · ${d.elapsedMs == null ? "" : d.elapsedMs + " ms"} · `,
      el("a", { href: "/ui/triggers/" + encodeURIComponent(d.triggerId || "") }, "timeline")));
    if (d.detail || d.message) out.append(el("p", {}, d.detail || d.message));
    for (const m of d.messages || []) {
      out.append(el("h3", {}, `${m.action} (matched by ${m.matchedBy})`));
      out.append(el("pre", { class: "payload", tabindex: "0" }, JSON.stringify(m.payload, null, 2)));
    }
    recentTriggers();
  }

  // ---- jobs page -------------------------------------------------------------------------
  function selectorOf(form) {
    const s = {};
    for (const k of ["protocol", "connection", "connectorStatus", "vendor", "firmwareVersion"]) {
      const v = form[k].value.trim();
      if (v !== "") s[k] = v;
    }
    return s;
  }

  async function jobsPage() {
    const form = document.getElementById("job-form");
    if (form) {
      const count = throttled(async () => {
        const s = selectorOf(form);
        const r = await api("GET", "/ui/selector-count?" + new URLSearchParams(s));
        const out = document.getElementById("job-count");
        out.textContent = r.ok ? `${r.data.count} station(s) match now` : (r.data && r.data.message) || "invalid selector";
      }, 300);
      form.addEventListener("input", count);
      form.addEventListener("change", count);
      count();
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const s = selectorOf(form);
        if (Object.keys(s).length === 0) s.all = true;
        const body = { selector: s, trigger: { requestedMessage: form.requestedMessage.value } };
        if (form.name.value.trim() !== "") body.name = form.name.value.trim();
        const r = await api("POST", "/api/v1/trigger-jobs", body);
        if (!r.ok) { say(`Job refused: ${(r.data && r.data.message) || r.status}`); document.getElementById("job-count").textContent = `Refused: ${(r.data && r.data.message) || r.status}`; return; }
        watchJob(r.data.jobId);
        listJobs();
      });
    }
    listJobs();
    document.getElementById("jobs-table").addEventListener("click", (e) => {
      const a = e.target.closest("a[data-job]");
      if (a) { e.preventDefault(); watchJob(a.dataset.job); }
    });
    const want = new URLSearchParams(location.search).get("job");
    if (want) watchJob(want);
  }

  async function listJobs() {
    const r = await api("GET", "/api/v1/trigger-jobs?limit=20");
    const body = document.querySelector("#jobs-table tbody");
    body.replaceChildren();
    const items = (r.data && r.data.items) || [];
    if (items.length === 0) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No jobs yet.")));
    for (const j of items) {
      const done = j.total - j.open;
      body.append(el("tr", {},
        el("td", {}, el("a", { href: "/ui/jobs?job=" + j.jobId, "data-job": j.jobId }, j.name || j.jobId)),
        el("td", {}, j.status),
        el("td", {}, (j.trigger && j.trigger.requestedMessage) || (j.call && j.call.action) || ""),
        el("td", {}, `${done}/${j.total} (${j.succeeded} ok, ${j.failed} failed)`),
        el("td", {}, j.createdAt)));
    }
  }

  let watching = null;
  async function watchJob(id) {
    watching = id;
    const section = document.getElementById("job-progress-section");
    section.hidden = false;
    document.getElementById("job-id").textContent = id;
    for (;;) {
      if (watching !== id) return;
      const r = await api("GET", `/api/v1/trigger-jobs/${encodeURIComponent(id)}?results=all`);
      if (!r.ok) { document.getElementById("job-progress-text").textContent = `Cannot read the job: ${r.status}`; return; }
      const j = r.data;
      const done = j.total - j.open;
      const pct = j.total === 0 ? 100 : Math.round((100 * done) / j.total);
      const bar = document.getElementById("job-progress");
      bar.value = pct;
      bar.textContent = pct + "%";
      document.getElementById("job-progress-text").textContent =
        `${pct}% · ${done} of ${j.total} stations done · ${j.succeeded} succeeded · ${j.failed} failed · ${j.status}`;
      const body = document.querySelector("#job-results tbody");
      body.replaceChildren();
      for (const x of (j.results || []).slice(0, 200)) {
        body.append(el("tr", {},
          el("td", {}, el("a", { href: "/ui/stations/" + encodeURIComponent(x.stationId) }, x.stationId)),
          el("td", {}, badge(x.outcome, outcomeClass(x.outcome))),
          el("td", { class: "num" }, x.attempts),
          el("td", {}, x.triggerId ? el("a", { href: "/ui/triggers/" + encodeURIComponent(x.triggerId) }, x.detail || "timeline") : (x.detail || ""))));
      }
      if (j.status !== "running" && j.open === 0) { listJobs(); return; }
      await new Promise((res) => setTimeout(res, 700));
    }
  }

  // ---- alerts ----------------------------------------------------------------------------
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button.ack");
    if (!b) return;
    b.disabled = true;
    const r = await api("POST", `/api/v1/alerts/${encodeURIComponent(b.dataset.alert)}/acknowledge`, {});
    if (r.ok) {
      const row = b.closest("tr");
      const cell = row && row.querySelector(".alert-status");
      if (cell) cell.textContent = "acknowledged";
      say("Alert acknowledged");
      b.remove();
    } else {
      b.disabled = false;
      say(`Not acknowledged: ${(r.data && r.data.message) || r.status}`);
    }
  });

  // ---- tables read from the API (sessions, schedules, webhooks) ---------------------------
  function field(obj, path) {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  }

  function cell(value, format, row) {
    if (format === "station") return el("td", {}, el("a", { href: "/ui/stations/" + encodeURIComponent(value) }, value));
    if (format === "job") return el("td", {}, value ? el("a", { href: "/ui/jobs?job=" + encodeURIComponent(value) }, value) : "");
    if (format === "deliveries") return el("td", {}, el("button", { type: "button", class: "deliveries", "data-webhook": value }, "Show deliveries"));
    if (value === undefined || value === null) return el("td", { class: format === "num" ? "num" : "" }, "");
    if (format === "num") return el("td", { class: "num" }, value);
    if (format === "count") return el("td", { class: "num" }, Array.isArray(value) ? value.length : value);
    if (format === "bool") return el("td", {}, value ? "yes" : "no");
    if (format === "badge") return el("td", {}, badge(value, /^(completed|partial|delivered|succeeded|ok)$/i.test(value) ? "ok" : /^(pending|running|retrying)$/i.test(value) ? "busy" : "bad"));
    if (format === "json") return el("td", {}, el("code", {}, JSON.stringify(value)));
    return el("td", {}, String(value));
  }

  async function fillTable(table, append) {
    const columns = JSON.parse(table.dataset.columns);
    const [url0, key] = (append ? table.dataset.nextUrl : table.dataset.api || "").split("#");
    const url = url0;
    if (!url) return;
    const r = await api("GET", url);
    // A report (not a page): its list is under `key`, shown up to 200 rows.
    if (r.ok && key) r.data = { items: (r.data[key] || []).slice(0, 200), next: null };
    const body = table.tBodies[0];
    if (!append) body.replaceChildren();
    if (!r.ok) {
      body.append(el("tr", {}, el("td", { colspan: String(columns.length), class: "error" }, `${r.status}: ${(r.data && r.data.message) || ""}`)));
      return;
    }
    const items = r.data.items || [];
    if (!append && items.length === 0) body.append(el("tr", {}, el("td", { colspan: String(columns.length), class: "muted" }, "None.")));
    for (const item of items) body.append(el("tr", {}, ...columns.map(([path, , format]) => cell(field(item, path), format, item))));
    const more = document.querySelector(`button.more[data-table="${table.id}"]`);
    if (r.data.next) {
      const u = new URL(table.dataset.api.split("#")[0], location.href);
      u.searchParams.set("after", r.data.next);
      table.dataset.nextUrl = u.pathname + u.search;
      table.dataset.loaded = "more";
    } else {
      table.dataset.nextUrl = "";
    }
    if (more) more.hidden = !r.data.next;
  }

  for (const table of document.querySelectorAll("table[data-api]")) {
    if (table.dataset.api) fillTable(table, false);
    const every = Number(table.dataset.refresh || 0);
    // Re-read only while nobody paged further (a refresh would drop the later pages).
    if (every > 0) setInterval(() => { if (table.dataset.loaded !== "more" && !document.hidden) fillTable(table, false); }, every);
  }
  document.addEventListener("click", (e) => {
    const more = e.target.closest("button.more");
    if (more) fillTable(document.getElementById(more.dataset.table), true);
    const d = e.target.closest("button.deliveries");
    if (d) {
      const t = document.getElementById("deliveries-table");
      t.dataset.api = `/api/v1/webhooks/${encodeURIComponent(d.dataset.webhook)}/deliveries?limit=50`;
      document.getElementById("deliveries-section").hidden = false;
      fillTable(t, false);
    }
  });

  // ---- trigger detail --------------------------------------------------------------------
  async function triggerPage() {
    const root = document.getElementById("trigger-detail");
    const r = await api("GET", `/api/v1/triggers/${encodeURIComponent(root.dataset.trigger)}`);
    const list = document.getElementById("trigger-timeline");
    list.replaceChildren();
    if (!r.ok) { list.append(el("li", { class: "error" }, `${r.status}: ${(r.data && r.data.message) || ""}`)); return; }
    const t = r.data;
    const facts = document.getElementById("trigger-facts");
    const fact = (k, v) => facts.append(el("dt", {}, k), el("dd", {}, v));
    fact("Station", el("a", { href: "/ui/stations/" + encodeURIComponent(t.stationId) }, t.stationId));
    fact("Protocol", t.protocol);
    fact("Asked by", t.requestedBy);
    fact("Outcome", badge(t.outcome, outcomeClass(t.outcome)));
    if (t.detail) fact("Detail", t.detail);
    fact("Elapsed", t.elapsedMs == null ? "running" : t.elapsedMs + " ms");
    const item = (when, what, payload) => {
      const li = el("li", {}, el("time", {}, when || ""), " ", el("strong", {}, what));
      if (payload !== undefined) li.append(el("pre", { class: "payload", tabindex: "0" }, JSON.stringify(payload, null, 2)));
      list.append(li);
    };
    item(t.createdAt, "Requested", t.request);
    for (const c of t.calls || []) {
      item("", `Sent ${c.action}`, c.payload);
      item(c.answerMs == null ? "" : `+${c.answerMs} ms`, `Station answered ${c.status || (c.error ? "with an error" : "nothing")}`, c.error || c.statusInfo || undefined);
    }
    for (const m of t.messages || []) item(m.receivedAt, `Station sent ${m.action} (matched by ${m.matchedBy})`, m.payload);
    for (const m of t.unmatched || []) item(m.receivedAt, `Station sent ${m.action}, not taken as the answer`, m.payload);
    item(t.completedAt, `Ended: ${t.outcome}`);
    triggerFrames(t);
  }

  // The frames themselves: the station's journal up to just after the trigger ended, the
  // entries that carry this trigger's id, oldest first.
  async function triggerFrames(t) {
    const list = document.getElementById("trigger-frames");
    let q = `/api/v1/stations/${encodeURIComponent(t.stationId)}/messages?limit=500`;
    if (t.completedAt) q += "&before=" + encodeURIComponent(new Date(Date.parse(t.completedAt) + 1000).toISOString());
    const r = await api("GET", q);
    list.replaceChildren();
    if (!r.ok) { list.append(el("li", { class: "error" }, `${r.status}: ${(r.data && r.data.message) || ""}`)); return; }
    const frames = (r.data.items || []).filter((e) => e.triggerId === t.id).reverse();
    if (frames.length === 0) { list.append(el("li", { class: "muted" }, "No frame of this trigger in the journal's latest 500 entries of the station.")); return; }
    for (const e of frames) {
      const li = el("li", {}, el("time", {}, e.at), " ",
        el("strong", {}, `${e.direction === "in" ? "station →" : "→ station"} ${e.type} ${e.action || ""}`),
        " ", el("code", {}, e.messageId || ""));
      li.append(el("pre", { class: "payload", tabindex: "0" }, JSON.stringify(e.payload, null, 2)));
      list.append(li);
    }
  }

  // ---- start -----------------------------------------------------------------------------
  if (page === "overview") {
    fleetChart();
    for (const f of fragments) f.part.addEventListener("refreshed", fleetChart);
    // The samples advance every 10 s even when no event arrives.
    setInterval(() => fragments.forEach((f) => f.refresh()), 10000);
  }
  if (page === "station") stationPage();
  if (page === "jobs") jobsPage();
  if (page === "trigger") triggerPage();
  // Pages whose only live parts are fragments follow the events those ask for.
  if (page !== "station" && page !== "jobs" && page !== "trigger") {
    const queries = fragments.map((f) => f.part.dataset.events).filter(Boolean);
    if (queries.length > 0) follow(queries[0]);
  }
})();
