// The full-size viewer: ← → step through what the grid shows, Esc closes, swipe on phones; the file's facts,
// "similar", and for videos the player at the segment with in/out points and a segment download.
"use strict";
const viewer = $("viewer");
let viewing = -1;

function openViewer(index) {
  viewing = index;
  const item = view.items[index];
  const id = encodeURIComponent(item.file_id);
  const src = `/api/files/${id}/original`;
  const body = viewer.querySelector(".viewer-body");
  body.replaceChildren(item.kind === "video" ? videoPlayer(src, item) : picture(src, item));
  const segment = item.start != null ? ` · ${clock(item.start)}–${clock(item.end)}` : "";
  const score = item.score != null ? ` · ${item.score.toFixed(3)}` : "";
  viewer.querySelector(".viewer-caption").textContent = `${item.path}${score}${segment}`;
  viewer.querySelector(".prev").disabled = index <= 0;
  viewer.querySelector(".next").disabled = index >= view.items.length - 1 && view.done;
  viewer.querySelector(".original").href = src;
  viewer.querySelector(".original").download = item.name;
  segmentTools(item);
  facts(item);
  if (!viewer.open) viewer.showModal();
}

function picture(src, item) {
  const img = document.createElement("img");
  img.src = src;
  img.alt = item.name;
  if (!item.ocr) return img;
  const frame = document.createElement("span"); // the picture and the box of the text it was found by
  frame.className = "picture";
  frame.append(img, ocrBox(item.ocr.box));
  return frame;
}

function videoPlayer(src, item) {
  const media = document.createElement("video");
  const start = item.start || 0;
  media.controls = true;
  media.muted = true;
  media.src = `${src}#t=${start}`;
  media.addEventListener("loadedmetadata", () => {
    media.currentTime = start;
    media.play().catch(() => {});
  }, { once: true });
  return media;
}

function segmentTools(item) {
  const tools = viewer.querySelector(".segment-tools");
  tools.hidden = item.kind !== "video";
  if (tools.hidden) return;
  const end = item.end != null && isFinite(item.end) ? item.end : (item.duration || (item.start || 0) + 10);
  tools.querySelector(".clip-in").value = (item.start || 0).toFixed(1);
  tools.querySelector(".clip-out").value = end.toFixed(1);
  clipLink();
}

function clipLink() {
  const tools = viewer.querySelector(".segment-tools");
  const item = view.items[viewing];
  const p = new URLSearchParams({
    start: tools.querySelector(".clip-in").value,
    end: tools.querySelector(".clip-out").value,
    pad: tools.querySelector(".pad").value,
  });
  tools.querySelector(".clip").href = `/api/files/${encodeURIComponent(item.file_id)}/clip?${p}`;
}

function setPoint(which) {
  const video = viewer.querySelector("video");
  if (!video) return;
  viewer.querySelector(which === "in" ? ".clip-in" : ".clip-out").value = video.currentTime.toFixed(1);
  clipLink();
}

async function facts(item) {
  const list = viewer.querySelector(".facts dl");
  list.replaceChildren();
  let record;
  try {
    record = await api(`/api/files/${encodeURIComponent(item.file_id)}`);
  } catch (err) {
    return;
  }
  if (view.items[viewing] !== item) return;
  const folder = record.path.replace(/[\\/][^\\/]*$/, "");
  const rows = [
    ["date", new Date(record.date * 1000).toLocaleString(LANG === "en" ? "en-US" : "zh-CN")],
    ["size", byteSize(record.size)],
    ["dimensions", record.width ? `${record.width} × ${record.height}` : null],
    ["duration", record.duration ? clock(record.duration) : null],
    ["camera", record.camera],
    ["folder", folder],
    ["score", item.score != null ? item.score.toFixed(3) : null],
  ];
  for (const [key, value] of rows) {
    if (value != null && value !== "") list.append(...fact(key, value));
  }
  if (item.ocr) list.append(...fact("ocr_text", ...markedText(item.ocr)));
}

function fact(key, ...value) {
  const term = document.createElement("dt");
  term.textContent = t(key);
  const detail = document.createElement("dd");
  detail.append(...value);
  detail.dataset.fact = key;
  return [term, detail];
}

function byteSize(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(0)} KB` : `${bytes} B`;
}

async function step(delta) {
  const target = viewing + delta;
  if (target < 0) return;
  if (target >= view.items.length) {
    if (view.done) return;
    await loadMore();
    if (target >= view.items.length) return;
  }
  openViewer(target);
}

async function copyPath() {
  const item = view.items[viewing];
  const button = viewer.querySelector(".copy");
  try {
    await navigator.clipboard.writeText(item.path);
  } catch (err) {
    const field = Object.assign(document.createElement("textarea"), { value: item.path });
    document.body.append(field);
    field.select();
    document.execCommand("copy");
    field.remove();
  }
  button.textContent = t("copied");
  setTimeout(() => { button.textContent = t("copy"); }, 1500);
}

viewer.querySelector(".prev").addEventListener("click", () => step(-1));
viewer.querySelector(".next").addEventListener("click", () => step(1));
viewer.querySelector(".copy").addEventListener("click", copyPath);
viewer.querySelector(".similar").addEventListener("click", () => { const item = view.items[viewing]; viewer.close(); similar(item); });
viewer.querySelector(".set-in").addEventListener("click", () => setPoint("in"));
viewer.querySelector(".set-out").addEventListener("click", () => setPoint("out"));
for (const cls of [".clip-in", ".clip-out", ".pad"]) viewer.querySelector(cls).addEventListener("change", clipLink);
viewer.addEventListener("close", () => viewer.querySelector(".viewer-body").replaceChildren());
document.addEventListener("keydown", (e) => {
  if (!viewer.open || e.target.matches("input, select, textarea")) return;
  if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
  if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
});
let touchX = null;
viewer.addEventListener("touchstart", (e) => { touchX = e.changedTouches[0].clientX; }, { passive: true });
viewer.addEventListener("touchend", (e) => {
  if (touchX == null) return;
  const dx = e.changedTouches[0].clientX - touchX;
  touchX = null;
  if (Math.abs(dx) > 60) step(dx < 0 ? 1 : -1);
});
