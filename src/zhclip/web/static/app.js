// zhclip search page. Data from the server is only ever put into the page with textContent or as
// URL-encoded ids, never as HTML, so file names cannot inject markup.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = { browse: 60, search: 40 };
let queryImage = null; // a File (upload or paste) to search with
// What the grid shows: mode browse | search | similar, how to fetch its next page, and the items so far
// (the viewer steps through them). A query's results come best first; those under the automatic threshold
// are weak (`item.weak`): in relevance order they sit after a divider, and infinite scroll pauses after the
// page they begin on until the person asks for more (`paused`, `resumed`).
let view = { mode: "browse", items: [], done: false, loading: false, lastMonth: null };

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}

function filterParams(withNegative) {
  const p = new URLSearchParams();
  for (const id of ["kind", "path_contains", "after", "before", ...(withNegative ? ["negative"] : [])]) {
    const v = $(id).value.trim();
    if (v && !(id === "kind" && v === "all")) p.set(id, v);
  }
  return p;
}

function message(text) { $("message-text").textContent = text; }

function clock(s) {
  const whole = Math.floor(s); // a moment shown as the second it falls in (59.6 s is 0:59, never 0:60)
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function monthOf(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

function monthLabel(month) {
  const [y, m] = month.split("-").map(Number);
  return new Date(y, m - 1, 1).toLocaleDateString(LANG === "en" ? "en-US" : "zh-CN", { year: "numeric", month: "long" });
}

// ------------------------------------------------------------------ what to show

function reset(mode, fetchPage, what) {
  view = { mode, items: [], fetchPage, what, done: false, loading: false, lastMonth: null, offset: 0, cursor: null,
           divided: false, paused: false, resumed: false };
  $("results").replaceChildren();
  $("rail").hidden = mode !== "browse";
  $("resume").hidden = true;
  message("");
  loadMore();
}

function browse() {
  const sort = { relevance: "-date", newest: "-date", oldest: "date" }[$("sort").value];
  reset("browse", async () => {
    const p = filterParams(false);
    p.set("sort", sort);
    p.set("top", PAGE.browse);
    if (view.cursor) p.set("cursor", view.cursor);
    const body = await api(`/api/browse?${p}`);
    view.cursor = body.next_cursor;
    view.total = body.total;
    return { items: body.items, more: body.next_cursor != null };
  }, "library");
  timeline();
}

function searchPage(requestPage) {
  return async () => {
    const body = await requestPage(view.offset);
    view.offset = body.next_offset ?? view.offset;
    return { items: body.results, more: body.next_offset != null };
  };
}

function queryParams(offset) {
  const p = filterParams(true);
  p.set("top", PAGE.search);
  p.set("offset", offset);
  p.set("sort", $("sort").value);
  return p;
}

function runSearch(event) {
  if (event) event.preventDefault();
  const q = $("q").value.trim();
  if (!q && !queryImage) return browse();
  const what = q ? `“${q}”` : t("by_image");
  reset("search", searchPage(async (offset) => {
    const params = queryParams(offset);
    if ($("match").value) params.set("match", $("match").value);
    if (!queryImage) {
      params.set("q", q);
      return api(`/api/search?${params}`);
    }
    const form = new FormData();
    form.set("image", queryImage);
    if (q) form.set("q", q);
    for (const [k, v] of params) form.set(k, v);
    return api("/api/search/image", { method: "POST", body: form });
  }), what);
  view.query = q; // the viewer marks its words in what is said and subtitled
}

function similar(result) {
  reset("similar", searchPage(async (offset) => {
    const params = queryParams(offset);
    for (const id of ["negative", "path_contains", "after", "before"]) params.delete(id);
    if (result.kind === "video" && result.frame != null) params.set("at", result.frame);
    return api(`/api/similar/${encodeURIComponent(result.file_id)}?${params}`);
  }), t("like", { name: result.name }));
}

async function loadMore() {
  if (view.loading || view.done || view.paused) return;
  view.loading = true;
  const shown = view;
  try {
    const page = await view.fetchPage();
    if (shown !== view) return; // a newer search started meanwhile
    append(page.items);
    view.done = !page.more;
    view.paused = !view.done && !view.resumed && !grouped() && page.items.some((item) => item.weak);
    $("resume").hidden = !view.paused;
    summarise();
  } catch (err) {
    if (shown === view) { view.done = true; message(t("error", { error: err.message })); }
  } finally {
    shown.loading = false;
  }
  if (shown === view && !view.done && isVisible($("more"))) loadMore();
}

// The person asks for the weak results after the first page of them: infinite scroll goes on from here.
function resume() {
  view.paused = false;
  view.resumed = true;
  $("resume").hidden = true;
  loadMore();
}

function summarise() {
  const n = view.items.length;
  if (view.mode === "browse") {
    message(view.total ? t("library", { n: view.total }) : t("empty_library"));
    return;
  }
  const key = n === 0 ? "no_results" : view.done ? "results" : "more_results";
  const strongOnes = view.items.filter((item) => !item.weak).length;
  const strong = strongOnes < n ? t("strong_note", { n: strongOnes }) : "";
  message(t(key, { what: view.what, n }) + strong);
}

function isVisible(node) {
  const box = node.getBoundingClientRect();
  return box.top < window.innerHeight + 400;
}

// ------------------------------------------------------------------ cards, grouped by month when sorted by date

function grouped() {
  return view.mode === "browse" || $("sort").value !== "relevance";
}

function gridFor(item) {
  const results = $("results");
  if (!grouped()) {
    if (item.weak && !view.divided) {
      view.divided = true;
      results.append(weakDivider());
    }
    if (!results.lastElementChild?.classList.contains("grid")) results.append(newGrid());
    return results.lastElementChild;
  }
  const month = item.date ? monthOf(item.date) : "";
  if (month !== view.lastMonth || !results.lastElementChild) {
    view.lastMonth = month;
    const section = document.createElement("section");
    section.className = "month";
    section.dataset.month = month;
    const heading = document.createElement("h2");
    heading.textContent = month ? monthLabel(month) : "—";
    section.append(heading, newGrid());
    results.append(section);
  }
  return results.lastElementChild.querySelector(".grid");
}

function newGrid() {
  return Object.assign(document.createElement("div"), { className: "grid" });
}

// Where the weak results begin (relevance order): a labelled rule across the grid.
function weakDivider() {
  const divider = document.createElement("div");
  divider.className = "weak-divider";
  divider.setAttribute("role", "separator");
  const label = document.createElement("span");
  label.dataset.i18n = "weak_divider";
  label.textContent = t("weak_divider");
  divider.append(label);
  return divider;
}

function append(items) {
  for (const item of items) {
    const index = view.items.push(item) - 1;
    gridFor(item).append(card(item, index));
  }
}

function card(item, index) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  const id = encodeURIComponent(item.file_id);
  const at = item.frame != null ? `&at=${encodeURIComponent(item.frame)}` : "";
  const img = node.querySelector("img");
  img.alt = item.name;
  if (item.kind === "audio") img.remove(); // a sound: no picture, and nothing that looks like it
  else img.src = `/api/files/${id}/thumbnail?size=256${at}`;
  node.querySelector(".name").textContent = item.name;
  node.querySelector(".name").title = item.path;
  node.querySelector(".score").textContent = item.score != null ? item.score.toFixed(3) : formatDate(item.date);
  node.dataset.fileId = item.file_id;
  node.dataset.kind = item.kind;
  node.dataset.date = item.date ?? "";
  node.classList.toggle("weak", Boolean(item.weak));
  const link = node.querySelector(".download");
  const timed = item.kind === "video" || item.kind === "audio";
  const sign = item.kind === "audio" ? "♪" : "▶";
  if (timed && item.start != null) {
    node.querySelector(".badge").textContent = `${sign} ${clock(item.start)}`;
    node.querySelector(".segment").textContent = `${clock(item.start)}–${clock(item.end)}`;
    if (item.kind === "video") link.href = `/api/files/${id}/clip?start=${item.start}&end=${item.end}`;
  } else if (timed) {
    node.querySelector(".badge").textContent = item.duration ? `${sign} ${clock(item.duration)}` : sign;
  }
  if (item.text) showFoundText(node, item.text);
  for (const label of node.querySelectorAll("[data-i18n]")) label.textContent = t(label.dataset.i18n);
  node.querySelector(".thumb").addEventListener("click", () => openViewer(index));
  node.querySelector(".similar").addEventListener("click", () => similar(item));
  node.querySelector(".similar").hidden = item.kind === "audio";
  return node;
}

// ------------------------------------------------------------------ the text a result was found by

// Under the thumbnail: where the matched line comes from (on screen, said, a subtitle), its time in a video,
// the line with the query's words marked; an on-screen line's box drawn on the picture.
function showFoundText(node, found) {
  const line = node.querySelector(".text-line");
  const source = line.querySelector(".source");
  source.dataset.source = found.source;
  source.dataset.i18n = `source_${found.source}`;
  line.querySelector(".at").textContent = found.start != null ? clock(found.start) : "";
  line.querySelector(".line").replaceChildren(...markedText(found.line, foundSpans(found)));
  line.title = found.line;
  line.hidden = false;
  if (!found.box) return;
  const img = node.querySelector("img");
  img.addEventListener("load", () => img.after(ocrBox(found.box, coverPlace(img))), { once: true });
}

function foundSpans(found) {
  return found.span ? [found.span] : [];
}

// A line's text as nodes, the characters of each [start, end) span (in order) in a <mark>.
function markedText(text, spans) {
  const nodes = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (start < at || end <= start) continue;
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    nodes.push(text.slice(at, start), mark);
    at = end;
  }
  nodes.push(text.slice(at));
  return nodes;
}

// Where a picture shown with object-fit: cover lies in its box, in % of the box: its size and offset.
function coverPlace(img) {
  const w = img.clientWidth, h = img.clientHeight;
  const scale = Math.max(w / img.naturalWidth, h / img.naturalHeight);
  const width = (img.naturalWidth * scale * 100) / w, height = (img.naturalHeight * scale * 100) / h;
  return { width, height, left: (100 - width) / 2, top: (100 - height) / 2 };
}

// A box over a picture for corners given as fractions of the picture (place: where the picture lies, in %).
function ocrBox(corners, place = { width: 100, height: 100, left: 0, top: 0 }) {
  const xs = corners.map((c) => c[0]), ys = corners.map((c) => c[1]);
  const box = document.createElement("span");
  box.className = "ocr-box";
  box.style.left = `${place.left + Math.min(...xs) * place.width}%`;
  box.style.top = `${place.top + Math.min(...ys) * place.height}%`;
  box.style.width = `${(Math.max(...xs) - Math.min(...xs)) * place.width}%`;
  box.style.height = `${(Math.max(...ys) - Math.min(...ys)) * place.height}%`;
  return box;
}

function formatDate(seconds) {
  if (seconds == null) return "";
  return new Date(seconds * 1000).toLocaleDateString(LANG === "en" ? "en-US" : "zh-CN");
}

// ------------------------------------------------------------------ the date rail

async function timeline() {
  const rail = $("rail");
  try {
    const body = await api(`/api/timeline?${filterParams(false)}`);
    rail.replaceChildren(...body.months.map(({ month, count }) => {
      const link = document.createElement("button");
      link.type = "button";
      link.textContent = monthLabel(month);
      link.title = String(count);
      link.dataset.month = month;
      link.addEventListener("click", () => jumpTo(month));
      return link;
    }));
  } catch (err) {
    rail.replaceChildren();
  }
}

async function jumpTo(month) {
  // Months are loaded newest first: keep loading until the month's section is there (or the library ends).
  for (let pages = 0; pages < 50; pages++) {
    const section = document.querySelector(`section.month[data-month="${CSS.escape(month)}"]`);
    if (section) return section.scrollIntoView({ behavior: "smooth", block: "start" });
    if (view.done || view.mode !== "browse") return;
    while (view.loading) await new Promise((r) => setTimeout(r, 50));
    await loadMore();
  }
}

// ------------------------------------------------------------------ status, rescan, language

function setQueryImage(file) {
  queryImage = file;
  const box = $("query-image");
  box.hidden = !file;
  if (file) box.querySelector("img").src = URL.createObjectURL(file);
}

// The match modes the library can answer: one per text source it has, all text when it has several.
function offerMatches(sources) {
  const offered = { ocr: false, speech: false, subtitles: false, text: sources.length > 1, hybrid: sources.length > 0 };
  for (const source of sources) offered[source] = true;
  for (const option of $("match").options) {
    if (option.value in offered) option.hidden = !offered[option.value];
  }
  if ($("match").selectedOptions[0]?.hidden) $("match").value = "";
}

async function refreshStatus() {
  try {
    const s = await api("/api/status");
    document.body.classList.toggle("read-only", s.role === "read-only");
    offerMatches(s.text_sources);
    const c = s.counts;
    let text = t("status", { images: c.images, videos: c.videos, arch: s.arch });
    const ix = s.indexing;
    if (ix.running) {
      const eta = ix.eta_s != null ? t("eta", { s: Math.ceil(ix.eta_s) }) : "";
      text += " · " + t("indexing", { done: ix.done, total: ix.total, rate: ix.files_per_s, eta });
    } else if (ix.error) {
      text += " · " + t("index_error", { error: ix.error });
    } else if (ix.summary) {
      text += " · " + t("last_scan", { summary: ix.summary });
    }
    if (ix.watching && !ix.running) text += " · " + t("watching");
    if (ix.missing_roots && ix.missing_roots.length) text += " · " + t("missing_roots", { roots: ix.missing_roots.join(", ") });
    if (s.role === "read-only") text += " · " + t("read_only");
    $("status").textContent = text;
    $("rescan").disabled = Boolean(ix.running);
  } catch (err) {
    $("status").textContent = t("status_unavailable", { error: err.message });
  }
}

async function rescan() {
  try {
    await api("/api/rescan", { method: "POST" });
  } catch (err) {
    message(t("error", { error: err.message }));
  }
  refreshStatus();
}

function relabel() {
  switchLanguage();
  refreshStatus();
  for (const section of document.querySelectorAll("section.month")) {
    section.querySelector("h2").textContent = section.dataset.month ? monthLabel(section.dataset.month) : "—";
  }
  for (const button of $("rail").children) button.textContent = monthLabel(button.dataset.month);
  for (const label of $("results").querySelectorAll("[data-i18n]")) label.textContent = t(label.dataset.i18n);
  summarise();
}

$("search").addEventListener("submit", runSearch);
$("sort").addEventListener("change", () => runSearch());
$("match").addEventListener("change", () => runSearch());
for (const id of ["kind", "after", "before"]) $(id).addEventListener("change", () => runSearch());
$("path_contains").addEventListener("change", () => runSearch());
$("image").addEventListener("change", (e) => { setQueryImage(e.target.files[0] || null); runSearch(); });
$("clear-image").addEventListener("click", () => { setQueryImage(null); $("image").value = ""; runSearch(); });
$("resume").querySelector("button").addEventListener("click", resume);
$("rescan").addEventListener("click", rescan);
$("lang").addEventListener("click", relabel);
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData || {}).items || []].find((i) => i.type.startsWith("image/"));
  if (item) { setQueryImage(item.getAsFile()); runSearch(); }
});
new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); },
  { rootMargin: "400px" }).observe($("more"));
applyLabels();
refreshStatus();
setInterval(refreshStatus, 3000);
browse();
