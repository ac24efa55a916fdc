"""The run page's charts are the graded traffic's own figures: after a live run of ClearPay's reference design, the
error chart ends at the checkout's error rate as the grade computes it for the streamed seed (the status reads are
not averaged in), and the status reads get a chart of their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from playwright.async_api import expect

from kata.models import Attempt, Run
from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess
from tests.personas import PASSWORD, make_persona

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "kata.json"
RUN_TIMEOUT_MS = 240_000  # generous: the run shares two cores with the browser and the rest of the suite


class RunFiguresTests(BrowserTestCase):
    ProtocolServerProcess = DevelopmentDaphneProcess

    def setUp(self) -> None:
        self.learner = make_persona("learner")
        self.kata, _ = kata_load_fixture(path=FIXTURE)
        self.reference = json.loads((FIXTURE.parent / "designs" / "reference.json").read_text())

    @sync_to_async
    def _run(self) -> Run:
        return Run.objects.order_by("-created_at").first()

    async def test_the_charts_end_at_the_graded_sources_own_figures(self) -> None:
        attempt = await sync_to_async(Attempt.objects.create)(learner=self.learner, kata=self.kata,
                                                              design=self.reference)
        async with self.page(width=1280, height=900) as page:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/attempts/{attempt.pk}/")
            await page.click('[data-testid="open-in-workspace"]')
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await expect(page.locator("#canvas .node")).to_have_count(len(self.reference["nodes"]))
            await page.click("#run")
            await expect(page.locator('[data-testid="grade-score"]')).to_have_text("5/5", timeout=RUN_TIMEOUT_MS)
            run = await self._run()
            seed = str(run.seeds[0])
            end = float(run.results[seed]["end_time"])
            # The charts redraw a few times a second: wait until the streamed seed's last step is drawn, at the
            # event where its last request was done.
            await page.wait_for_function(
                "(end) => { const x = document.getElementById('chart-errors').data[0].x;"
                " return x.length > 0 && x[x.length - 1] === end; }", arg=end, timeout=RUN_TIMEOUT_MS)
            figures: dict[str, Any] = await page.evaluate(
                "() => Object.fromEntries([...document.querySelectorAll('#charts [data-chart]')].map(el =>"
                " [el.dataset.chart, {title: el.layout.title.text, y: el.data.map(t => t.y[t.y.length - 1]),"
                " x: el.data[0].x[el.data[0].x.length - 1]}]))")
            assert errors == []
        grade = run.grade
        by_metric = {s["metric"]: s for s in grade["scenarios"]}
        assert figures["errors"]["title"] == "Error rate: Checkout"
        # the page's last error figure is the grade's, for the streamed seed, to the grade's four decimals
        assert figures["errors"]["y"][0] == by_metric["error_rate_pct"]["values_by_seed"][seed]
        others = figures["others"]["title"]
        assert others.endswith(": latency (not graded)") and "Checkout" not in others
        assert all(v is not None for v in figures["others"]["y"])  # the status reads' own step latencies
        assert figures["errors"]["x"] == end and end % 1.0 != 0.0
