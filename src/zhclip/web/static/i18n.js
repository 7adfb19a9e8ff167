// Labels of the page in Chinese and English. The language: ?lang=zh|en, else the remembered switch, else
// what the server chose from the browser's Accept-Language (the <html lang> of the page).
"use strict";
const LABELS = {
  title: ["素材搜索", "material search"],
  placeholder: ["输入中文描述，例如：海边的日落（也可以粘贴图片）", "Describe it in Chinese, e.g. 海边的日落 (or paste an image)"],
  image: ["图片", "Image"],
  image_title: ["用图片搜索", "search with an image"],
  search: ["搜索", "Search"],
  filters: ["筛选", "Filters"],
  negative: ["排除", "Exclude"],
  negative_hint: ["不想要的内容", "what you do not want"],
  kind: ["类型", "Type"],
  all: ["全部", "All"],
  images: ["图片", "Images"],
  videos: ["视频", "Videos"],
  path_contains: ["路径包含", "Path contains"],
  after: ["之后", "After"],
  before: ["之前", "Before"],
  sort: ["排序", "Sort"],
  relevance: ["相关度", "Relevance"],
  newest: ["最新", "Newest"],
  oldest: ["最早", "Oldest"],
  match: ["匹配", "Match"],
  match_title: ["按画面内容、画面中的文字、语音、字幕，或画面和文字一起排序", "rank by what the picture shows, the text on screen, what is said, the subtitles, or picture and text together"],
  match_auto: ["自动", "Auto"],
  match_clip: ["画面", "Picture"],
  match_ocr: ["画面文字", "On-screen text"],
  match_speech: ["语音", "Speech"],
  match_subtitles: ["字幕", "Subtitles"],
  match_text: ["文字", "Any text"],
  match_hybrid: ["画面+文字", "Picture + text"],
  source_ocr: ["文字", "Text"],
  source_speech: ["语音", "Speech"],
  source_subtitles: ["字幕", "Subtitle"],
  ocr_text: ["图中文字", "Text in it"],
  speech_text: ["语音", "Said"],
  subtitles_text: ["字幕", "Subtitle"],
  said_speech: ["语音转写", "Transcript"],
  said_subtitles: ["字幕", "Subtitles"],
  shots: ["镜头切换：{n}", "shot changes: {n}"],
  rescan: ["重新扫描", "Rescan"],
  rescan_title: ["重新索引资料库的文件夹", "index the library's folders again"],
  dupes: ["重复文件", "Duplicates"],
  similar: ["相似", "Similar"],
  download: ["下载", "Download"],
  close: ["关闭", "Close"],
  copy: ["复制路径", "Copy path"],
  copied: ["已复制", "Copied"],
  weak_divider: ["较弱的匹配", "Weaker matches"],
  show_more: ["显示更多较弱的匹配", "Show more weaker matches"],
  prev: ["上一个", "Previous"],
  next: ["下一个", "Next"],
  clip_in: ["入点（秒）", "In (s)"],
  clip_out: ["出点（秒）", "Out (s)"],
  set_in: ["设为入点", "Set in"],
  set_out: ["设为出点", "Set out"],
  padding: ["前后留白", "Padding"],
  download_clip: ["下载片段", "Download segment"],
  date: ["日期", "Date"],
  size: ["大小", "Size"],
  dimensions: ["尺寸", "Dimensions"],
  duration: ["时长", "Duration"],
  camera: ["相机", "Camera"],
  folder: ["文件夹", "Folder"],
  path: ["路径", "Path"],
  score: ["相关度", "Score"],
  status: ["{images} 张图片 · {videos} 个视频 · 模型 {arch}", "{images} images · {videos} videos · model {arch}"],
  indexing: ["正在索引 {done}/{total}（{rate} 个/秒{eta}）", "indexing {done}/{total} ({rate} files/s{eta})"],
  eta: ["，约 {s} 秒", ", about {s} s"],
  index_error: ["索引出错：{error}", "indexing failed: {error}"],
  last_scan: ["上次扫描：{summary}", "last scan: {summary}"],
  status_unavailable: ["状态不可用：{error}", "status unavailable: {error}"],
  error: ["出错：{error}", "error: {error}"],
  results: ["{what}：{n} 个结果", "{what}: {n} results"],
  more_results: ["{what}：{n}+ 个结果", "{what}: {n}+ results"],
  no_results: ["{what}：没有结果", "{what}: no results"],
  strong_note: ["，其中 {n} 个较强的匹配", ", {n} strong"],
  by_image: ["图片", "image"],
  like: ["与 {name} 相似", "like {name}"],
  library: ["资料库：{n} 个文件", "library: {n} files"],
  empty_library: ["资料库是空的", "the library is empty"],
  lang_switch: ["English", "中文"],
  dupes_title: ["重复文件", "duplicates"],
  back: ["返回搜索", "Back to search"],
  threshold: ["相似度阈值", "Similarity threshold"],
  groups: ["{n} 组近似重复的文件", "{n} groups of near-duplicates"],
  no_groups: ["没有近似重复的文件", "no near-duplicates"],
  group_files: ["{n} 个文件", "{n} files"],
  keep: ["保留", "Keep"],
  trash_others: ["保留所选，其余移到回收站", "Keep the chosen one, move the others to the trash"],
  trashed_note: ["已移到回收站：{n} 个文件", "moved to the trash: {n} files"],
  undo: ["撤销", "Undo"],
  restored: ["已恢复 {n} 个文件", "restored {n} files"],
  trash: ["回收站", "Trash"],
  trash_empty: ["回收站是空的", "the trash is empty"],
  restore: ["恢复", "Restore"],
  load_more: ["加载更多", "Load more"],
  watching: ["自动索引中", "watching for changes"],
  read_only: ["只读", "read-only"],
  missing_roots: ["文件夹不在：{roots}（其文件保留）", "folder not there: {roots} (its files stay)"],
};
const LANGS = ["zh", "en"];

function chosenLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGS.includes(asked)) return asked;
  const remembered = localStorage.getItem("zhclip_lang");
  if (LANGS.includes(remembered)) return remembered;
  return document.documentElement.lang.startsWith("en") ? "en" : "zh";
}

let LANG = chosenLanguage();

function t(key, vars = {}) {
  const text = (LABELS[key] || [key, key])[LANG === "en" ? 1 : 0];
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function applyLabels() {
  document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  document.title = `zhclip ${t("title")}`;
}

function switchLanguage() {
  LANG = LANG === "en" ? "zh" : "en";
  localStorage.setItem("zhclip_lang", LANG);
  const url = new URL(location.href);
  if (url.searchParams.has("lang")) {
    url.searchParams.delete("lang");
    history.replaceState(null, "", url);
  }
  applyLabels();
}
