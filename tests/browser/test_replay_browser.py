"""A grader replays a saved run in a real browser: follows the attempt link, scrubs and plays its saved frames at
16×, and sees the diagram coloured and the charts drawn up to the moment shown."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth.models import Permission
from playwright.async_api import expect

from kata import services
from kata.models import RunFrame
from kata.runs.execute import run_execute
from kata.runs.seeds import simulate_here
from tests.browser.harness import BrowserTestCase, node_selector
from tests.personas import PASSWORD, make_persona

STATUS = Path(__file__).resolve().parents[2] / "fixtures" / "status-cache"
WAIT_MS = 60_000


class ReplayTests(BrowserTestCase):
    def setUp(self) -> None:
        grader = make_persona("grader")
        # A live-server test's flush empties the groups the data migrations filled: give the permissions here.
        grader.user_permissions.add(*Permission.objects.filter(content_type__app_label="kata", codename__in=[
            "review_attempt", "override_grade", "add_feedback", "view_feedback", "view_attempt", "view_run"]))
        learner = make_persona("learner")
        kata, _ = services.kata_load_fixture(path=STATUS / "kata.json")
        design = json.loads((STATUS / "designs" / "reference.json").read_text())
        self.run = services.run_start(learner=learner, kata=kata, document=design)
        run_execute(self.run.pk, publish=lambda message: None, simulate=simulate_here)
        self.run.refresh_from_db()
        assert self.run.status == "succeeded", self.run.error_message
        self.frames = RunFrame.objects.filter(run=self.run).count()

    async def test_a_grader_scrubs_and_plays_a_saved_run(self) -> None:
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "grader", PASSWORD)
            # The needs-review queue, oldest first, has the attempt.
            await page.goto(f"{self.live_server_url}/review/?review=needs&order=queue")
            await expect(page.locator('[data-testid="needs-review"]')).to_have_count(1)
            await self.screenshot(page, "grader-queue")
            # The learner's attempt link works for a grader: it opens the attempt's review.
            await page.goto(f"{self.live_server_url}/attempts/{self.run.attempt_id}/")
            await expect(page.locator('[data-testid="review-state"]')).to_be_visible()
            await page.click('[data-testid="replay-link"]')
            replay = page.locator('[data-testid="replay"]')
            await expect(replay).to_have_attribute("data-state", "ready", timeout=WAIT_MS)
            await expect(page.locator('[data-testid="replay-seeds"]')).to_contain_text(
                f"Seed 1: every saved frame ({self.frames})")
            await expect(page.locator('[data-testid="replay-seeds"]')).to_contain_text(
                "Seeds 2, 3 were simulated for grading only")
            points = int(await replay.get_attribute("data-points") or 0)
            assert points > 20, points
            # Scrub to the middle: the clock, the diagram's colours and the charts follow.
            middle = points // 2
            await page.evaluate(
                "(i) => { const s = document.getElementById('replay-scrub'); s.value = String(i);"
                " s.dispatchEvent(new Event('input')); }", middle)
            await expect(replay).to_have_attribute("data-index", str(middle))
            await page.wait_for_function(
                "(i) => document.getElementById('replay').dataset.drawn === String(i)", arg=middle, timeout=WAIT_MS)
            drawn = await page.evaluate("() => document.getElementById('chart-utilization').data[0].x.length")
            assert drawn == middle + 1, (drawn, middle)
            await expect(page.locator(f"{node_selector('api')}.node--util")).to_have_count(1)
            label = await page.get_attribute(node_selector("api"), "aria-label") or ""
            assert "% busy" in label, label
            await self.screenshot(page, "replay-scrubbed")
            # Play at 16× to the end.
            await page.select_option('[data-testid="replay-speed"]', "16")
            await page.click('[data-testid="replay-play"]')
            await expect(replay).to_have_attribute("data-state", "playing")
            await expect(replay).to_have_attribute("data-index", str(points - 1), timeout=WAIT_MS)
            await expect(replay).to_have_attribute("data-state", "paused")
            await page.wait_for_function(
                "(n) => document.getElementById('chart-utilization').data[0].x.length === n", arg=points,
                timeout=WAIT_MS)
            await expect(page.locator('[data-testid="replay-clock"]')).to_contain_text("s simulated")
            await self.screenshot(page, "grader-replay")
