// trashmonitor viewer: one tile per MediaMTX path, polled from the same origin.
//   /api/v3/paths/list  MediaMTX API through Caddy (every page)
//   /status             the monitor's /api/status (states and reasons), optional
//   /<path>/index.m3u8  HLS through Caddy, played with hls.js (vendored, no CDN)
// Plain DOM, no framework: the page is a handful of tiles refreshed every few seconds.
"use strict";

const limits = window.trashmonitorLimits; // limits.js: clamps, caps and timeouts
const params = new URLSearchParams(location.search);
const POLL_MS = limits.pollIntervalMs(params.get("interval"));
const PAGE_SIZE = 100; // MediaMTX's default; more pages are followed up to limits.MAX_PAGES

const REASONS = {
  no_publisher: "no producer",
  placeholder: "placeholder only",
  stalled: "stalled",
  frames_in_error: "frames in error",
  agent_offline: "agent offline",
  agent_stale: "agent silent",
  black_image: "black image",
  frozen_image: "frozen image",
  low_fps: "low fps",
  agent_without_publisher: "agent up, no stream",
  publisher_without_agent: "stream without agent",
  mediamtx_unreachable: "MediaMTX unreachable",
};

const wall = document.getElementById("wall");
const banner = document.getElementById("banner");
const summary = document.getElementById("summary");
const template = document.getElementById("tile-template");
const tiles = new Map(); // path name -> {element, hls, lastBytes, lastAt}

// Exposed for the browser test and for curious operators in the console.
window.trashmonitorViewer = {
  polls: 0,
  apiError: null,
  statusError: null,
  pollMs: POLL_MS,
  truncated: false,
  ignoredNames: 0,
};

async function getJSON(url) {
  const response = await limits.fetchWithTimeout(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

// Every page up to limits.MAX_PAGES; names the viewer cannot show safely are dropped.
async function listAllPaths() {
  const state = window.trashmonitorViewer;
  const items = [];
  let pages = 1;
  for (let page = 0; page < pages; page++) {
    const body = await getJSON(`api/v3/paths/list?page=${page}&itemsPerPage=${PAGE_SIZE}`);
    items.push(...(Array.isArray(body.items) ? body.items : []));
    if (page === 0) {
      pages = limits.pagesToRead(body.pageCount);
      state.truncated = body.pageCount > pages;
    }
  }
  const shown = items.filter((item) => item && limits.isShowableName(item.name));
  state.ignoredNames = items.length - shown.length;
  return shown;
}

// `online` (v1.16+) means a real publisher; older MediaMTX only has `ready`.
function isLive(path) {
  return typeof path.online === "boolean" ? path.online : Boolean(path.ready);
}

function codecText(path, camera) {
  const track = (path.tracks2 || []).find((t) => t.codecProps && t.codecProps.width);
  if (track) return `${track.codec} ${track.codecProps.width}×${track.codecProps.height}`;
  if (camera && camera.codec) return [camera.codec, camera.resolution].filter(Boolean).join(" ");
  const names = path.tracks2 ? path.tracks2.map((t) => t.codec) : path.tracks || [];
  return names.length ? names.join(", ") : "–";
}

function duration(seconds) {
  if (!(seconds >= 0)) return "–";
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24;
  const m = Math.floor(seconds / 60) % 60, s = Math.floor(seconds % 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

function bitrate(bytesPerSecond) {
  if (!(bytesPerSecond >= 0)) return "–";
  const bits = bytesPerSecond * 8;
  return bits >= 1e6 ? `${(bits / 1e6).toFixed(2)} Mbit/s` : `${(bits / 1e3).toFixed(0)} kbit/s`;
}

function createTile(name) {
  const element = template.content.firstElementChild.cloneNode(true);
  element.dataset.path = name;
  element.querySelector(".name").textContent = name;
  element.addEventListener("click", () => toggleFullscreen(element));
  element.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === "f") toggleFullscreen(element);
  });
  const tile = { element, hls: null, lastBytes: null, lastAt: null };
  tiles.set(name, tile);
  return tile;
}

function toggleFullscreen(element) {
  if (document.fullscreenElement) document.exitFullscreen();
  else element.requestFullscreen?.().catch(() => {});
}

function startVideo(tile, name) {
  const video = tile.element.querySelector("video");
  if (tile.hls || video.src) return;
  const url = limits.playlistURL(name);
  if (!url) return;
  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({ lowLatencyMode: false, liveSyncDurationCount: 2 });
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (data.fatal) stopVideo(tile); // retried on the next poll
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    tile.hls = hls;
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url; // Safari plays HLS natively
  }
  video.play?.().catch(() => {});
}

function stopVideo(tile) {
  const video = tile.element.querySelector("video");
  if (tile.hls) tile.hls.destroy();
  tile.hls = null;
  if (video.src) {
    video.removeAttribute("src");
    video.load();
  }
}

function render(tile, path, camera, now) {
  const el = tile.element;
  const live = isLive(path);
  el.dataset.live = String(live);
  el.classList.remove("stale");
  el.querySelector(".live").textContent = live ? "live" : "offline";
  el.querySelector(".placeholder").textContent = live
    ? ""
    : path.available ? "placeholder only (no producer)" : "no producer";

  const state = camera ? camera.state : "";
  el.dataset.state = state;
  el.querySelector(".state").textContent = camera ? camera.state : "no monitor data";
  el.querySelector(".reasons").textContent = camera
    ? camera.reasons.map((r) => REASONS[r] || r).join(" · ")
    : "";

  el.querySelector(".codec").textContent = codecText(path, camera);
  const since = Date.parse(path.onlineTime || path.readyTime || "");
  el.querySelector(".uptime").textContent = live && since ? duration((now - since) / 1000) : "–";
  const bytes = path.inboundBytes ?? path.bytesReceived;
  let rate = camera ? camera.inbound_bytes_per_second : undefined;
  if (typeof bytes === "number" && tile.lastBytes !== null && bytes >= tile.lastBytes) {
    rate = ((bytes - tile.lastBytes) * 1000) / Math.max(1, now - tile.lastAt);
  }
  tile.lastBytes = typeof bytes === "number" ? bytes : null;
  tile.lastAt = now;
  el.querySelector(".bitrate").textContent = live ? bitrate(rate) : "–";
  el.querySelector(".viewers").textContent = String((path.readers || []).length);

  if (live) startVideo(tile, path.name);
  else stopVideo(tile);
}

function showBanner(text) {
  banner.hidden = !text;
  banner.textContent = text || "";
}

async function poll() {
  const state = window.trashmonitorViewer;
  const [paths, status] = await Promise.allSettled([listAllPaths(), getJSON("status")]);
  const now = Date.now();
  state.polls += 1;
  state.statusError = status.status === "rejected" ? String(status.reason.message) : null;
  const cameras = new Map(
    status.status === "fulfilled" ? (status.value.cameras || []).map((c) => [c.name, c]) : [],
  );

  if (paths.status === "rejected") {
    state.apiError = String(paths.reason.message);
    showBanner(`MediaMTX API unreachable (${state.apiError}); showing the last known cameras.`);
    for (const tile of tiles.values()) tile.element.classList.add("stale");
    summary.textContent = "API unreachable";
    return;
  }
  state.apiError = null;
  showBanner(state.statusError ? `monitor status unavailable (${state.statusError})` : "");

  const seen = new Set();
  for (const path of paths.value.sort((a, b) => a.name.localeCompare(b.name))) {
    seen.add(path.name);
    const tile = tiles.get(path.name) || createTile(path.name);
    wall.appendChild(tile.element); // keeps the sorted order
    render(tile, path, cameras.get(path.name), now);
  }
  for (const [name, tile] of tiles) {
    if (!seen.has(name)) {
      stopVideo(tile);
      tile.element.remove();
      tiles.delete(name);
    }
  }
  const live = paths.value.filter(isLive).length;
  summary.textContent = paths.value.length
    ? `${live} of ${paths.value.length} cameras live`
    : "no cameras configured in MediaMTX";
  if (state.truncated) summary.textContent += ` (first ${limits.MAX_PAGES} pages only)`;
}

async function loop() {
  try {
    await poll();
  } catch (error) {
    showBanner(`viewer error: ${error.message}`);
  }
  setTimeout(loop, POLL_MS);
}

loop();
