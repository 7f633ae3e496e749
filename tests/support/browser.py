"""Headless Debian Chromium driven through chromedriver's W3C HTTP API (no extra deps):
the viewer's tests and the demo's look at the page a person would see."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from support.processes import free_port, require_binary, running, wait_until


class Browser:
    """Headless Debian Chromium driven through chromedriver's W3C HTTP API (no extra deps)."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,800",
    )

    def __init__(self, driver_url: str, profile: Path) -> None:
        self.client = httpx.Client(base_url=driver_url, timeout=60)
        options = {
            "binary": "/usr/bin/chromium",
            "args": [*self.FLAGS, f"--user-data-dir={profile}"],
        }
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        reply = self.client.post("/session", json={"capabilities": capabilities})
        reply.raise_for_status()
        self.session = f"/session/{reply.json()['value']['sessionId']}"

    def _call(self, method: str, path: str, payload: dict[str, object] | None = None) -> Any:
        """The reply's ``value``: a JSON document, so ``Any``."""
        reply = self.client.request(method, f"{self.session}{path}", json=payload)
        body = reply.json()
        if reply.status_code != 200:
            raise AssertionError(f"webdriver {path}: {body['value']}")
        return body["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def script(self, source: str, *args: object) -> Any:
        """The script's return value as webdriver serialises it (a JSON document)."""
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def cdp(self, command: str, params: dict[str, object] | None = None) -> Any:
        """A Chrome DevTools Protocol command through chromedriver."""
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def basic_auth(self, user: str, password: str) -> None:
        """Send HTTP Basic credentials with every request from now on, as a person would
        after typing them into the browser's prompt (headless Chromium has no prompt, and a
        page whose URL carries credentials cannot fetch() relative URLs)."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.cdp("Network.enable")
        self.cdp("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})

    def click(self, css: str) -> None:
        """A real (trusted) click through WebDriver, as fullscreen needs a user gesture."""
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        element = next(iter(dict(found).values()))
        self._call("POST", f"/element/{element}/click", {})

    def set_window(self, width: int, height: int) -> None:
        """The window's outer size (a phone's width for layout tests)."""
        self._call("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, target: Path) -> None:
        target.write_bytes(base64.b64decode(str(self._call("GET", "/screenshot"))))

    def close(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            self.client.delete(self.session)
        self.client.close()


@contextlib.contextmanager
def browser(tmp_path: Path) -> Iterator[Browser]:
    driver = require_binary("chromedriver")
    port = free_port()
    with running([driver, f"--port={port}"], log_path=tmp_path / "chromedriver.log"):
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: httpx.get(f"{url}/status").json()["value"]["ready"], 20, what="chromedriver"
        )
        session = Browser(url, tmp_path / "chromium-profile")
        try:
            yield session
        finally:
            session.close()
