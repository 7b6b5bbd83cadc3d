// rrlog's dashboard: plain DOM, no framework. Recorded data is only ever put in the page as text
// (textContent), never as HTML: recordings hold whatever agents saw.
"use strict";

const $main = () => document.getElementById("main");

/** An element with attributes, event handlers (on*) and children (strings become text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else if (key === "style") node.style.cssText = value; // CSSOM: the CSP refuses style attributes
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function status(text) { document.getElementById("status").textContent = text || ""; }

/** A JSON request to the API; problems become Errors carrying their status and body. */
async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (!response.ok) {
    const error = new Error((data && data.detail) || response.statusText);
    error.status = response.status;
    error.problem = data;
    throw error;
  }
  return data;
}

function bytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + " " + units[i];
}

function duration(info) {
  if (!info.start || !info.end) return "";
  const ms = new Date(info.end) - new Date(info.start);
  if (ms < 1000) return ms + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  return (ms / 60000).toFixed(1) + " min";
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.map((p) => (p.href ? el("a", { href: p.href, text: p.text }) : el("span", { text: p.text }))));
}

function show(...children) {
  $main().replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

function fail(error) {
  show(el("div", { class: "panel error", role: "alert" }, el("h2", { text: "Something went wrong" }), el("p", { text: error.message })));
}

// MARK: The sessions list

const listState = { sort: "created", order: "desc", name: "", type: "" };

async function sessionsPage() {
  crumbs({ text: "sessions" });
  const filter = el("input", { id: "filter-name", type: "search", placeholder: "name contains…", value: listState.name, "aria-label": "Filter by name" });
  const type = el("select", { id: "filter-type", "aria-label": "Filter by type" },
    ["", "recording", "capture", "seed", "training"].map((t) => el("option", { value: t, text: t || "any type", selected: t === listState.type })));
  const tableBody = el("tbody", { id: "sessions-body" });
  const columns = [["name", "name"], ["type", null], ["status", null], ["records", "records"], ["size", "bytes"], ["duration", null], ["created", "created"]];
  const head = el("tr", {}, columns.map(([label, key]) => {
    const cls = ["records", "size"].includes(label) ? "num" : null;
    if (!key) return el("th", { class: cls, text: label });
    const arrow = listState.sort === key ? (listState.order === "asc" ? " ▲" : " ▼") : "";
    return el("th", { class: cls, "aria-sort": listState.sort === key ? (listState.order === "asc" ? "ascending" : "descending") : null },
      el("button", { class: "sort", onclick: () => { listState.order = listState.sort === key && listState.order === "desc" ? "asc" : "desc"; listState.sort = key; sessionsPage(); } }, label + arrow));
  }));
  const reload = async () => {
    listState.name = filter.value.trim();
    listState.type = type.value;
    const query = new URLSearchParams({ sort: listState.sort, order: listState.order, limit: "500" });
    if (listState.name) query.set("name", listState.name);
    if (listState.type) query.set("type", listState.type);
    const [page, live] = await Promise.all([api("GET", "/api/v1/sessions?" + query), api("GET", "/api/record/status")]);
    tableBody.replaceChildren(...page.sessions.map((s) => el("tr", {},
      el("td", {}, el("a", { href: "#/session/" + encodeURIComponent(s.name), class: "session-link", text: s.name }),
        live.recording && live.session_name === s.name ? el("span", { class: "badge live", text: " live" }) : null),
      el("td", { text: s.type }),
      el("td", {}, el("span", { class: "badge " + s.status, text: s.status })),
      el("td", { class: "num", text: s.records.toLocaleString() }),
      el("td", { class: "num", text: bytes(s.bytes_on_disk) }),
      el("td", { text: duration(s) }),
      el("td", { text: new Date(s.created).toLocaleString() }))));
    status(page.total + " sessions");
  };
  filter.addEventListener("input", () => reload().catch(fail));
  type.addEventListener("change", () => reload().catch(fail));
  show(el("div", { class: "panel" },
    el("div", { class: "toolbar" }, el("h1", { text: "Sessions" }), el("span", { class: "spacer" }), filter, type),
    el("table", { id: "sessions" }, el("thead", {}, head), tableBody)));
  await reload();
}

// MARK: A session

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
}

function bars(counts) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map((e) => e[1]));
  return el("div", { class: "bars" }, entries.map(([name, n]) => el("div", { class: "bar" },
    el("span", { text: name }), el("div", {}, el("div", { class: "fill", style: "width:" + Math.max(1, Math.round((100 * n) / max)) + "%" })),
    el("span", { class: "num", text: n.toLocaleString() }))));
}

async function sessionPage(name) {
  crumbs({ text: "sessions", href: "#/" }, { text: name });
  const info = await api("GET", "/api/v1/sessions/" + encodeURIComponent(name));
  const isEvents = (info.counts_by_kind.bus_event || 0) > 0;
  const isIO = ["event", "stream_start"].some((k) => (info.counts_by_kind[k] || 0) > 0);
  const prov = info.provenance || {};
  const isOTLP = (info.counts_by_kind.otlp_traces || 0) > 0;
  const view = windowState();
  show(
    el("div", { class: "panel" },
      el("h1", { text: info.name }),
      el("p", { class: "muted" }, info.type + " · ", el("span", { class: "badge " + info.status, text: info.status }),
        " · " + info.records.toLocaleString() + " records · " + bytes(info.bytes_on_disk) + (duration(info) ? " · " + duration(info) : "")),
      toolsRow(info)),
    timelinePanel(info, view, isEvents ? "event_name" : isIO ? "agent" : "kind"),
    info.status === "active" ? livePanel(info) : null,
    isOTLP ? tracePanel(info) : null,
    el("div", { class: "grid" },
      el("div", { class: "panel" }, el("h2", { text: "Records by kind" }), bars(info.counts_by_kind)),
      el("div", { class: "panel" }, el("h2", { text: "Session" }), kv([
        ["id", info.id], ["description", info.description], ["tags", (info.tags || []).join(", ")], ["created", info.created], ["start", info.start], ["end", info.end],
        ["git sha", prov.git_sha], ["config digest", prov.config_digest], ["models", (prov.model_ids || []).join(", ")], ["seeds", (prov.seeds || []).join(", ")],
        ...Object.entries(info.annotations || {}).slice(0, 20).map(([k, v]) => [k, v.length > 120 ? v.slice(0, 119) + "…" : v]),
      ]))),
    isEvents ? replayPanel(info) : null,
    isIO ? lookupPanel(info) : null,
    recordsPanel(info, isEvents, view));
}

/** The time window a session page looks at: set by dragging over the timeline, read by the records table. */
function windowState() {
  const listeners = [];
  return {
    fromNs: null, toNs: null,
    set(fromNs, toNs) { this.fromNs = fromNs; this.toNs = toNs; for (const f of listeners) f(); },
    onChange(f) { listeners.push(f); },
  };
}

const session = (info) => "/api/v1/sessions/" + encodeURIComponent(info.name);

function nsText(ns) { return new Date(ns / 1e6).toISOString().replace("T", " ").replace("Z", ""); }

// MARK: Export and verify

function toolsRow(info) {
  const result = el("span", { id: "verify-result", role: "status" });
  const verify = async () => {
    result.className = "";
    result.textContent = "verifying…";
    try {
      const report = await api("GET", session(info) + "/verify");
      result.className = report.clean ? "good" : "error";
      const problems = (report.log.problems || []).length + (report.manifestProblems || []).length;
      result.textContent = report.clean ? "verified: every CRC and invariant holds (" + report.log.records + " records, " + report.log.segments + " segments)"
        : problems + " problem(s): " + [...(report.log.problems || []), ...(report.manifestProblems || [])].slice(0, 3).map((p) => typeof p === "string" ? p : JSON.stringify(p)).join("; ");
    } catch (error) { result.className = "error"; result.textContent = error.message; }
  };
  return el("div", { class: "row" },
    el("a", { class: "button secondary", id: "export-link", href: session(info) + "/export", download: "", text: "Export" }),
    el("button", { class: "secondary", id: "verify-run", onclick: verify, text: "Verify" }), result);
}

// MARK: Timeline

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) if (c) node.append(c);
  return node;
}

function timelinePanel(info, view, defaultGroup) {
  const group = el("select", { id: "timeline-group", "aria-label": "Lanes by" },
    ["kind", "io_type", "agent", "tool", "event_name", "source"].map((g) => el("option", { value: g, text: "lanes by " + g.replace("_", " "), selected: g === defaultGroup })));
  const reset = el("button", { class: "secondary", id: "timeline-reset", text: "Whole session", disabled: true });
  const caption = el("span", { class: "muted", id: "timeline-caption", role: "status" });
  const holder = el("div", { class: "timeline", id: "timeline" });
  const W = 1000, LABEL = 160, ROW = 18, TOP = 46;
  let current = null, checkpoints = null;
  const load = async () => {
    const q = new URLSearchParams({ buckets: "200", group: group.value, top: "10" });
    if (view.fromNs !== null) { q.set("from_ns", String(view.fromNs)); q.set("to_ns", String(view.toNs)); }
    if (checkpoints === null) {
      checkpoints = info.counts_by_kind.checkpoint ? (await api("GET", session(info) + "/records?kind=checkpoint&limit=200")).records : [];
    }
    current = await api("GET", session(info) + "/timeline?" + q);
    draw(current);
  };
  const x = (t, ns) => LABEL + ((ns - t.from_ns) / (t.to_ns - t.from_ns)) * (W - LABEL);
  const draw = (t) => {
    const lanes = t.lanes;
    const height = TOP + Math.max(1, lanes.length) * ROW + 6;
    const max = Math.max(1, ...t.counts);
    const bw = (W - LABEL) / t.counts.length;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + height, role: "img", "aria-label": "Timeline of " + info.name, tabindex: "0", id: "timeline-svg", preserveAspectRatio: "none" });
    root.append(svg("text", { x: 0, y: 14, class: "tl-label" }, document.createTextNode("all records")));
    t.counts.forEach((n, i) => {
      if (!n) return;
      const h = Math.max(1, Math.round((30 * n) / max));
      const r = svg("rect", { x: LABEL + i * bw, y: 36 - h, width: Math.max(0.5, bw - 0.5), height: h, class: "tl-total" });
      r.append(svg("title", {}, document.createTextNode(n + " records from " + nsText(t.from_ns + i * t.bucket_ns))));
      root.append(r);
    });
    lanes.forEach((lane, li) => {
      const y = TOP + li * ROW;
      const label = lane.name.length > 22 ? lane.name.slice(0, 21) + "…" : lane.name;
      root.append(svg("text", { x: 0, y: y + 12, class: "tl-label" }, document.createTextNode(label + " (" + lane.total + ")")));
      const laneMax = Math.max(1, ...lane.counts);
      lane.counts.forEach((n, i) => {
        if (!n) return;
        const r = svg("rect", { x: LABEL + i * bw, y, width: Math.max(0.5, bw - 0.5), height: ROW - 4, class: "tl-cell lane" + (li % 8), "fill-opacity": (0.25 + 0.75 * n / laneMax).toFixed(2) });
        r.append(svg("title", {}, document.createTextNode(lane.name + ": " + n + " from " + nsText(t.from_ns + i * t.bucket_ns))));
        root.append(r);
      });
    });
    for (const c of checkpoints || []) {
      if (c.timestamp_ns < t.from_ns || c.timestamp_ns >= t.to_ns) continue;
      const cx = x(t, c.timestamp_ns);
      const line = svg("line", { x1: cx, x2: cx, y1: 0, y2: height, class: "tl-checkpoint" });
      line.append(svg("title", {}, document.createTextNode("checkpoint " + ((c.data && c.data.label) || "") + " at " + nsText(c.timestamp_ns))));
      root.append(line);
    }
    const selection = svg("rect", { x: 0, y: 0, width: 0, height, class: "tl-selection", id: "timeline-selection" });
    root.append(selection);
    // Drag to choose a window: the records table shows it and the timeline zooms into it.
    const toNs = (clientX) => {
      const box = root.getBoundingClientRect();
      const vx = ((clientX - box.left) / box.width) * W;
      const f = Math.min(1, Math.max(0, (vx - LABEL) / (W - LABEL)));
      return { vx: Math.max(LABEL, Math.min(W, vx)), ns: Math.round(t.from_ns + f * (t.to_ns - t.from_ns)) };
    };
    let start = null;
    root.addEventListener("pointerdown", (e) => { start = toNs(e.clientX); root.setPointerCapture(e.pointerId); });
    root.addEventListener("pointermove", (e) => {
      if (!start) return;
      const now = toNs(e.clientX);
      selection.setAttribute("x", Math.min(start.vx, now.vx));
      selection.setAttribute("width", Math.abs(now.vx - start.vx));
    });
    root.addEventListener("pointerup", (e) => {
      if (!start) return;
      const end = toNs(e.clientX);
      const [a, b] = [Math.min(start.ns, end.ns), Math.max(start.ns, end.ns)];
      start = null;
      if (b - a > 0 && Math.abs(end.vx - selection.x.baseVal.value) >= 0) view.set(a, b + 1);
    });
    // Keyboard: + and - zoom around the middle, arrows pan by a quarter, 0 shows the whole session.
    root.addEventListener("keydown", (e) => {
      const span = t.to_ns - t.from_ns, mid = t.from_ns + span / 2;
      if (e.key === "+" || e.key === "=") view.set(Math.round(mid - span / 4), Math.round(mid + span / 4));
      else if (e.key === "-") view.set(Math.round(mid - span), Math.round(mid + span));
      else if (e.key === "ArrowLeft") view.set(Math.round(t.from_ns - span / 4), Math.round(t.to_ns - span / 4));
      else if (e.key === "ArrowRight") view.set(Math.round(t.from_ns + span / 4), Math.round(t.to_ns + span / 4));
      else if (e.key === "0") view.set(null, null);
      else return;
      e.preventDefault();
    });
    holder.replaceChildren(root);
    caption.textContent = nsText(t.from_ns) + " – " + nsText(t.to_ns) + " · " + t.counts.reduce((a, b) => a + b, 0).toLocaleString() + " records"
      + (t.exact ? "" : " (estimated per chunk)") + " · drag to select a window; + − ← → 0 on the focused timeline";
    reset.disabled = view.fromNs === null;
  };
  group.addEventListener("change", () => load().catch(fail));
  reset.addEventListener("click", () => view.set(null, null));
  view.onChange(() => load().catch(fail));
  setTimeout(() => load().catch(fail), 0);
  return el("div", { class: "panel" },
    el("div", { class: "toolbar" }, el("h2", { text: "Timeline" }), el("span", { class: "spacer" }), group, reset),
    holder, caption);
}

// MARK: Live tail

function livePanel(info) {
  const body = el("tbody", { id: "live-body" });
  const state = el("span", { id: "live-state", role: "status", text: "not following" });
  const button = el("button", { id: "live-follow", class: "secondary", text: "Follow live" });
  let source = null;
  const stop = () => { if (source) { source.close(); source = null; } button.textContent = "Follow live"; };
  button.addEventListener("click", () => {
    if (source) { stop(); state.textContent = "stopped"; return; }
    source = new EventSource(session(info) + "/tail?after=" + Math.max(-1, info.records - 20));
    button.textContent = "Stop following";
    state.textContent = "following…";
    source.addEventListener("record", (e) => {
      const r = JSON.parse(e.data);
      body.prepend(el("tr", {}, el("td", { class: "num", text: r.sequence }), el("td", { class: "time", text: nsText(r.timestamp_ns) }),
        el("td", { text: r.kind }), el("td", { class: "data", text: summarize(r).slice(0, 240) })));
      while (body.children.length > 200) body.lastChild.remove();
      state.textContent = "following · last record " + r.sequence;
    });
    source.addEventListener("end", () => { stop(); state.textContent = "the recording ended"; });
    source.addEventListener("error", () => { if (source && source.readyState === EventSource.CLOSED) { stop(); state.textContent = "disconnected"; } });
  });
  return el("div", { class: "panel" }, el("div", { class: "toolbar" }, el("h2", { text: "Live" }), el("span", { class: "badge live", text: "recording" }), button, state),
    el("table", { id: "live" }, el("thead", {}, el("tr", {}, el("th", { class: "num", text: "seq" }), el("th", { text: "time (UTC)" }), el("th", { text: "kind" }), el("th", { text: "data" }))), body));
}

// MARK: Traces

function tracePanel(info) {
  const list = el("select", { id: "trace-pick", "aria-label": "Trace" }, el("option", { value: "", text: "choose a trace…" }));
  const holder = el("div", { id: "waterfall", class: "waterfall" });
  const caption = el("p", { class: "muted", id: "trace-caption" });
  const load = async () => {
    const page = await api("GET", session(info) + "/records?kind=otlp_trace_index&limit=500");
    const seen = new Map();
    for (const r of page.records) if (r.data && !seen.has(r.data.trace_id)) seen.set(r.data.trace_id, r.data.spans);
    list.append(...[...seen].map(([id, n]) => el("option", { value: id, text: id + " (" + n + " spans)" })));
  };
  const showTrace = async () => {
    holder.replaceChildren();
    if (!list.value) return;
    const t = await api("GET", session(info) + "/traces/" + list.value);
    const start = Math.min(...t.spans.map((s) => s.start_ns));
    const end = Math.max(...t.spans.map((s) => s.start_ns + s.duration_ns));
    const total = Math.max(1, end - start);
    caption.textContent = t.spans.length + " spans over " + (total / 1e6).toFixed(3) + " ms";
    holder.append(...t.spans.map((s) => el("div", { class: "span-row" + (s.status_code === 2 ? " failed" : "") },
      el("span", { class: "span-name", style: "padding-left:" + Math.min(20, s.depth) * 14 + "px", text: s.name + (s.service ? "  [" + s.service + "]" : "") }),
      el("div", { class: "span-track" }, el("div", {
        class: "span-bar", style: "margin-left:" + ((100 * (s.start_ns - start)) / total).toFixed(3) + "%;width:" + Math.max(0.3, (100 * s.duration_ns) / total).toFixed(3) + "%",
        title: s.name + " · " + (s.duration_ns / 1e6).toFixed(3) + " ms · span " + s.span_id })),
      el("span", { class: "num", text: (s.duration_ns / 1e6).toFixed(3) + " ms" }))));
  };
  list.addEventListener("change", () => showTrace().catch(fail));
  setTimeout(() => load().catch(fail), 0);
  return el("div", { class: "panel" }, el("div", { class: "toolbar" }, el("h2", { text: "Trace waterfall" }), el("span", { class: "spacer" }), list), caption, holder);
}

// MARK: Streams

/** A stream's chunks with their offsets, and a button that plays them with their recorded timing. */
async function streamView(info, id, into) {
  const s = await api("GET", session(info) + "/streams/" + encodeURIComponent(id));
  const out = el("pre", { class: "json", id: "stream-play" });
  const play = el("button", { class: "secondary", id: "stream-play-button", text: "Play with recorded timing" });
  play.addEventListener("click", () => {
    out.textContent = "";
    for (const c of s.chunk_list) setTimeout(() => { out.textContent += c.content; }, c.offset_ns / 1e6);
  });
  into.replaceChildren(
    el("h3", { text: "Stream " + s.stream_id }),
    el("p", { class: "muted", text: s.chunks + " chunks · first after " + (s.first_chunk_ms === null ? "–" : s.first_chunk_ms.toFixed(1) + " ms") + (s.chunks_per_second ? " · " + s.chunks_per_second.toFixed(1) + " chunks/s" : "") }),
    play, out,
    el("table", { id: "stream-chunks" }, el("thead", {}, el("tr", {}, el("th", { class: "num", text: "offset ms" }), el("th", { text: "content" }))),
      el("tbody", {}, s.chunk_list.map((c) => el("tr", {}, el("td", { class: "num", text: (c.offset_ns / 1e6).toFixed(1) }), el("td", { class: "data", text: c.content }))))));
}

// MARK: Records

function recordsPanel(info, isEvents, view) {
  const fields = isEvents ? [["event_name", "event name"], ["source", "source"]] : [["io_type", "io type"], ["tool", "tool"], ["agent", "agent"]];
  const kinds = Object.keys(info.counts_by_kind).sort();
  const kind = el("select", { id: "records-kind", "aria-label": "Kind" }, [el("option", { value: "", text: "any kind" }), ...kinds.map((k) => el("option", { value: k, text: k }))]);
  const inputs = Object.fromEntries(fields.map(([key, label]) => [key, el("input", { id: "records-" + key, placeholder: label, "aria-label": label, size: 14 })]));
  const search = el("input", { id: "records-q", type: "search", placeholder: "text in the record", "aria-label": "Search text", size: 18 });
  const body = el("tbody", { id: "records-body" });
  const viewer = el("pre", { class: "json", id: "record-json", tabindex: "0", "aria-label": "The selected record" }, "Select a record to see it whole.");
  const more = el("button", { class: "secondary", id: "records-more", text: "Load more" });
  const copyName = el("input", { id: "copy-name", placeholder: "new session name", "aria-label": "Name of the filtered copy", size: 18 });
  const copyButton = el("button", { id: "copy-save", class: "secondary", text: "Save as filtered copy" });
  const copyResult = el("span", { id: "copy-result", role: "status" });
  const extra = el("div", { id: "record-extra" });
  let after = -1;
  view.onChange(() => load(true).catch(fail));

  const query = () => {
    const q = new URLSearchParams({ limit: "100", after: String(after) });
    if (kind.value) q.set("kind", kind.value);
    for (const [key, input] of Object.entries(inputs)) if (input.value.trim()) q.set(key, input.value.trim());
    if (search.value) q.set("q", search.value);
    if (view.fromNs !== null) { q.set("from_ns", String(Math.max(0, view.fromNs))); q.set("to_ns", String(Math.max(1, view.toNs))); }
    return q;
  };
  const load = async (reset) => {
    if (reset) { after = -1; body.replaceChildren(); }
    const page = await api("GET", "/api/v1/sessions/" + encodeURIComponent(info.name) + "/records?" + query());
    for (const r of page.records) {
      const summary = summarize(r);
      const row = el("tr", { tabindex: "0", class: "record-row" },
        el("td", { class: "num", text: r.sequence }), el("td", { class: "time", text: new Date(r.timestamp_ns / 1e6).toISOString().replace("T", " ").replace("Z", "") }),
        el("td", { text: r.kind }), el("td", { class: "data", text: summary.length > 240 ? summary.slice(0, 239) + "…" : summary }));
      const pick = () => {
        for (const other of body.querySelectorAll("tr.selected")) other.classList.remove("selected");
        row.classList.add("selected");
        viewer.textContent = JSON.stringify(r.data !== undefined ? r.data : r, null, 2);
        extra.replaceChildren();
        if (r.data && r.data.stream_id) streamView(info, r.data.stream_id, extra).catch((e) => { extra.textContent = e.message; });
      };
      row.addEventListener("click", pick);
      row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
      body.append(row);
    }
    after = page.next_after === null ? -2 : page.next_after;
    more.disabled = page.next_after === null;
    status(body.children.length + " records shown" + (page.next_after === null ? "" : ", more to load"));
  };
  const reload = () => load(true).catch(fail);
  for (const input of [...Object.values(inputs), search]) input.addEventListener("keydown", (e) => { if (e.key === "Enter") reload(); });
  kind.addEventListener("change", reload);
  more.addEventListener("click", () => load(false).catch(fail));
  copyButton.addEventListener("click", async () => {
    copyResult.textContent = "";
    copyResult.className = "";
    try {
      const body = { new_session_name: copyName.value.trim() };
      if (inputs.event_name.value.trim()) body.event_name = inputs.event_name.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (inputs.source.value.trim()) body.source = inputs.source.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (view.fromNs !== null && info.start) {
        const origin = Date.parse(info.start) * 1e6;
        body.from_ms = Math.max(0, (view.fromNs - origin) / 1e6);
        body.to_ms = Math.max(body.from_ms + 0.001, (view.toNs - origin) / 1e6);
      }
      const copy = await api("POST", "/api/v1/sessions/" + encodeURIComponent(info.name) + "/copy", body);
      copyResult.replaceChildren("saved ", el("a", { href: "#/session/" + encodeURIComponent(copy.name), text: copy.name }), " (" + copy.records + " events)");
    } catch (error) {
      copyResult.className = "error";
      copyResult.textContent = error.message;
    }
  });
  setTimeout(reload, 0);
  return el("div", { class: "panel" },
    el("h2", { text: "Records" }),
    el("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); reload(); } },
      kind, Object.values(inputs), search, el("button", { type: "submit", text: "Filter" })),
    isEvents ? el("div", { class: "toolbar" }, copyName, copyButton, copyResult) : null,
    el("div", { class: "split" },
      el("div", {}, el("table", { id: "records" }, el("thead", {}, el("tr", {}, el("th", { class: "num", text: "seq" }), el("th", { text: "time (UTC)" }), el("th", { text: "kind" }), el("th", { text: "data" }))), body), more),
      el("div", { class: "sticky" }, viewer, extra)));
}

/** One line for a record: what it is first, then its data. */
function summarize(r) {
  const d = r.data;
  if (!d) return r.size + " bytes (" + r.kind + ")";
  if (r.kind === "bus_event") return [d.event_name, d.source, JSON.stringify(d.event_data)].filter((x) => x !== undefined && x !== "").join(" · ");
  if (r.kind === "event" || r.kind === "stream_start") {
    return [d.io_type, d.tool_name, d.agent_id && "agent " + d.agent_id, d.task_id && "task " + d.task_id, d.step !== undefined && "step " + d.step,
      "in " + JSON.stringify(d.inputs), d.outputs !== undefined && "out " + JSON.stringify(d.outputs)].filter(Boolean).join(" · ");
  }
  if (r.kind === "chunk") return (d.stream_id || "") + " #" + d.index + " " + JSON.stringify(d.content);
  if (r.kind === "checkpoint") return "checkpoint " + (d.label || "");
  return JSON.stringify(d);
}

// MARK: Lookup

function lookupPanel(info) {
  const ioType = el("input", { id: "lookup-io-type", placeholder: "io type", "aria-label": "io type", value: "llm_call", size: 12 });
  const tool = el("input", { id: "lookup-tool", placeholder: "tool", "aria-label": "tool", size: 12 });
  const agent = el("input", { id: "lookup-agent", placeholder: "agent", "aria-label": "agent", size: 12 });
  const index = el("input", { id: "lookup-index", type: "number", min: "0", value: "0", "aria-label": "call index", size: 4 });
  const inputs = el("textarea", { id: "lookup-inputs", "aria-label": "inputs (JSON)" }, "{}");
  const answer = el("div", { id: "lookup-answer", role: "status" });
  const run = async (e) => {
    e.preventDefault();
    answer.replaceChildren();
    answer.className = "answer";
    let parsed;
    try { parsed = JSON.parse(inputs.value); } catch (error) {
      answer.className = "answer miss";
      answer.append(el("p", { class: "error", text: "inputs are not valid JSON: " + error.message }));
      return;
    }
    try {
      const hit = await api("POST", "/api/v1/sessions/" + encodeURIComponent(info.name) + "/lookup",
        { io_type: ioType.value, tool: tool.value, agent: agent.value, inputs: parsed, call_index: Number(index.value || 0) });
      answer.className = "answer hit";
      answer.append(el("p", { text: "Recorded answer (record " + hit.sequence + ", key " + hit.key + ")" }), el("pre", { class: "json", text: JSON.stringify(hit.outputs, null, 2) }));
    } catch (error) {
      answer.className = "answer miss";
      const problem = error.problem || {};
      answer.append(el("p", { class: "error", text: error.message }));
      for (const near of problem.closest || []) {
        answer.append(el("p", { text: "Closest: record " + near.sequence + " (" + [near.io_type, near.tool_name, near.agent_id].join(" / ") + ")" }),
          el("table", { class: "diff" }, el("thead", {}, el("tr", {}, el("th", { text: "path" }), el("th", { text: "recorded" }), el("th", { text: "given" }))),
            el("tbody", {}, near.differences.map((d) => el("tr", {},
              el("td", { text: d.path || "(whole value)" }),
              el("td", { class: "value", text: d.recorded_absent ? "(absent)" : JSON.stringify(d.recorded) }),
              el("td", { class: "value", text: d.given_absent ? "(absent)" : JSON.stringify(d.given) }))))));
      }
    }
  };
  return el("div", { class: "panel" }, el("h2", { text: "Look a call up (by IO key)" }),
    el("form", { id: "lookup-form", onsubmit: run },
      el("div", { class: "toolbar" }, el("label", {}, "io type", ioType), el("label", {}, "tool", tool), el("label", {}, "agent", agent),
        el("label", {}, "call index", index), el("button", { type: "submit", id: "lookup-run", text: "Look up" })),
      el("label", { for: "lookup-inputs", class: "muted", text: "inputs (JSON)" }),
      inputs),
    answer);
}

// MARK: Replay

function replayPanel(info) {
  const speed = el("input", { id: "replay-speed", type: "number", min: "0.1", max: "10", step: "0.1", value: "1", "aria-label": "speed", size: 5 });
  const durationMs = info.start && info.end ? Math.max(1, Date.parse(info.end) - Date.parse(info.start)) : 1;
  const seek = el("input", { id: "replay-seek", type: "range", min: "0", max: String(Math.round(durationMs)), step: "1", value: "0", "aria-label": "seek (ms from the start)" });
  const bar = el("div", { id: "replay-progress-bar" });
  const line = el("span", { id: "replay-state", role: "status", text: "not running" });
  let id = null, timer = null, running = false, paused = false;
  const render = (s) => {
    running = s.running; paused = s.paused;
    bar.style.width = (s.total_events ? Math.round((100 * s.delivered) / s.total_events) : 0) + "%";
    line.textContent = (s.running ? (s.paused ? "paused" : "playing") : "stopped") + " · " + s.delivered + " / " + s.total_events + " events · " + s.speed + "x"
      + (s.last_event && s.last_event.event_name ? " · last: " + s.last_event.event_name + " at " + Math.round(s.last_event.timestamp_offset_ms) + " ms" : "") + (s.error ? " · " + s.error : "");
    if (s.last_event && typeof s.last_event.timestamp_offset_ms === "number" && document.activeElement !== seek) seek.value = String(Math.round(s.last_event.timestamp_offset_ms));
    step.disabled = !(s.running && s.paused);
    if (!s.running && timer) { clearInterval(timer); timer = null; }
  };
  const poll = () => id && api("GET", "/api/v1/replays/" + id).then(render).catch(() => {});
  const act = (path, body) => {
    if (!id) return Promise.resolve();
    return api("POST", "/api/v1/replays/" + id + path, body).then((s) => { render(s); if (s.running && !timer) timer = setInterval(poll, 300); }).catch((e) => { line.textContent = e.message; });
  };
  const play = async () => {
    try {
      if (id && running) { if (paused) await act("/resume"); return; }
      const s = await api("POST", "/api/v1/replays", { session: info.name, speed: Number(speed.value) });
      id = s.id;
      render(s);
      if (!timer) timer = setInterval(poll, 300);
    } catch (e) { line.textContent = e.message; }
  };
  const step = el("button", { id: "replay-step", class: "secondary", onclick: () => act("/step").then(() => setTimeout(poll, 150)), text: "Step", disabled: true });
  seek.addEventListener("change", () => act("/seek", { offset_ms: Number(seek.value) }));
  return el("div", { class: "panel" }, el("h2", { text: "Replay (simulation: events are delivered nowhere)" }),
    el("div", { class: "row" },
      el("button", { id: "replay-play", onclick: play, text: "Play" }),
      el("button", { id: "replay-pause", class: "secondary", onclick: () => act(paused ? "/resume" : "/pause"), text: "Pause / resume" }),
      step,
      el("button", { id: "replay-stop", class: "secondary", onclick: () => act("/stop"), text: "Stop" }),
      el("label", {}, "speed ", speed),
      el("button", { id: "replay-set-speed", class: "secondary", onclick: () => act("/speed", { speed: Number(speed.value) }), text: "Set speed" })),
    el("div", { class: "row" }, el("label", { class: "seek" }, "seek ", seek)),
    el("div", { class: "progress", style: "margin:10px 0" }, bar), line);
}

// MARK: Routing

async function route() {
  status("");
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/session/")) await sessionPage(decodeURIComponent(hash.slice("#/session/".length)));
    else await sessionsPage();
  } catch (error) {
    fail(error);
  }
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);
