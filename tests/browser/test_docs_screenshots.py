"""The workspace after a real run at a laptop's, a small laptop's and a phone's width: the pictures in docs/.

Every run checks the three layouts and saves them under artifacts/screenshots/; with KATA_DOCS_SCREENSHOTS=1 they
are written to docs/ as well (docs/workspace-1440.png, -1100.png, -390.png), which is how those files are made."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from playwright.async_api import Page, expect

from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess, node_selector
from tests.personas import PASSWORD, make_persona

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "kata.json"
DOCS = Path(__file__).resolve().parents[2] / "docs"
RUN_TIMEOUT_MS = 240_000


class DocsScreenshotTests(BrowserTestCase):
    ProtocolServerProcess = DevelopmentDaphneProcess

    def setUp(self) -> None:
        make_persona("learner")
        kata_load_fixture(path=FIXTURE)

    async def _save(self, page: Page, name: str) -> None:
        path = await self.screenshot(page, name)
        if os.environ.get("KATA_DOCS_SCREENSHOTS") == "1":
            shutil.copyfile(path, DOCS / f"{name}.png")

    async def _no_sideways_scroll(self, page: Page) -> None:
        # The charts follow a resize a moment later (Plotly's own debounce): wait for the page to settle.
        await page.wait_for_function(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth", timeout=30_000)

    async def test_the_workspace_after_a_run_at_1440_1100_and_390_px(self) -> None:
        design = json.loads((FIXTURE.parent / "designs" / "reference.json").read_text())
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await page.evaluate("(design) => window.KataEditor.setDesign(design)", design)
            await page.click("#run")
            await expect(page.locator('[data-testid="grade-score"]')).to_have_text("5/5", timeout=RUN_TIMEOUT_MS)
            await page.wait_for_function(
                "() => document.getElementById('chart-utilization').data[0].x.length > 0", timeout=RUN_TIMEOUT_MS)
            await page.click(f"{node_selector('queue')} .node__body")
            await expect(page.locator('#inspector [data-testid="part-figures"]')).to_be_visible()
            await self._save(page, "workspace-1440")

            await page.set_viewport_size({"width": 1100, "height": 900})
            await page.click("#zoom-fit")
            canvas = await page.locator("#canvas").bounding_box()
            inspector = await page.locator("#inspector").bounding_box()
            assert canvas is not None and inspector is not None
            assert inspector["x"] >= canvas["x"] + canvas["width"]
            await self._no_sideways_scroll(page)
            await self._save(page, "workspace-1100")

            await page.set_viewport_size({"width": 390, "height": 844})
            await expect(page.locator('[data-testid="narrow-note"]')).to_be_visible()
            await expect(page.locator('[data-testid="grade-score"]')).to_be_visible()
            # Plotly redraws its charts to the narrower width a moment after the resize.
            await page.wait_for_function(
                "() => document.getElementById('chart-accept').getBoundingClientRect().width <= 390")
            await self._no_sideways_scroll(page)
            await self._save(page, "workspace-390")
