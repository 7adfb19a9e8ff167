// The duplicates review page: near-duplicate groups, keep one file of a group and move the others to the
// library's trash, undo from the same page. Server data goes into the page as text only.
"use strict";
const $ = (id) => document.getElementById(id);
let offset = 0;
let listing = 0; // which listing the page shows: answers to an earlier one are dropped

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}

function message(text) { $("message-text").textContent = text; }

function byteSize(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(0)} KB` : `${bytes} B`;
}

async function loadGroups(reset) {
  if (reset) { offset = 0; listing += 1; $("groups").replaceChildren(); }
  const mine = listing;
  try {
    const body = await api(`/api/dupes?threshold=${$("threshold").value}&offset=${offset}&top=20`);
    if (mine !== listing) return;
    body.groups.forEach((group, i) => $("groups").append(groupNode(group, offset + i)));
    offset = body.next_offset ?? offset;
    $("more-groups").hidden = body.next_offset == null;
    message(body.total ? t("groups", { n: body.total }) : t("no_groups"));
  } catch (err) {
    message(t("error", { error: err.message }));
  }
}

function groupNode(group, index) {
  const node = $("group").content.firstElementChild.cloneNode(true);
  node.querySelector(".group-title").textContent = t("group_files", { n: group.files.length });
  const grid = node.querySelector(".grid");
  group.files.forEach((file, i) => grid.append(fileNode(file, `keep-${index}`, i === 0)));
  node.querySelector(".trash-others").addEventListener("click", () => trashOthers(node, group));
  relabel(node);
  return node;
}

function fileNode(file, radioGroup, checked) {
  const node = $("dupe").content.firstElementChild.cloneNode(true);
  const id = encodeURIComponent(file.file_id);
  node.querySelector("img").src = `/api/files/${id}/thumbnail?size=256`;
  node.querySelector("img").alt = file.name;
  node.querySelector(".thumb").href = `/api/files/${id}/original`;
  node.querySelector(".name").textContent = file.name;
  node.querySelector(".size").textContent = byteSize(file.size);
  node.querySelector(".date").textContent = new Date(file.date * 1000).toLocaleDateString(LANG === "en" ? "en-US" : "zh-CN");
  node.querySelector(".path").textContent = file.path;
  const radio = node.querySelector("input");
  radio.name = radioGroup;
  radio.value = file.file_id;
  radio.checked = checked;
  node.classList.toggle("kept", checked);
  radio.addEventListener("change", () => {
    for (const card of node.parentElement.children) card.classList.toggle("kept", card.querySelector("input").checked);
  });
  node.dataset.fileId = file.file_id;
  return node;
}

async function trashOthers(node, group) {
  const keep = Number(node.querySelector("input:checked").value);
  const trash = group.files.map((f) => f.file_id).filter((id) => id !== keep);
  try {
    const body = await api("/api/dupes/trash", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ keep, trash }),
    });
    const note = document.createElement("p");
    note.className = "trashed";
    note.textContent = t("trashed_note", { n: body.action.paths.length }) + " ";
    const undo = Object.assign(document.createElement("button"), { type: "button", className: "undo" });
    undo.textContent = t("undo");
    undo.addEventListener("click", () => restoreAction(body.action.id, true));
    note.append(undo);
    node.replaceChildren(note);
    loadTrash();
  } catch (err) {
    message(t("error", { error: err.message }));
  }
}

async function restoreAction(id, reload) {
  try {
    const body = await api(`/api/trash/${encodeURIComponent(id)}/restore`, { method: "POST" });
    if (reload) await loadGroups(true);
    message(t("restored", { n: body.restored.length }));
    loadTrash();
  } catch (err) {
    message(t("error", { error: err.message }));
  }
}

async function loadTrash() {
  const list = $("trash-list");
  try {
    const body = await api("/api/trash");
    if (!body.actions.length) {
      const empty = document.createElement("li");
      empty.textContent = t("trash_empty");
      return list.replaceChildren(empty);
    }
    list.replaceChildren(...body.actions.map((action) => {
      const item = document.createElement("li");
      item.textContent = `${new Date(action.at * 1000).toLocaleString(LANG === "en" ? "en-US" : "zh-CN")} · ${action.paths.join(", ")} `;
      const button = Object.assign(document.createElement("button"), { type: "button", className: "restore" });
      button.textContent = t("restore");
      button.addEventListener("click", () => restoreAction(action.id, true));
      item.append(button);
      return item;
    }));
  } catch (err) {
    list.replaceChildren();
  }
}

// A read-only caller (the server's --read-token) sees the groups only: no keep choice, trash or restore.
async function applyRole() {
  let readOnly = false;
  try {
    readOnly = (await api("/api/status")).role === "read-only";
  } catch (err) {
    // the groups' own request says what is wrong
  }
  document.body.classList.toggle("read-only", readOnly);
  $("status").textContent = readOnly ? t("read_only") : "";
  if (!readOnly) loadTrash();
}

function relabel(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}

$("threshold").addEventListener("change", () => loadGroups(true));
$("more-groups").addEventListener("click", () => loadGroups(false));
$("lang").addEventListener("click", () => { switchLanguage(); document.title = `zhclip ${t("dupes_title")}`; loadGroups(true); applyRole(); });
applyLabels();
document.title = `zhclip ${t("dupes_title")}`;
loadGroups(true);
applyRole();
