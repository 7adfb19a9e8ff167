// The full-size viewer: ← → step through what the grid shows, Esc closes, swipe on phones; the file's facts,
// "similar", and for videos the player at the segment with in/out points and a segment download, a timeline
// with the shot changes, and what is said and subtitled beside it, following playback.
"use strict";
const viewer = $("viewer");
let viewing = -1;

function openViewer(index) {
  viewing = index;
  const item = view.items[index];
  const id = encodeURIComponent(item.file_id);
  const src = `/api/files/${id}/original`;
  const body = viewer.querySelector(".viewer-body");
  const timed = item.kind === "video" || item.kind === "audio";
  body.replaceChildren(timed ? player(src, item) : picture(src, item));
  const segment = item.start != null ? ` · ${clock(item.start)}–${clock(item.end)}` : "";
  const score = item.score != null ? ` · ${item.score.toFixed(3)}` : "";
  viewer.querySelector(".viewer-caption").textContent = `${item.path}${score}${segment}`;
  viewer.querySelector(".prev").disabled = index <= 0;
  viewer.querySelector(".next").disabled = index >= view.items.length - 1 && view.done;
  viewer.querySelector(".original").href = src;
  viewer.querySelector(".original").download = item.name;
  viewer.querySelector(".similar").hidden = item.kind === "audio"; // a sound has no picture to be like
  segmentTools(item);
  facts(item);
  along(item);
  if (!viewer.open) viewer.showModal();
}

function picture(src, item) {
  const img = document.createElement("img");
  img.src = src;
  img.alt = item.name;
  if (!item.text?.box) return img;
  const frame = document.createElement("span"); // the picture and the box of the text it was found by
  frame.className = "picture";
  frame.append(img, ocrBox(item.text.box));
  return frame;
}

function player(src, item) {
  const media = document.createElement(item.kind);
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
  viewer.querySelector(".viewer-timeline").hidden = true;
  let record;
  try {
    record = await api(`/api/files/${encodeURIComponent(item.file_id)}`);
  } catch (err) {
    return;
  }
  if (view.items[viewing] !== item) return;
  const media = viewer.querySelector(".viewer-body video, .viewer-body audio");
  if (media) timeline(media, item, record.shots || []);
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
  const found = item.text;
  if (found) list.append(...fact(`${found.source}_text`, ...markedText(found.line, foundSpans(found))));
}

// ------------------------------------------------------------------ along a video: what is said, subtitles, shots

// A list of the file's speech lines and one of its subtitles beside the player (times, the query's words
// marked; the line playing is highlighted and kept in view; a click seeks to a line).
async function along(item) {
  const said = viewer.querySelector(".said");
  said.replaceChildren();
  const media = viewer.querySelector(".viewer-body video, .viewer-body audio");
  if (!media) return;
  const params = new URLSearchParams({ source: "speech,subtitles" });
  if (view.query) params.set("q", view.query);
  let body;
  try {
    body = await api(`/api/files/${encodeURIComponent(item.file_id)}/text?${params}`);
  } catch (err) {
    return;
  }
  if (view.items[viewing] !== item) return;
  for (const source of ["speech", "subtitles"]) {
    const lines = body.lines.filter((line) => line.source === source);
    if (lines.length) said.append(lineList(source, lines, media));
  }
  const follow = () => followPlayback(said, media.currentTime);
  media.addEventListener("timeupdate", follow);
  media.addEventListener("seeked", follow);
  follow();
}

function lineList(source, lines, media) {
  const section = document.createElement("section");
  section.dataset.source = source;
  const heading = document.createElement("h3");
  heading.dataset.i18n = `said_${source}`;
  heading.textContent = t(heading.dataset.i18n);
  const list = document.createElement("ol");
  for (const line of lines) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.start = line.start;
    button.dataset.end = line.end ?? "";
    const at = document.createElement("time");
    at.textContent = clock(line.start);
    const text = document.createElement("span");
    text.append(...markedText(line.text, line.marks));
    button.append(at, text);
    button.addEventListener("click", () => seek(media, line.start));
    const row = document.createElement("li");
    row.append(button);
    list.append(row);
  }
  section.append(heading, list);
  return section;
}

function seek(media, seconds) {
  media.currentTime = seconds;
  media.play().catch(() => {});
}

// In each list, the line playing at `seconds` (begun and not ended) highlighted and scrolled into the list's view.
function followPlayback(said, seconds) {
  for (const list of said.querySelectorAll("ol")) {
    const begun = [...list.children].findLast((row) => +row.firstChild.dataset.start <= seconds);
    const end = begun?.firstChild.dataset.end;
    const playing = begun && (end === "" || seconds < +end) ? begun : null;
    const before = list.querySelector(".current");
    if (playing === before) continue;
    before?.classList.remove("current");
    before?.removeAttribute("aria-current");
    if (!playing) continue;
    playing.classList.add("current");
    playing.setAttribute("aria-current", "true");
    list.scrollTo({ top: playing.offsetTop - list.clientHeight / 3, behavior: "smooth" });
  }
}

// The bar under the player: the matched segment, a tick at each shot change, the playhead; a click seeks.
function timeline(media, item, shots) {
  const bar = viewer.querySelector(".viewer-timeline");
  const draw = () => {
    const duration = media.duration;
    if (!media.isConnected || !isFinite(duration) || duration <= 0) return; // stepped on meanwhile, or no length
    const place = (seconds) => `${Math.min(100, (100 * seconds) / duration)}%`;
    const mark = (className, seconds) => {
      const node = document.createElement("span");
      node.className = className;
      node.style.left = place(seconds);
      return node;
    };
    const changes = shots.filter((seconds) => seconds > 0); // the first shot starts with the video: no mark
    const marks = changes.map((seconds) => Object.assign(mark("shot", seconds), { title: clock(seconds) }));
    if (item.start != null) {
      const segment = mark("span", item.start);
      segment.style.width = `calc(${place(item.end ?? item.start)} - ${place(item.start)})`;
      marks.unshift(segment);
    }
    const playhead = mark("playhead", media.currentTime);
    bar.replaceChildren(...marks, playhead);
    bar.title = t("shots", { n: changes.length });
    bar.hidden = false;
    media.addEventListener("timeupdate", () => { playhead.style.left = place(media.currentTime); });
    bar.onclick = (event) => {
      const box = bar.getBoundingClientRect();
      seek(media, ((event.clientX - box.left) / box.width) * duration);
    };
  };
  if (media.readyState >= 1) draw();
  else media.addEventListener("loadedmetadata", draw, { once: true });
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
viewer.addEventListener("close", () => {
  viewer.querySelector(".viewer-body").replaceChildren();
  viewer.querySelector(".said").replaceChildren();
});
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
