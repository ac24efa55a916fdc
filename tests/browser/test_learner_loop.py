"""The learner's whole loop in a real browser: build ClearPay's reference design by hand, run it live, see 5/5;
then put the gateway on the synchronous path and see scenario 1 fail with its explanation."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Page, expect

from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess, edge_selector, node_selector
from tests.personas import PASSWORD, make_persona

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "kata.json"
# Generous: the run shares two cores with the browser and the rest of the suite (the grade once came after 90 s).
RUN_TIMEOUT_MS = 240_000


class LearnerLoopTests(BrowserTestCase):
    def setUp(self) -> None:
        make_persona("learner")
        kata_load_fixture(path=FIXTURE)

    async def _set_params(self, page: Page, node_id: str, values: dict[str, int]) -> None:
        await page.click(f"{node_selector(node_id)} .node__body")
        form = page.locator(f'#inspector .inspector[data-node="{node_id}"] form')
        await expect(form).to_be_visible()
        for name, value in values.items():
            await form.locator(f'input[name="{name}"]').fill(str(value))
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#inspector .ok")).to_have_text("Applied.")
        await expect(page.locator("#inspector .form__errors")).to_have_count(0)

    async def _run_and_wait_for_grade(self, page: Page) -> None:
        # The previous run's frames and grade stay on the page until the new run is accepted: wait for the new one.
        previous = await page.get_attribute("#run-panel", "data-run") or ""
        await page.click("#run")
        await page.wait_for_function(
            "(previous) => (document.getElementById('run-panel').dataset.run || '') !== previous",
            arg=previous, timeout=RUN_TIMEOUT_MS)
        panel = page.locator("#run-panel")
        await expect(panel).to_be_visible()
        # Frames arrive while the run goes: the counter grows and the charts fill in place.
        await page.wait_for_function(
            "() => Number(document.getElementById('run-panel').dataset.frames) >= 3", timeout=RUN_TIMEOUT_MS)
        # The charts redraw a few times a second, so they fill a moment after the frames arrive.
        await page.wait_for_function(
            "() => document.getElementById('chart-utilization').data[0].x.length > 0", timeout=RUN_TIMEOUT_MS)
        await expect(page.locator('[data-testid="grade-score"]')).to_be_visible(timeout=RUN_TIMEOUT_MS)

    async def _build_the_reference_by_hand(self, page: Page) -> None:
        """Drop the missing parts, connect them as the reference does, tune them; the estimate has no warning."""
        for key, x, y in [("lb", 200, 210), ("intent_api", 340, 210), ("queue", 480, 210),
                          ("settlement_worker", 620, 210)]:
            await self.drop_part(page, key, x, y)
        await page.evaluate("() => window.KataEditor.selectNode(null)")
        # The kata's rules, said in the learner's words: a status API settles no payments.
        await self.connect(page, "status_api", "gateway")
        await expect(page.locator("#save-status")).to_contain_text("it settles no payments")
        await expect(page.locator(edge_selector("status_api", "gateway"))).to_have_count(0)
        for source, target in [("checkout", "lb"), ("lb", "intent_api"), ("intent_api", "queue"),
                               ("queue", "settlement_worker"), ("settlement_worker", "gateway"),
                               ("gateway", "ledger_db"), ("status_clients", "status_api"),
                               ("status_api", "ledger_db")]:
            await self.connect(page, source, target)
            await expect(page.locator(edge_selector(source, target))).to_have_count(1)
        # An out-of-range value is answered in place, in every mode: the workspace stays, the part keeps its value.
        await page.click(f"{node_selector('intent_api')} .node__body")
        form = page.locator('#inspector .inspector[data-node="intent_api"] form')
        await form.locator('input[name="instances"]').fill("99")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#inspector .form__errors")).to_be_visible()
        await expect(page.locator("#canvas")).to_be_visible()
        await expect(page.locator(f"{node_selector('intent_api')} .node__summary")).to_contain_text("1 ×")
        await self._set_params(page, "intent_api", {"instances": 2, "cores": 4, "concurrency": 16})
        await self._set_params(page, "queue", {"capacity": 60000, "max_attempts": 5})
        await self._set_params(page, "settlement_worker", {"instances": 2, "cores": 10, "concurrency": 20})
        await expect(page.locator(f"{node_selector('settlement_worker')} .node__summary")).to_contain_text("2 ×")
        # The instant estimate sees the design and has nothing to warn about.
        await expect(page.locator('[data-testid="estimate"]')).to_contain_text("Accept latency")
        await expect(page.locator('[data-testid="lint"]')).to_have_count(0)

    async def _put_the_gateway_on_the_synchronous_path(self, page: Page) -> None:
        """Take the queue and the workers out and let the API call the gateway: it is synchronous now."""
        for node in ("queue", "settlement_worker"):
            await page.click(f"{node_selector(node)} .node__body")
            await page.keyboard.press("Delete")
        await self.connect(page, "intent_api", "gateway")
        await expect(page.locator('[data-testid="lint"]').first).to_be_visible()
        await expect(page.locator('[data-testid="estimate"]')).to_contain_text("is on the synchronous path")

    async def test_learner_builds_runs_and_is_graded_live(self) -> None:
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.click("text=ClearPay — payment handshake")
            await page.click('[data-testid="open-workspace"]')
            await page.wait_for_function("() => window.KataEditor !== undefined")
            # The starter has the required parts: both traffic sources, the gateway, the ledger, the status API.
            await expect(page.locator("#canvas .node")).to_have_count(5)
            await self._build_the_reference_by_hand(page)
            await self.screenshot(page, "workspace-before-run")

            await self._run_and_wait_for_grade(page)
            await expect(page.locator('[data-testid="grade-score"]')).to_have_text("5/5")
            for scenario in range(1, 6):
                scenario_row = page.locator(f'[data-testid="scenario-{scenario}"]')
                await expect(scenario_row).to_have_attribute("data-passed", "true")
            # The diagram is coloured by utilization, and the canvas is editable again.
            await expect(page.locator(f"{node_selector('gateway')}.node--util")).to_have_count(1)
            # A queue's badge says how full it is, not its consumers' busy share.
            await expect(page.locator(f"{node_selector('queue')} .node__badge text")).to_contain_text("% full")
            assert not await page.evaluate("() => window.KataEditor.isReadOnly()")
            await expect(page.locator('[data-testid="results-stale"]')).to_be_hidden()
            # A part clicked after the run shows its own figures of the worst seed.
            await page.click(f"{node_selector('queue')} .node__body")
            figures = page.locator('#inspector [data-testid="part-figures"]')
            await expect(figures).to_contain_text("In the last run")
            await expect(figures).to_contain_text("of them retried")
            await self.screenshot(page, "workspace-after-run")

            await self._put_the_gateway_on_the_synchronous_path(page)
            # The grade and charts are of the design before these edits: said the moment it changed, and the badges
            # of the parts that changed (the gateway, called by the API now) are gone; the others' stay.
            stale = page.locator('[data-testid="results-stale"]')
            await expect(stale).to_be_visible()
            await expect(stale).to_contain_text("from the design as it was at")
            await expect(page.locator(f"{node_selector('gateway')}.node--util")).to_have_count(0)
            await expect(page.locator(f"{node_selector('lb')}.node--util")).to_have_count(1)
            await self._run_and_wait_for_grade(page)
            await expect(stale).to_be_hidden()
            first = page.locator('[data-testid="scenario-1"]')
            await expect(first).to_have_attribute("data-passed", "false")
            await expect(first).to_contain_text("the caller waits for Payment gateway (external)")
            await expect(first).to_contain_text("Try next:")
            await self.screenshot(page, "workspace-sync-gateway")

    async def test_a_reload_during_a_run_replays_the_frames_and_reaches_the_grade(self) -> None:
        design = (FIXTURE.parent / "designs" / "reference.json").read_text()
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await page.evaluate("(design) => window.KataEditor.setDesign(design)", json.loads(design))
            await page.click("#run")
            await page.wait_for_function("() => Number(document.getElementById('run-panel').dataset.frames) >= 2",
                                         timeout=RUN_TIMEOUT_MS)
            run_id = await page.get_attribute("#run-panel", "data-run")
            await page.reload()
            # The page picks the run up again: the saved frames are replayed from the first one, then it goes on.
            panel = page.locator("#run-panel")
            await expect(panel).to_have_attribute("data-run", run_id or "")
            await expect(page.locator('[data-testid="grade-score"]')).to_have_text("5/5", timeout=RUN_TIMEOUT_MS)
            replayed = int(await panel.get_attribute("data-frames") or 0)
            assert replayed >= 2 and await panel.get_attribute("data-last-seq") == str(replayed), \
                "every frame from seq 1, none twice"


class LearnerLoopInDevelopmentModeTests(BrowserTestCase):
    """The learner's loop once more, served as `make run` serves it (DEBUG on, django-htmx's debug script on the
    page): nothing there may take the page away."""

    ProtocolServerProcess = DevelopmentDaphneProcess
    setUp = LearnerLoopTests.setUp
    _set_params = LearnerLoopTests._set_params
    _run_and_wait_for_grade = LearnerLoopTests._run_and_wait_for_grade
    _build_the_reference_by_hand = LearnerLoopTests._build_the_reference_by_hand
    _put_the_gateway_on_the_synchronous_path = LearnerLoopTests._put_the_gateway_on_the_synchronous_path
    test_learner_builds_runs_and_is_graded_live = LearnerLoopTests.test_learner_builds_runs_and_is_graded_live
