// trashmonitor viewer: one tile per camera the monitor knows, polled from the same origin.
//   /status                     the monitor's /api/status: cameras, states, reasons, agents
//   /api/v3/paths/list          MediaMTX API through Caddy (every page): live video, uptime
//   /api/cameras/<id>/snapshot  the agent's latest picture, relayed by the monitor
//   /api/cameras/<id>/controls  the control panel (panel.js), when control is enabled
//   /api/incidents?limit=N      the monitor's incident history: each tile's last incidents
//   /<path>/index.m3u8          HLS through Caddy, played with hls.js (vendored, no CDN)
// The monitor's list and MediaMTX's are merged: either one alone still gives tiles, and
// an outage of one is a banner over tiles that stay. Plain DOM, no framework; every
// name and message from outside goes in as textContent, never as HTML.
"use strict";

const limits = window.trashmonitorLimits; // limits.js: clamps, caps and timeouts
const panels = window.trashmonitorPanel; // panel.js: the per-camera control panel
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
const STATES = ["ok", "degraded", "down", "parked"];
const SEVERITY = { down: 0, degraded: 1, ok: 2, parked: 3, "": 4 };
const FILTERS = {
  all: () => true,
  ok: (s) => s === "ok",
  degraded: (s) => s === "degraded",
  down: (s) => s === "down",
  parked: (s) => s === "parked",
  problems: (s) => s === "degraded" || s === "down",
};

const wall = document.getElementById("wall");
const banner = document.getElementById("banner");
const monitorBanner = document.getElementById("monitor-banner");
const announcer = document.getElementById("announcer");
const summary = document.getElementById("summary");
const filterSelect = document.getElementById("filter");
const sortSelect = document.getElementById("sort");
const template = document.getElementById("tile-template");
// name -> {element, hls, lastBytes, lastAt, state, changedAt, snapshotAt, ...}
const tiles = new Map();

// Exposed for the browser tests and for curious operators in the console.
window.trashmonitorViewer = {
  polls: 0,
  apiError: null,
  statusError: null,
  pollMs: POLL_MS,
  truncated: false,
  ignoredNames: 0,
  announcements: [],
};

function chosen(select, raw, allowed) {
  select.value = allowed.includes(raw) ? raw : select.options[0].value;
  return select.value;
}
let filter = chosen(filterSelect, params.get("state"), Object.keys(FILTERS));
let sortKey = chosen(sortSelect, params.get("sort"), ["name", "state", "changed"]);

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
  return items.filter((item) => item && typeof item === "object");
}

// `online` (v1.16+) means a real publisher; older MediaMTX only has `ready`.
function isLive(path) {
  if (!path) return false;
  return typeof path.online === "boolean" ? path.online : Boolean(path.ready);
}

function codecText(path, camera) {
  const tracks = path && Array.isArray(path.tracks2) ? path.tracks2 : null;
  const track = (tracks || []).find((t) => t && t.codecProps && t.codecProps.width);
  if (track) return `${track.codec} ${track.codecProps.width}×${track.codecProps.height}`;
  if (camera && camera.codec) return [camera.codec, camera.resolution].filter(Boolean).join(" ");
  const names = tracks ? tracks.map((t) => t && t.codec) : (path && path.tracks) || [];
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

// The agent's stream states in words (docs/contracts.md, `trashcam/<id>/state`).
const STREAM_STATES = {
  starting: "starting",
  backoff: "not publishing, retrying",
  stalled: "stalled",
  device_missing: "camera missing",
  stopped: "stopped",
};

// The agent's fps against its target, and its stream state unless it is streaming.
function fpsText(agent) {
  if (!agent) return "–";
  const fps = typeof agent.fps === "number" ? agent.fps.toFixed(1) : "–";
  const target = typeof agent.target_fps === "number" ? ` / ${agent.target_fps}` : "";
  const stream = typeof agent.stream_state === "string" ? agent.stream_state : "";
  const words = Object.hasOwn(STREAM_STATES, stream) ? STREAM_STATES[stream] : limits.clip(stream);
  const note = stream && stream !== "streaming" ? ` (${words})` : "";
  return `${fps}${target}${note}`;
}

function reasonsText(camera) {
  const reasons = camera && Array.isArray(camera.reasons) ? camera.reasons : [];
  return reasons.map((r) => REASONS[r] || limits.clip(r)).join(" · ");
}

// Quality grade and 24 h availability from /status (issue 16 §3; null until known).
function qualityText(camera) {
  const grade = camera && camera.quality && camera.quality.grade;
  return typeof grade === "string" ? limits.clip(grade) : "–";
}

function availabilityText(camera) {
  const ratio = camera && camera.availability && camera.availability["1d"];
  return typeof ratio === "number" && ratio >= 0 && ratio <= 1
    ? `${(ratio * 100).toFixed(2)} %` : "–";
}

function clockText(epochSeconds) {
  const at = new Date(epochSeconds * 1000);
  if (!Number.isFinite(at.getTime())) return "–";
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ` +
    `${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

// One line per incident: start, duration or "ongoing", cause in words.
function incidentText(incident) {
  const lasted = incident.ongoing ? "ongoing" : duration(Number(incident.duration_seconds));
  const cause = reasonsText(incident) || "cause not recorded";
  return `${clockText(Number(incident.start))} · ${lasted} · ${cause}`;
}

function showIncidents(tile, incidents) {
  const list = tile.element.querySelector(".incidents");
  const lines = (incidents || []).slice(0, limits.INCIDENTS_PER_TILE).map(incidentText);
  if (lines.length === 0) lines.push("none recorded");
  const shown = [...list.children].map((item) => item.textContent);
  if (shown.join("\n") === lines.join("\n")) return;
  list.replaceChildren(...lines.map((line) => {
    const item = document.createElement("li");
    item.textContent = line;
    return item;
  }));
}

// The history is asked at most every INCIDENTS_EVERY_MS, and at once when a state
// changed; one bounded request for every camera, newest first.
let incidentsAt = -Infinity;
let incidentsStates = "";
async function refreshIncidents(now) {
  const states = [...tiles.values()].map((t) => `${t.name}=${t.state}`).join(",");
  if (now - incidentsAt < limits.INCIDENTS_EVERY_MS && states === incidentsStates) return;
  incidentsAt = now;
  incidentsStates = states;
  let answer;
  try {
    answer = await getJSON(`api/incidents?limit=${limits.INCIDENTS_LIMIT}`);
  } catch (error) {
    window.trashmonitorViewer.incidentsError = String(error.message);
    return;
  }
  window.trashmonitorViewer.incidentsError = null;
  const byCamera = new Map();
  for (const incident of Array.isArray(answer.incidents) ? answer.incidents : []) {
    if (!incident || typeof incident.camera !== "string") continue;
    if (!byCamera.has(incident.camera)) byCamera.set(incident.camera, []);
    byCamera.get(incident.camera).push(incident);
  }
  for (const tile of tiles.values()) showIncidents(tile, byCamera.get(tile.name));
}

function createTile(name) {
  const element = template.content.firstElementChild.cloneNode(true);
  element.dataset.path = name;
  const heading = element.querySelector(".name");
  heading.textContent = name;
  heading.id = `tile-${tiles.size}-${Date.now()}`;
  element.setAttribute("aria-labelledby", heading.id);
  const fullscreen = element.querySelector(".fullscreen");
  fullscreen.setAttribute("aria-label", `${name}: fullscreen`);
  fullscreen.addEventListener("click", () => toggleFullscreen(element));
  element.querySelector(".screen").addEventListener("dblclick", () => toggleFullscreen(element));
  const thumbnail = element.querySelector(".thumbnail");
  thumbnail.alt = `latest picture of ${name}`;
  thumbnail.addEventListener("load", () => { thumbnail.hidden = false; });
  thumbnail.addEventListener("error", () => { thumbnail.hidden = true; });
  const tile = {
    name, element, hls: null, lastBytes: null, lastAt: null,
    state: null, changedAt: null, snapshotAt: 0, controlsProbedAt: 0,
  };
  // After "take picture": reload the thumbnail every poll until the new one can be there.
  tile.refreshSnapshot = () => {
    tile.snapshotAt = 0;
    tile.snapshotBurstUntil = Date.now() + limits.SNAPSHOT_BURST_MS;
  };
  panels.attach(tile);
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

// Why there is no live video, in words (null while it plays).
function placeholderText(path, apiDown) {
  if (isLive(path)) return "";
  if (apiDown) return "no live video: MediaMTX unreachable";
  if (!path) return "no live video: not in MediaMTX";
  return path.available ? "placeholder only (no producer)" : "no producer";
}

function announce(text) {
  const state = window.trashmonitorViewer;
  state.announcements = [...state.announcements, text].slice(-limits.MAX_EVENTS);
  announcer.textContent = text;
}

function trackState(tile, camera, now) {
  const state = camera ? String(camera.state) : "";
  if (state === tile.state) return;
  if (tile.state !== null && tile.state !== "" && state !== "") {
    const why = reasonsText(camera);
    announce(`${tile.name}: ${tile.state} → ${state}${why ? ` (${why})` : ""}`);
    tile.changedAt = now;
  } else if (tile.changedAt === null && camera) {
    // First sight: the agent's own last state change is the best known time.
    const at = camera.agent && camera.agent.last_state_at;
    tile.changedAt = typeof at === "number" ? at * 1000 : null;
  }
  tile.state = state;
}

function render(tile, path, camera, now, apiDown) {
  const el = tile.element;
  const live = isLive(path);
  el.dataset.live = String(live);
  el.classList.toggle("stale", apiDown && !camera);
  el.querySelector(".live").textContent = live ? "live" : "no video";
  el.querySelector(".placeholder").textContent = placeholderText(path, apiDown);

  trackState(tile, camera, now);
  const state = camera ? String(camera.state) : "";
  el.dataset.state = STATES.includes(state) ? state : "";
  el.querySelector(".state").textContent = camera ? limits.clip(state) : "no monitor data";
  el.querySelector(".reasons").textContent = reasonsText(camera);
  el.querySelector(".fps").textContent = fpsText(camera && camera.agent);
  el.querySelector(".changed").textContent =
    tile.changedAt === null ? "–" : `${duration((now - tile.changedAt) / 1000)} ago`;

  el.querySelector(".codec").textContent = codecText(path, camera);
  const since = Date.parse((path && (path.onlineTime || path.readyTime)) || "");
  el.querySelector(".uptime").textContent = live && since ? duration((now - since) / 1000) : "–";
  const bytes = path ? path.inboundBytes ?? path.bytesReceived : undefined;
  let rate = camera ? camera.inbound_bytes_per_second : undefined;
  if (typeof bytes === "number" && tile.lastBytes !== null && bytes >= tile.lastBytes) {
    rate = ((bytes - tile.lastBytes) * 1000) / Math.max(1, now - tile.lastAt);
  }
  tile.lastBytes = typeof bytes === "number" ? bytes : null;
  tile.lastAt = now;
  el.querySelector(".bitrate").textContent = live ? bitrate(rate) : "–";
  el.querySelector(".viewers").textContent = path ? String((path.readers || []).length) : "–";
  el.querySelector(".quality").textContent = qualityText(camera);
  el.querySelector(".availability").textContent = availabilityText(camera);

  // The thumbnail stands in for the video: not fetched while the video plays.
  const due = now - tile.snapshotAt >= limits.SNAPSHOT_EVERY_MS;
  if (!live && (due || now < (tile.snapshotBurstUntil || 0))) {
    tile.snapshotAt = now;
    const url = limits.cameraURL(tile.name, "snapshot");
    if (url) el.querySelector(".thumbnail").src = `${url}?at=${now}`;
  }
  if (live) startVideo(tile, tile.name);
  else stopVideo(tile);
}

function showBanner(element, text) {
  element.hidden = !text;
  element.textContent = text || "";
}

function compareTiles(a, b) {
  if (sortKey === "state") {
    const order = (SEVERITY[a.state || ""] ?? 4) - (SEVERITY[b.state || ""] ?? 4);
    if (order) return order;
  } else if (sortKey === "changed") {
    const order = (b.changedAt ?? -Infinity) - (a.changedAt ?? -Infinity);
    if (order) return order;
  }
  return a.name.localeCompare(b.name);
}

// Tiles in the chosen order, hidden by the filter; moved only when the order changed
// (moving a node would take the keyboard focus away from a control inside it).
function arrange() {
  const ordered = [...tiles.values()].sort(compareTiles);
  const keep = FILTERS[filter];
  ordered.forEach((tile) => { tile.element.hidden = !keep(tile.state || ""); });
  const current = [...wall.children];
  if (ordered.some((tile, index) => current[index] !== tile.element)) {
    for (const tile of ordered) wall.appendChild(tile.element);
  }
}

function summarize(apiDown) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const tile of tiles.values()) if (tile.state in counts) counts[tile.state] += 1;
  for (const item of document.querySelectorAll("#counts li")) {
    item.querySelector("b").textContent = String(counts[item.dataset.count]);
  }
  const shown = [...tiles.values()].filter((t) => !t.element.hidden).length;
  const live = [...tiles.values()].filter((t) => t.element.dataset.live === "true").length;
  let text = tiles.size ? `${tiles.size} cameras, ${live} live` : "no cameras known";
  if (apiDown) text = `${tiles.size} cameras, live video unknown`;
  if (shown !== tiles.size) text += `, ${shown} shown`;
  if (window.trashmonitorViewer.truncated) text += ` (first ${limits.MAX_PAGES} pages only)`;
  summary.textContent = text;
}

async function poll() {
  const state = window.trashmonitorViewer;
  const [paths, status] = await Promise.allSettled([listAllPaths(), getJSON("status")]);
  const now = Date.now();
  state.polls += 1;
  state.statusError = status.status === "rejected" ? String(status.reason.message) : null;
  state.apiError = paths.status === "rejected" ? String(paths.reason.message) : null;
  const statusCameras = status.status === "fulfilled" && Array.isArray(status.value.cameras)
    ? status.value.cameras : [];
  const items = paths.status === "fulfilled" ? paths.value : [];

  const cameras = new Map();
  const byPath = new Map();
  let ignored = 0;
  for (const camera of statusCameras) {
    if (camera && limits.isShowableName(camera.name)) cameras.set(camera.name, camera);
    else ignored += 1;
  }
  for (const path of items) {
    if (limits.isShowableName(path.name)) byPath.set(path.name, path);
    else ignored += 1;
  }
  state.ignoredNames = ignored;

  showBanner(banner, state.apiError
    ? `MediaMTX API unreachable (${state.apiError}): no live video; the cameras below are the monitor's view.`
    : "");
  showBanner(monitorBanner, state.statusError
    ? `monitor status unavailable (${state.statusError}): states and reasons unknown.`
    : "");
  if (state.apiError && state.statusError) {
    // Nothing to go on: keep the last tiles, marked as stale.
    for (const tile of tiles.values()) tile.element.classList.add("stale");
    summarize(true);
    return;
  }

  // Without the monitor, MediaMTX's list is the whole list, and the other way round.
  const names = new Set([...cameras.keys(), ...byPath.keys()]);
  if (state.apiError && !cameras.size) for (const name of tiles.keys()) names.add(name);
  for (const name of names) {
    const tile = tiles.get(name) || createTile(name);
    render(tile, byPath.get(name), cameras.get(name), now, Boolean(state.apiError));
  }
  for (const [name, tile] of tiles) {
    if (!names.has(name)) {
      stopVideo(tile);
      tile.element.remove();
      tiles.delete(name);
    }
  }
  arrange();
  summarize(Boolean(state.apiError));
  await refreshIncidents(now);
  await panels.refresh([...tiles.values()], now);
}

filterSelect.addEventListener("change", () => {
  filter = filterSelect.value;
  arrange();
  summarize(Boolean(window.trashmonitorViewer.apiError));
});
sortSelect.addEventListener("change", () => {
  sortKey = sortSelect.value;
  arrange();
});

async function loop() {
  try {
    await poll();
  } catch (error) {
    showBanner(banner, `viewer error: ${error.message}`);
  }
  setTimeout(loop, POLL_MS);
}

loop();
