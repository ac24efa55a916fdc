"""A learner tries ClearPay's practice brown-out from the workspace's What if… panel, in development mode: the run
streams live with the incident drawn as a band on the charts, and it is labelled not graded on the page, on its
attempt and in the history. With KATA_DOCS_SCREENSHOTS=1 the page is saved to docs/incident-brownout.png."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from playwright.async_api import expect

from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess
from tests.personas import PASSWORD, make_persona

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "kata.json"
DOCS = Path(__file__).resolve().parents[2] / "docs"
RUN_TIMEOUT_MS = 240_000


class WhatIfBrowserTests(BrowserTestCase):
    ProtocolServerProcess = DevelopmentDaphneProcess

    def setUp(self) -> None:
        make_persona("learner")
        kata_load_fixture(path=FIXTURE)

    async def test_a_learner_tries_the_gateway_brownout_and_sees_its_band_and_not_graded(self) -> None:
        design = json.loads((FIXTURE.parent / "designs" / "reference.json").read_text())
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await page.evaluate("(design) => window.KataEditor.setDesign(design)", design)
            await page.click('[data-testid="what-if"] summary')
            await page.click('[data-testid="try-practice-6"]')
            # It streams like any run, labelled as a what-if from its first frame.
            await expect(page.locator('#run-panel [data-testid="run-not-graded"]')).to_be_visible(timeout=60_000)
            await page.wait_for_function(
                "() => Number(document.getElementById('run-panel').dataset.frames) >= 3", timeout=RUN_TIMEOUT_MS)
            band = await page.evaluate(
                "() => document.getElementById('chart-accept').layout.shapes.filter((s) => s.type === 'rect')"
                ".map((s) => [s.x0, s.x1])")
            assert band == [[300, 420]], band
            await expect(page.locator("#chart-accept .shapelayer path")).not_to_have_count(0)
            # The verdicts come as "would pass / would fail", under a not-graded heading: the practice scenario held.
            grade = page.locator('#grade [data-testid="not-graded"]')
            await expect(grade).to_be_visible(timeout=RUN_TIMEOUT_MS)
            await expect(page.locator('#grade [data-testid="scenario-6"]')).to_have_attribute("data-passed", "true")
            await expect(page.locator('#grade [data-testid="incident-0"]')).to_contain_text("brown-out")
            await expect(page.locator('[data-testid="grade-score"]')).to_have_count(0)
            await page.wait_for_function(
                "() => document.getElementById('chart-accept').data[0].x.length > 0", timeout=RUN_TIMEOUT_MS)
            path = await self.screenshot(page, "incident-brownout")
            if os.environ.get("KATA_DOCS_SCREENSHOTS") == "1":
                shutil.copyfile(path, DOCS / "incident-brownout.png")
            # Its attempt and the history say so too.
            await page.goto(f"{self.live_server_url}/katas/clearpay/attempts/")
            await expect(page.locator('[data-testid^="what-ifs-"]')).to_contain_text("not graded")
            await page.click('[data-testid="history"] tbody tr a >> nth=0')
            await expect(page.locator('[data-testid^="run-not-graded-"]')).to_have_text("what-if · not graded")
