"""Headless Chromium driven over the DevTools protocol on a pipe (no port, no network).

Chromium is started with ``--remote-debugging-pipe``: it reads protocol
commands on its file descriptor 3 and writes replies and events on 4, each
message a JSON object ended by a NUL byte. That is enough to load a page,
click, read the rendered text and take a screenshot, without a WebDriver or a
websocket client. The network is off three ways: a proxy on a closed loopback
port, the protocol's offline emulation, and every request the page makes is
recorded so a test can assert there were none but the file itself.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Only a guard against a hung browser; no test depends on how fast it answers.
ANSWER_TIMEOUT = 120.0

FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    # Any request that tried to leave the machine would go to a closed port.
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(Exception):
    pass


@dataclass
class Chromium:
    """One running browser; talk to it with :meth:`call`, open pages with :meth:`page`."""

    process: subprocess.Popen[bytes]
    commands: int
    replies: int
    log: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    _buffer: bytes = b""
    _next: int = 0

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self.commands, json.dumps(message).encode() + b"\0")

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            with selectors.DefaultSelector() as sel:
                sel.register(self.replies, selectors.EVENT_READ)
                if not sel.select(ANSWER_TIMEOUT):
                    raise BrowserError(f"chromium did not answer in {ANSWER_TIMEOUT} s; {self._tail()}")
            chunk = os.read(self.replies, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium closed its pipe; {self._tail()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def _tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "stderr ends: " + text[-800:]

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._send(message)
        while True:
            reply = self._receive()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, *, session: str) -> dict[str, Any]:
        """The first event ``method`` of ``session`` not yet consumed."""
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._receive())

    def page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime", "Network"):
            page.call(f"{domain}.enable")
        page.call("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
        })
        page.call("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": False,
        })
        return page


@dataclass
class Page:
    browser: Chromium
    session: str
    target: str

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def open(self, url: str) -> list[str]:
        """Load ``url`` and wait for its load event; returns every URL the page requested."""
        self.browser.events = [e for e in self.browser.events if e.get("sessionId") != self.session]
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot load {url}: {result['errorText']}")
        self.browser.wait_for("Page.loadEventFired", session=self.session)
        return [e["params"]["request"]["url"] for e in self.browser.events
                if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"]

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def text(self) -> str:
        """What a reader sees: the rendered text (closed <details> contribute their summary only)."""
        value = self.evaluate("document.body.innerText")
        assert isinstance(value, str)
        return value

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})


@contextmanager
def chromium(folder: Path) -> Iterator[Chromium]:
    """A headless Chromium with its profile in ``folder``; closed (and reaped) on exit."""
    binary = chromium_path()
    if binary is None:
        raise BrowserError("chromium is not installed")
    to_browser, commands = os.pipe()
    replies, from_browser = os.pipe()
    log = folder / "chromium.log"
    # bash (dash takes one-digit descriptors only) puts our pipe ends on 3 and 4,
    # where Chromium expects them, then becomes Chromium.
    redirect = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
    argv = [shutil.which("bash") or "/bin/bash", "-c", redirect, binary, *FLAGS, "--remote-debugging-pipe",
            f"--user-data-dir={folder / 'profile'}", "about:blank"]
    with log.open("wb") as err:
        process = subprocess.Popen(argv, pass_fds=(to_browser, from_browser), stdin=subprocess.DEVNULL,
                                   stdout=err, stderr=err)
    os.close(to_browser)
    os.close(from_browser)
    browser = Chromium(process, commands, replies, log)
    try:
        yield browser
    finally:
        with suppress(BrowserError, OSError):
            browser.call("Browser.close")
        os.close(commands)
        os.close(replies)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # our own child, by its handle
            process.wait()
