// zhclip search page. Data from the server is only ever put into the page with textContent or as
// URL-encoded ids, never as HTML, so file names cannot inject markup.
"use strict";
const $ = (id) => document.getElementById(id);
let queryImage = null; // a File (upload or paste) to search with

function filterParams() {
  const p = new URLSearchParams();
  for (const id of ["negative", "kind", "path_contains", "after", "before", "top", "match"]) {
    const v = $(id).value.trim();
    if (v && !(id === "kind" && v === "all")) p.set(id, v);
  }
  return p;
}

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}

async function runSearch(event) {
  if (event) event.preventDefault();
  const q = $("q").value.trim();
  const params = filterParams();
  if (!q && !queryImage) return;
  try {
    let body;
    if (queryImage) {
      const form = new FormData();
      form.set("image", queryImage);
      if (q) form.set("q", q);
      for (const [k, v] of params) form.set(k, v);
      body = await api("/api/search/image", { method: "POST", body: form });
    } else {
      params.set("q", q);
      body = await api(`/api/search?${params}`);
    }
    show(body.results, q ? `“${q}”` : "图片");
  } catch (err) {
    message(`出错：${err.message}`);
  }
}

async function similar(result) {
  const params = new URLSearchParams({ top: $("top").value || "40" });
  if (result.kind === "video" && result.frame != null) params.set("at", result.frame);
  try {
    const body = await api(`/api/similar/${result.file_id}?${params}`);
    show(body.results, `与 ${result.name} 相似`);
  } catch (err) {
    message(`出错：${err.message}`);
  }
}

function message(text) { $("message").textContent = text; }

function clock(s) {
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(0).padStart(2, "0")}`;
}

function show(results, what) {
  const grid = $("results");
  grid.replaceChildren(...results.map(card));
  message(results.length ? `${what}：${results.length} 个结果` : `${what}：没有结果`);
}

function card(result) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  const id = encodeURIComponent(result.file_id);
  const at = result.frame != null ? `&at=${encodeURIComponent(result.frame)}` : "";
  node.querySelector("img").src = `/api/files/${id}/thumbnail?size=256${at}`;
  node.querySelector("img").alt = result.name;
  node.querySelector(".name").textContent = result.name;
  node.querySelector(".name").title = result.path;
  node.querySelector(".score").textContent = result.score.toFixed(3);
  node.dataset.fileId = result.file_id;
  node.dataset.kind = result.kind;
  if (result.kind === "video") {
    node.querySelector(".badge").textContent = `▶ ${clock(result.start)}`;
    node.querySelector(".segment").textContent = `${clock(result.start)}–${clock(result.end)}`;
    const link = node.querySelector(".download");
    link.href = `/api/files/${id}/clip?start=${result.start}&end=${result.end}`;
    link.title = "download this segment";
  }
  if (result.ocr) showOcr(node, result.ocr);
  node.querySelector(".thumb").addEventListener("click", () => view(result));
  node.querySelector(".similar").addEventListener("click", () => similar(result));
  return node;
}

// The matched OCR line: its text under the thumbnail with the matched words marked, and its box on the picture.
function showOcr(node, ocr) {
  const line = node.querySelector(".ocr-line");
  const [start, end] = ocr.span;
  const mark = document.createElement("mark");
  mark.textContent = ocr.text.slice(start, end);
  line.replaceChildren(ocr.text.slice(0, start), mark, ocr.text.slice(end));
  line.title = ocr.text;
  line.hidden = false;
  const img = node.querySelector("img");
  img.addEventListener("load", () => img.after(ocrBox(img, ocr.box, "cover")), { once: true });
}

// A box (corners as fractions of the picture) over an <img> shown with object-fit `fit` ("cover" or "fill").
function ocrBox(img, corners, fit) {
  const xs = corners.map((c) => c[0]), ys = corners.map((c) => c[1]);
  const w = img.clientWidth, h = img.clientHeight;
  let scale = 1, dx = 0, dy = 0;
  if (fit === "cover") {
    scale = Math.max(w / img.naturalWidth, h / img.naturalHeight);
    dx = (w - img.naturalWidth * scale) / 2;
    dy = (h - img.naturalHeight * scale) / 2;
  }
  const sw = fit === "cover" ? img.naturalWidth * scale : w, sh = fit === "cover" ? img.naturalHeight * scale : h;
  const box = document.createElement("span");
  box.className = "ocr-box";
  box.style.left = `${dx + Math.min(...xs) * sw}px`;
  box.style.top = `${dy + Math.min(...ys) * sh}px`;
  box.style.width = `${(Math.max(...xs) - Math.min(...xs)) * sw}px`;
  box.style.height = `${(Math.max(...ys) - Math.min(...ys)) * sh}px`;
  return box;
}

function view(result) {
  const dialog = $("viewer");
  const body = dialog.querySelector(".viewer-body");
  const src = `/api/files/${encodeURIComponent(result.file_id)}/original`;
  let media;
  if (result.kind === "video") {
    media = document.createElement("video");
    media.controls = true;
    media.muted = true;
    media.src = `${src}#t=${result.start}`;
    media.addEventListener("loadedmetadata", () => {
      media.currentTime = result.start;
      media.play().catch(() => {});
    }, { once: true });
  } else {
    media = document.createElement("img");
    media.src = src;
    media.alt = result.name;
    if (result.ocr) media.addEventListener("load", () => media.after(ocrBox(media, result.ocr.box, "fill")), { once: true });
  }
  body.replaceChildren(media);
  const segment = result.kind === "video" ? ` · ${clock(result.start)}–${clock(result.end)}` : "";
  const text = result.ocr ? ` · 「${result.ocr.text}」` : "";
  dialog.querySelector(".viewer-caption").textContent = `${result.path} · ${result.score.toFixed(3)}${segment}${text}`;
  dialog.addEventListener("close", () => body.replaceChildren(), { once: true });
  dialog.showModal();
}

function setQueryImage(file) {
  queryImage = file;
  const box = $("query-image");
  box.hidden = !file;
  if (file) box.querySelector("img").src = URL.createObjectURL(file);
}

async function refreshStatus() {
  try {
    const s = await api("/api/status");
    const c = s.counts;
    let text = `${c.images} 张图片 · ${c.videos} 个视频 · 模型 ${s.arch}`;
    const ix = s.indexing;
    if (ix.running) {
      const eta = ix.eta_s != null ? `，约 ${Math.ceil(ix.eta_s)} 秒` : "";
      text += ` · 正在索引 ${ix.done}/${ix.total}（${ix.files_per_s} 个/秒${eta}）`;
    } else if (ix.error) {
      text += ` · 索引出错：${ix.error}`;
    } else if (ix.summary) {
      text += ` · 上次扫描：${ix.summary}`;
    }
    $("status").textContent = text;
    $("rescan").disabled = Boolean(ix.running);
  } catch (err) {
    $("status").textContent = `状态不可用：${err.message}`;
  }
}

async function rescan() {
  try {
    await api("/api/rescan", { method: "POST" });
  } catch (err) {
    message(`出错：${err.message}`);
  }
  refreshStatus();
}

$("search").addEventListener("submit", runSearch);
$("image").addEventListener("change", (e) => { setQueryImage(e.target.files[0] || null); runSearch(); });
$("clear-image").addEventListener("click", () => { setQueryImage(null); $("image").value = ""; });
$("rescan").addEventListener("click", rescan);
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData || {}).items || []].find((i) => i.type.startsWith("image/"));
  if (item) { setQueryImage(item.getAsFile()); runSearch(); }
});
refreshStatus();
setInterval(refreshStatus, 3000);
