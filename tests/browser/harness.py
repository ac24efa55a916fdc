"""Real-browser tests: Playwright's async API driving Debian's Chromium against a live Daphne server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from playwright.async_api import Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.mark.browser
class BrowserTestCase(ChannelsLiveServerTestCase):
    serve_static = True

    @contextlib.asynccontextmanager
    async def page(self, *, width: int = 1280, height: int = 800) -> AsyncIterator[Page]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": width, "height": height})
                page = await context.new_page()
                page.set_default_timeout(15_000)
                yield page
            finally:
                await browser.close()

    async def screenshot(self, page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    async def log_in(self, page: Page, username: str, password: str) -> None:
        await page.goto(f"{self.live_server_url}/accounts/login/")
        await page.fill("#id_username", username)
        await page.fill("#id_password", password)
        await page.click("button[type=submit]")
        await page.wait_for_selector('[data-testid="current-user"]')
