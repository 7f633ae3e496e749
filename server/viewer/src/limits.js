// Bounds of the viewer, as pure functions: loaded by index.html before viewer.js, and by
// node in tests/server/test_viewer_limits.py. The page polls whatever answers on its own
// origin, so nothing it reads may make it poll faster, fetch without end, hang, or build
// a URL that leaves the path it names.
"use strict";

(function (root) {
  const limits = {
    POLL_DEFAULT_S: 5,
    POLL_MIN_S: 1,
    POLL_MAX_S: 300,
    // 50 pages of 100 paths: far above any camera wall, and a bound on one poll's fetches.
    MAX_PAGES: 50,
    FETCH_TIMEOUT_MS: 10000,
    MAX_NAME_LENGTH: 256,

    // `?interval=N` in seconds, clamped; anything that is not a number is the default.
    pollIntervalMs(raw) {
      const seconds = raw === null || raw === undefined || raw === "" ? NaN : Number(raw);
      if (!Number.isFinite(seconds)) return limits.POLL_DEFAULT_S * 1000;
      return Math.min(limits.POLL_MAX_S, Math.max(limits.POLL_MIN_S, seconds)) * 1000;
    },

    // How many pages to read when the API says `pageCount`: at least one, at most MAX_PAGES.
    pagesToRead(pageCount) {
      const count = Number.isInteger(pageCount) ? pageCount : 1;
      return Math.min(limits.MAX_PAGES, Math.max(1, count));
    },

    // A MediaMTX path name the viewer shows: a string of non-empty segments, none of
    // them "." or "..", no control characters, not absurdly long.
    isShowableName(name) {
      if (typeof name !== "string" || !name || name.length > limits.MAX_NAME_LENGTH) {
        return false;
      }
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f\\]/.test(name)) return false;
      return name.split("/").every((segment) => segment && segment !== "." && segment !== "..");
    },

    // The HLS playlist of a showable name, each segment percent-encoded; null otherwise.
    playlistURL(name) {
      if (!limits.isShowableName(name)) return null;
      return `${name.split("/").map(encodeURIComponent).join("/")}/index.m3u8`;
    },

    // A monitor route of one camera (`api/cameras/<id>/<leaf>`): the id is ONE
    // percent-encoded segment, so no name can reach another route; null otherwise.
    cameraURL(name, leaf) {
      if (!limits.isShowableName(name) || !limits.CAMERA_ROUTES.includes(leaf)) return null;
      return `api/cameras/${encodeURIComponent(name)}/${leaf}`;
    },
    CAMERA_ROUTES: ["controls", "snapshot", "settings", "actions"],

    // The panel shows at most this much of what the monitor relays from an agent.
    MAX_CONTROLS: 64,
    MAX_MENU_ITEMS: 64,
    MAX_EVENTS: 20,
    MAX_TEXT: 300,
    // Control documents fetched per poll for cameras whose panel is closed (to learn
    // whether control is enabled): one poll never fans out to every camera.
    CONTROL_PROBES_PER_POLL: 4,
    CONTROL_PROBE_EVERY_MS: 60000,
    SNAPSHOT_EVERY_MS: 30000,
    SNAPSHOT_BURST_MS: 20000,
    RECORD_MAX_S: 3600,
    // Incidents: one request for every camera (newest first), a few shown per tile.
    INCIDENTS_LIMIT: 200,
    INCIDENTS_PER_TILE: 3,
    INCIDENTS_EVERY_MS: 30000,

    // Text from outside, shortened for display (never parsed as HTML by the caller).
    clip(text) {
      const value = typeof text === "string" ? text : String(text ?? "");
      return value.length > limits.MAX_TEXT ? `${value.slice(0, limits.MAX_TEXT)}…` : value;
    },

    // Seconds to record: an integer in 1..RECORD_MAX_S, or null.
    recordSeconds(raw) {
      const seconds = Number(raw);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > limits.RECORD_MAX_S) return null;
      return seconds;
    },

    // fetch() that gives up after FETCH_TIMEOUT_MS (a server that never answers would
    // otherwise stop the polling loop for good).
    async fetchWithTimeout(url, options, timeoutMs) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs ?? limits.FETCH_TIMEOUT_MS);
      try {
        return await fetch(url, { ...options, signal: controller.signal });
      } catch (error) {
        if (controller.signal.aborted) throw new Error("timed out");
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  };

  root.trashmonitorLimits = limits;
  if (typeof module === "object" && module.exports) module.exports = limits;
})(typeof globalThis === "object" ? globalThis : this);
