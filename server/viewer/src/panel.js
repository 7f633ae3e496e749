// The per-camera control panel of the viewer, built from what the agent advertises and
// the monitor relays (docs/monitor.md, "Camera control API"):
//   GET  api/cameras/<id>/controls  {camera, online, control_enabled, controls, events}
//   POST api/cameras/<id>/settings  {control, value}
//   POST api/cameras/<id>/actions   {action: picture|record|stop, seconds}
// POSTs carry `X-Trashmon-Control: 1` (a header a cross-site form cannot send). The panel
// stays hidden unless the monitor says control is enabled. Names, labels and messages
// are text (textContent), never HTML; lists are cut to limits.js' bounds.
"use strict";

(function () {
  const limits = window.trashmonitorLimits;
  const TYPES = ["int", "bool", "menu", "button"];
  const ANSWERS = {
    202: "sent; the agent's answer appears under events",
    403: "refused: control is off for this server",
    409: "refused: the agent is offline",
    413: "refused: request too large",
    429: "too many requests: wait a moment",
  };
  let panelCount = 0;

  function make(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function isName(value) {
    return typeof value === "string" && value.length > 0 && value.length <= 64 &&
      // eslint-disable-next-line no-control-regex
      !/[\u0000-\u001f\u007f]/.test(value);
  }

  function finite(value) {
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  }

  // The controls document with anything malformed left out and every list bounded.
  function validControls(document) {
    const raw = document && Array.isArray(document.controls) ? document.controls : [];
    return raw
      .filter((c) => c && isName(c.name) && TYPES.includes(c.type))
      .slice(0, limits.MAX_CONTROLS)
      .map((c) => ({
        name: c.name,
        type: c.type,
        min: finite(c.min),
        max: finite(c.max),
        step: finite(c.step),
        value: finite(c.value),
        inactive: c.inactive === true,
        autoPair: isName(c.auto_pair) ? c.auto_pair : null,
        menu: (Array.isArray(c.menu) ? c.menu : [])
          .filter((m) => m && Number.isInteger(m.index))
          .slice(0, limits.MAX_MENU_ITEMS)
          .map((m) => ({ index: m.index, label: limits.clip(m.label ?? m.index) })),
      }));
  }

  function validEvents(document) {
    const raw = document && Array.isArray(document.events) ? document.events : [];
    return raw.filter((e) => e && typeof e === "object").slice(-limits.MAX_EVENTS);
  }

  // An auto control is "on" unless it holds its manual value (a bool 0, or the menu
  // entry labelled manual, as V4L2's exposure_auto "Manual Mode").
  function manualIndex(auto) {
    const item = auto.menu.find((m) => /manual/i.test(m.label));
    return item ? item.index : 0;
  }
  function isAutoOn(auto) {
    return auto.type === "menu" ? auto.value !== manualIndex(auto) : Boolean(auto.value);
  }
  function autoValue(auto, on) {
    if (auto.type !== "menu") return on ? 1 : 0;
    const manual = manualIndex(auto);
    const other = auto.menu.find((m) => m.index !== manual);
    return on ? (other ? other.index : manual) : manual;
  }

  function attach(tile) {
    const button = tile.element.querySelector(".open-panel");
    const section = tile.element.querySelector(".panel");
    panelCount += 1;
    section.id = `panel-${panelCount}`;
    section.setAttribute("aria-label", `${tile.name} controls`);
    button.setAttribute("aria-controls", section.id);
    button.setAttribute("aria-label", `${tile.name}: controls`);
    tile.panel = { open: false, enabled: false, shape: null, events: null, button, section };
    button.addEventListener("click", () => toggle(tile));
  }

  async function toggle(tile) {
    const panel = tile.panel;
    panel.open = !panel.open;
    panel.button.setAttribute("aria-expanded", String(panel.open));
    panel.section.hidden = !panel.open;
    if (panel.open) await load(tile);
  }

  async function load(tile) {
    const url = limits.cameraURL(tile.name, "controls");
    if (!url) return;
    let document = null;
    try {
      const response = await limits.fetchWithTimeout(url, { cache: "no-store" });
      if (response.ok) document = await response.json();
    } catch {
      document = null; // the route is not there (yet) or the monitor is away: no panel
    }
    const panel = tile.panel;
    panel.enabled = Boolean(document && document.control_enabled === true);
    panel.button.hidden = !panel.enabled;
    if (!panel.enabled) {
      panel.open = false;
      panel.section.hidden = true;
      panel.button.setAttribute("aria-expanded", "false");
      return;
    }
    if (panel.open) render(tile, document);
  }

  // Open panels are refreshed every poll (their events list is live); a few closed
  // ones are asked whether control is enabled, each at most once a minute.
  async function refresh(tiles, now) {
    const open = tiles.filter((t) => t.panel.open);
    const due = tiles
      .filter((t) => !t.panel.open && now - t.controlsProbedAt >= limits.CONTROL_PROBE_EVERY_MS)
      .slice(0, limits.CONTROL_PROBES_PER_POLL);
    for (const tile of due) tile.controlsProbedAt = now;
    await Promise.allSettled([...open, ...due].map(load));
  }

  function render(tile, document) {
    const panel = tile.panel;
    const controls = validControls(document);
    const shape = JSON.stringify(controls.map((c) => [c.name, c.type, c.min, c.max, c.menu]));
    if (shape !== panel.shape) build(tile, controls);
    panel.shape = shape;
    update(tile, controls, document.online === true);
    const events = validEvents(document);
    const key = JSON.stringify(events);
    if (key !== panel.events) showEvents(tile, events);
    panel.events = key;
  }

  function build(tile, controls) {
    const section = tile.panel.section;
    section.replaceChildren();
    section.append(make("h3", "", "controls"));
    section.append(make("p", "offline-note", "agent offline: commands are refused"));
    const result = make("p", "panel-result");
    result.setAttribute("role", "status");
    section.append(result);

    const autos = new Set(controls.map((c) => c.autoPair).filter(Boolean));
    const list = make("div", "controls");
    for (const control of controls) {
      if (autos.has(control.name)) continue; // shown as the toggle of its manual control
      const auto = controls.find((c) => c.name === control.autoPair) || null;
      list.append(controlRow(tile, control, auto));
    }
    section.append(list);
    section.append(actionRow(tile));
    section.append(make("h3", "", "events"));
    const events = make("ol", "events");
    events.setAttribute("aria-live", "polite");
    section.append(events);
  }

  function controlRow(tile, control, auto) {
    const row = make("div", "control");
    row.dataset.control = control.name;
    row.dataset.type = control.type;
    const label = make("label", "", control.name);
    let input;
    if (control.type === "button") {
      input = make("button", "press", control.name);
      input.type = "button";
      input.addEventListener("click", () => setting(tile, control.name, 1));
      row.append(input);
    } else {
      if (control.type === "bool") {
        input = make("input");
        input.type = "checkbox";
        input.addEventListener("change", () => setting(tile, control.name, input.checked ? 1 : 0));
      } else if (control.type === "menu") {
        input = make("select");
        for (const item of control.menu) {
          const option = make("option", "", item.label);
          option.value = String(item.index);
          input.append(option);
        }
        input.addEventListener("change", () => setting(tile, control.name, Number(input.value)));
      } else {
        input = make("input");
        input.type = "number";
        if (control.min !== null) input.min = String(control.min);
        if (control.max !== null) input.max = String(control.max);
        if (control.step !== null) input.step = String(control.step);
        input.addEventListener("change", () => {
          const value = Number(input.value);
          if (input.value !== "" && Number.isInteger(value)) setting(tile, control.name, value);
        });
      }
      input.className = "value";
      label.append(input);
      row.append(label);
    }
    if (auto) {
      const toggle = make("label", "auto-toggle", "auto");
      const box = make("input", "auto");
      box.type = "checkbox";
      box.setAttribute("aria-label", `${control.name}: automatic (${auto.name})`);
      box.addEventListener("change", () => setting(tile, auto.name, autoValue(auto, box.checked)));
      toggle.prepend(box);
      row.append(toggle);
    }
    return row;
  }

  function actionRow(tile) {
    const row = make("div", "actions");
    const picture = make("button", "picture", "take picture");
    picture.type = "button";
    picture.addEventListener("click", () => action(tile, { action: "picture" }));
    const seconds = make("input", "seconds");
    seconds.type = "number";
    seconds.min = "1";
    seconds.max = String(limits.RECORD_MAX_S);
    seconds.value = "10";
    const secondsLabel = make("label", "", "seconds");
    secondsLabel.prepend(seconds);
    const record = make("button", "record", "record");
    record.type = "button";
    record.addEventListener("click", () => {
      const n = limits.recordSeconds(seconds.value);
      if (n === null) showResult(tile, `record: 1 to ${limits.RECORD_MAX_S} seconds`);
      else action(tile, { action: "record", seconds: n });
    });
    const stop = make("button", "stop", "stop");
    stop.type = "button";
    stop.addEventListener("click", () => action(tile, { action: "stop" }));
    row.append(picture, record, secondsLabel, stop);
    return row;
  }

  // Current values in; an input being edited (focused) is left alone.
  function update(tile, controls, online) {
    const section = tile.panel.section;
    section.dataset.online = String(online);
    const byName = new Map(controls.map((c) => [c.name, c]));
    for (const row of section.querySelectorAll(".control")) {
      const control = byName.get(row.dataset.control);
      const input = row.querySelector(".value, .press");
      const box = row.querySelector("input.auto");
      const auto = control && control.autoPair ? byName.get(control.autoPair) : null;
      const automatic = Boolean(auto && isAutoOn(auto));
      if (box && document.activeElement !== box) box.checked = automatic;
      if (!control || !input) continue;
      input.disabled = !online || control.inactive || automatic;
      if (document.activeElement === input || control.value === null) continue;
      if (control.type === "bool") input.checked = Boolean(control.value);
      else if (control.type !== "button") input.value = String(control.value);
    }
    for (const button of section.querySelectorAll(".actions button")) button.disabled = !online;
  }

  function showEvents(tile, events) {
    const list = tile.panel.section.querySelector(".events");
    list.replaceChildren();
    for (const event of [...events].reverse()) {
      const item = make("li", event.ok === false ? "failed" : "succeeded");
      const at = finite(event.ts);
      const time = make("time", "", at === null ? "" : new Date(at * 1000).toLocaleTimeString());
      if (at !== null) time.dateTime = new Date(at * 1000).toISOString();
      item.append(time, make("span", "outcome", event.ok === false ? "error" : "ok"));
      item.append(make("span", "message", limits.clip(event.message)));
      if (typeof event.file === "string" && event.file) {
        item.append(make("span", "file", limits.clip(event.file)));
      }
      list.append(item);
    }
  }

  function showResult(tile, text) {
    const result = tile.panel.section.querySelector(".panel-result");
    if (result) result.textContent = text;
  }

  async function post(tile, route, body) {
    const url = limits.cameraURL(tile.name, route);
    if (!url) return null;
    showResult(tile, "sending…");
    try {
      const response = await limits.fetchWithTimeout(url, {
        method: "POST",
        cache: "no-store",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Trashmon-Control": "1" },
        body: JSON.stringify(body),
      });
      let text = ANSWERS[response.status] || `refused: HTTP ${response.status}`;
      if (response.status === 400) {
        const answer = await response.json().catch(() => ({}));
        text = `refused: ${limits.clip(answer.error || "bad request")}`;
      }
      showResult(tile, text);
      return response.status;
    } catch (error) {
      showResult(tile, `not sent: ${error.message}`);
      return null;
    }
  }

  function setting(tile, control, value) {
    return post(tile, "settings", { control, value });
  }

  async function action(tile, body) {
    const status = await post(tile, "actions", body);
    // The new picture reaches the monitor a moment later: look for it for a while.
    if (status === 202 && body.action === "picture") tile.refreshSnapshot();
  }

  window.trashmonitorPanel = { attach, refresh };
})();
