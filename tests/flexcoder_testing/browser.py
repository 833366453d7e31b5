"""A real browser for tests: Debian's Chromium, headless, renders a page (JavaScript included) and returns its DOM as
text, or saves a screenshot. Each call starts a fresh profile, as a first-time user's browser would be."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(url: str, expect: str | None = None, screenshot: Path | None = None, tries: int = 3) -> str:
    """The page's text once its scripts have run, with tags, scripts and styles removed and whitespace collapsed.
    `expect`: a string the page shows once loaded; the page is loaded again, with more time, until it does."""
    budget = 20_000
    text = ""
    for _ in range(tries):
        with tempfile.TemporaryDirectory() as profile:
            args = [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget}",
                "--window-size=1600,1000",
            ]
            dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=300).stdout
            text = page_text(dom)
            if screenshot is not None:
                subprocess.run([*args, f"--screenshot={screenshot}", url], capture_output=True, timeout=300)
        if expect is None or expect in text:
            return text
        budget *= 2
    return text


def page_text(dom: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()
