"""Real-browser tests: Playwright's async API driving Debian's Chromium against a live Daphne server."""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from channels.testing import ChannelsLiveServerTestCase
from daphne.testing import DaphneProcess
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


class SpawnedDaphneProcess(DaphneProcess):
    """The live server in a fresh interpreter rather than a fork of the test process.

    A fork inherits thread pools whose threads it does not have (asgiref's executor for database calls among them),
    so it would hang on its first database query from a socket. The test database's name reaches the new process
    through the environment (see config/settings_test.py).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        spawn = multiprocessing.get_context("spawn")
        self.port = spawn.Value("i", self.port.value)
        self.ready = spawn.Event()
        self.errors = spawn.Queue()

    @staticmethod
    def _Popen(process_obj):  # type: ignore[no-untyped-def]
        from multiprocessing.popen_spawn_posix import Popen  # POSIX-only, as multiprocessing imports it: lazily

        return Popen(process_obj)


def _development_application(get_application: Callable[[], object]) -> object:
    """The application as `make run` serves it: DEBUG on (django-htmx's debug script on the page included)."""
    from django.conf import settings  # the server process's own settings, read once it runs

    settings.DEBUG = True
    return get_application()


class DevelopmentDaphneProcess(SpawnedDaphneProcess):
    """The live server in development mode, as `make run` starts it; the test settings keep DEBUG off otherwise."""

    def __init__(self, host: str, get_application: Callable[[], object], *args: object, **kwargs: object) -> None:
        super().__init__(host, functools.partial(_development_application, get_application), *args, **kwargs)


@pytest.mark.browser
class BrowserTestCase(ChannelsLiveServerTestCase):
    serve_static = True
    ProtocolServerProcess = SpawnedDaphneProcess

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

    # ---- the diagram editor -------------------------------------------------------------------------------
    async def center(self, page: Page, selector: str) -> tuple[float, float]:
        box = await page.locator(selector).bounding_box()
        assert box is not None, selector
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    async def drag_mouse(self, page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
        await page.mouse.move(*start)
        await page.mouse.down()
        await page.mouse.move(*end, steps=8)
        await page.mouse.up()

    async def connect(self, page: Page, source: str, target: str) -> None:
        """Drag from a part's output port onto another part."""
        start = await self.center(page, f"{node_selector(source)} .port--out")
        end = await self.center(page, f"{node_selector(target)} .node__body")
        await self.drag_mouse(page, start, end)

    async def drop_part(self, page: Page, key: str, x: int, y: int) -> None:
        """Drag a part from the palette onto the canvas at (x, y) of the canvas."""
        await page.drag_and_drop(f'.palette-item[data-part="{key}"]', "#canvas", target_position={"x": x, "y": y})


def node_selector(node_id: str) -> str:
    return f'#canvas .node[data-node-id="{node_id}"]'


def edge_selector(source: str, target: str) -> str:
    return f'#canvas path.edge[data-source="{source}"][data-target="{target}"]'
