"""In a real browser: a learner opens one payment's waterfall from a failing scenario's link, with its path picked out
on the diagram; and sweeps the settlement workers' count from the workspace and sees the cheapest passing size.

Each saves its picture under artifacts/screenshots/; with KATA_DOCS_SCREENSHOTS=1 also as docs/trace-waterfall.png
and docs/sweep-workers.png (1440 wide)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from playwright.async_api import Page, expect

from kata import services
from kata.models import RunTraces
from kata.runs.execute import run_execute
from kata.runs.seeds import simulate_here
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess
from tests.personas import PASSWORD, make_persona

CLEARPAY = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay"
DOCS = Path(__file__).resolve().parents[2] / "docs"
WAIT_MS = 180_000


async def _save(case: BrowserTestCase, page: Page, name: str) -> None:
    path = await case.screenshot(page, name)
    if os.environ.get("KATA_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(path, DOCS / f"{name}.png")


class TraceWaterfallTests(BrowserTestCase):
    def setUp(self) -> None:
        learner = make_persona("learner")
        kata, _ = services.kata_load_fixture(path=CLEARPAY / "kata.json")
        design = json.loads((CLEARPAY / "designs" / "no-recovery-buffer.json").read_text())
        self.run = services.run_start(learner=learner, kata=kata, document=design)
        with self.settings(KATA_RUN_TRACES=True):  # as a server records them after every run
            run_execute(self.run.pk, publish=lambda message: None, simulate=simulate_here)
        self.run.refresh_from_db()
        assert self.run.status == "succeeded", self.run.error_message
        assert RunTraces.objects.get(run=self.run).status == "ready"

    async def test_a_failing_scenarios_link_opens_one_payments_waterfall(self) -> None:
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/attempts/{self.run.attempt_id}/")
            scenario = page.locator('[data-testid="scenario-2"]')
            await expect(scenario).to_have_attribute("data-passed", "false")
            # The run's trace lists load into its grade.
            await expect(page.locator('[data-testid="traces"]')).to_have_attribute("data-state", "ready",
                                                                                     timeout=WAIT_MS)
            await expect(page.locator('[data-testid="traces-slowest"] summary')).to_contain_text("20 slowest payments")
            await page.click('[data-testid="scenario-trace-2"]')
            trace = page.locator('[data-testid="trace"]')
            await expect(trace).to_be_visible()
            assert await trace.get_attribute("data-outcome") in ("failed", "dropped")
            await expect(page.locator('[data-testid="trace-scenario"]')).to_contain_text("scenario 2")
            # The waterfall is drawn, a bar per hop, and the part whose visit failed is picked out in red.
            await page.wait_for_function(
                "() => { const el = document.querySelector('[data-figure=waterfall]');"
                " return el && el.data && el.data.length > 0; }", timeout=WAIT_MS)
            hops = await page.locator('[data-testid="trace-hops"] tbody tr').count()
            bars = await page.evaluate(
                "() => document.querySelector('[data-figure=waterfall]').data"
                ".filter(t => t.name !== 'retry backoff').reduce((n, t) => n + t.y.length, 0)")
            assert hops >= 3 and bars >= hops, (hops, bars)
            failed = await page.get_attribute('[data-testid="trace-hops"] tr.trace__hop--error', "data-node")
            assert failed, "the payment's failed visit is in its hops"
            await expect(page.locator(f'[data-testid="trace-diagram"] .diagram__node--error[data-node="{failed}"]')) \
                .to_have_count(1)
            await expect(page.locator('[data-testid="trace-diagram"] .diagram__node--none')).not_to_have_count(0)
            await _save(self, page, "trace-waterfall")
            # Pointing at a hop's row picks its part out on the diagram.
            await page.hover('[data-testid="trace-hops"] tr.trace__hop--error')
            await expect(page.locator(f'.trace__diagram .diagram__node--focus[data-node="{failed}"]')).to_have_count(1)


class TraceWaterfallInDevelopmentModeTests(TraceWaterfallTests):
    """The same with DEBUG on, as `make run` serves it (django-htmx's debug script on the page)."""

    ProtocolServerProcess = DevelopmentDaphneProcess

    async def test_a_failing_scenarios_link_opens_one_payments_waterfall(self) -> None:
        await super().test_a_failing_scenarios_link_opens_one_payments_waterfall()


class SweepTests(BrowserTestCase):
    def setUp(self) -> None:
        learner = make_persona("learner")
        kata, _ = services.kata_load_fixture(path=CLEARPAY / "kata.json")
        design = json.loads((CLEARPAY / "designs" / "reference.json").read_text())
        services.draft_save(learner=learner, kata=kata, document=design)

    async def test_a_learner_sweeps_the_workers_count_and_sees_the_cheapest_passing_size(self) -> None:
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            await page.click("#design-menu summary")
            await page.click('[data-testid="sweep-link"]')
            await page.select_option("#id_choice", "workers:instances")
            await page.fill("#id_start", "1")
            await page.fill("#id_stop", "6")
            await page.fill("#id_step", "1")
            await page.click('[data-testid="sweep-start"]')
            sweep = page.locator('[data-testid="sweep"]')
            await expect(page.locator('[data-testid="sweep-progress"]')).to_contain_text(" of 6", timeout=WAIT_MS)
            await expect(sweep).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
            await expect(page.locator('[data-testid="sweep-progress"]')).to_contain_text("Done: 6 of 6 points")
            await expect(page.locator('[data-testid="sweep-cheapest-value"]')).to_have_text("2")
            await expect(page.locator('[data-testid="sweep-cheapest-row"]')).to_have_count(1)
            await page.wait_for_function(
                "() => document.querySelectorAll('#sweep [data-figure][data-drawn]').length >= 5", timeout=WAIT_MS)
            marked = await page.evaluate(
                "() => document.querySelector('[data-figure=scenario-3]').layout.annotations"
                ".some(a => a.text.startsWith('cheapest passing: 2'))")
            assert marked
            await _save(self, page, "sweep-workers")
