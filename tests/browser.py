"""Debian's chromium driven by Playwright, offline: the launch every browser test uses."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")


@dataclass
class Page:
    page: Any
    errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15: CSS pixels


@contextmanager
def browser_page(
    allowed: tuple[str, ...] = ("file://", "http://127.0.0.1"),
    *,
    width: int = DESKTOP["width"],
) -> Iterator[Page]:
    """A page whose console errors are collected and whose requests may only go to
    *allowed* prefixes (anything else is aborted and recorded). At a phone's *width* the
    page is a mobile one (touch, the page's viewport meta honoured)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    phone = width <= PHONE["width"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            if phone:
                context = browser.new_context(
                    viewport={"width": width, "height": PHONE["height"]},
                    is_mobile=True,
                    has_touch=True,
                )
            else:
                context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            # A page may run the why analysis first: on a busy 2-core machine that is slow.
            page.set_default_navigation_timeout(240_000)
            out = Page(page)
            page.on("console", lambda m: out.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: out.errors.append(str(e)))

            def route(r: Any) -> None:
                if r.request.url.startswith(allowed) or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    out.offsite.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            yield out
        finally:
            browser.close()


def chart_traces(page: Any, chart: str) -> int:
    """Rendered traces in a plotly chart (0 if it did not render)."""
    page.wait_for_selector(f"#chart-{chart} .main-svg")
    return int(
        page.evaluate(
            f"document.getElementById('chart-{chart}').querySelectorAll("
            f"'.scatterlayer .trace, .barlayer .trace').length"
        )
    )


def have_chromium() -> bool:
    return shutil.which(CHROMIUM) is not None
