"""The small leaks, in a real browser: node ids that are JavaScript object keys, close codes the page understands,
and pages that work under the Content-Security-Policy."""

from __future__ import annotations

import json
import time
from pathlib import Path

from asgiref.sync import sync_to_async
from playwright.async_api import expect

from kata.models import Draft, Kata
from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, node_selector
from tests.personas import PASSWORD, make_persona

ROOT = Path(__file__).resolve().parents[2]
# Ids a plain object already has a property for (or, for __proto__, cannot hold as one).
OBJECT_KEYS = {"api": "constructor", "queue": "toString", "workers": "__proto__"}


def _renamed_reference() -> dict:
    design = json.loads((ROOT / "fixtures" / "clearpay" / "designs" / "reference.json").read_text())
    rename = lambda node_id: OBJECT_KEYS.get(node_id, node_id)  # noqa: E731
    for node in design["nodes"]:
        node["id"] = rename(node["id"])
    design["edges"] = [{"source": rename(e["source"]), "target": rename(e["target"])} for e in design["edges"]]
    return design


class HardeningBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        self.learner = make_persona("learner")
        kata_load_fixture(path=ROOT / "fixtures" / "clearpay" / "kata.json")

    async def test_parts_whose_ids_are_javascript_object_keys_are_all_drawn(self) -> None:
        design = _renamed_reference()
        kata = await Kata.objects.aget(slug="clearpay")
        await sync_to_async(Draft.objects.create)(learner=self.learner, kata=kata, design=design)
        async with self.page() as page:
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await expect(page.locator("#canvas .node")).to_have_count(10)
            for node_id in OBJECT_KEYS.values():
                await expect(page.locator(node_selector(node_id))).to_have_count(1)
            assert len((await page.evaluate("() => window.KataEditor.getDesign()"))["nodes"]) == 10
            # What the grader sees is what the learner drew: the edges to and from them are drawn too.
            await expect(page.locator('#canvas path.edge[data-source="constructor"]')).to_have_count(1)
            await expect(page.locator('#canvas path.edge[data-target="__proto__"]')).to_have_count(1)

    async def test_the_browser_sees_why_a_socket_was_refused(self) -> None:
        async with self.page() as page:
            await page.goto(f"{self.live_server_url}/")
            close_code = """(path) => new Promise((resolve) => {
                const socket = new WebSocket(location.origin.replace('http', 'ws') + path);
                socket.onclose = (event) => resolve(event.code);
            })"""
            assert await page.evaluate(close_code, "/ws/runs/1/") == 4401  # not logged in
            await self.log_in(page, "learner", PASSWORD)
            assert await page.evaluate(close_code, "/ws/runs/999999/") == 4404  # no such run of theirs

    async def test_a_page_whose_session_ended_says_so_and_stops_reconnecting(self) -> None:
        async with self.page() as page:
            opened: list[float] = []

            async def refuse(ws) -> None:  # the server's answer to a socket whose session has ended
                opened.append(time.monotonic())
                await ws.close(code=4401, reason="")

            await page.route_web_socket("**/ws/runs/**", refuse)
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            await page.wait_for_function("() => window.KataEditor !== undefined")
            design = json.loads((ROOT / "fixtures" / "clearpay" / "designs" / "reference.json").read_text())
            await page.evaluate("(d) => window.KataEditor.setDesign(d)", design)
            await page.click("#run")
            status = page.locator("#run-status")
            await expect(status).to_contain_text("Your session has ended")
            await expect(status.locator("a")).to_have_attribute(
                "href", "/accounts/login/?next=%2Fkatas%2Fclearpay%2Fworkspace%2F")
            await page.wait_for_timeout(3000)  # a page reconnecting would have tried several times by now
            assert len(opened) == 1

    async def test_pages_work_under_the_content_security_policy(self) -> None:
        async with self.page(width=1440, height=1000) as page:
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            await self.log_in(page, "learner", PASSWORD)
            response = await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
            assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
            await page.wait_for_function("() => window.KataEditor !== undefined && window.htmx !== undefined")
            design = json.loads((ROOT / "fixtures" / "clearpay" / "designs" / "reference.json").read_text())
            await page.evaluate("(d) => window.KataEditor.setDesign(d)", design)
            await expect(page.locator('[data-testid="estimate"]')).to_contain_text("Accept latency")  # htmx swapped it
            await page.click(f"{node_selector('queue')} .node__body")  # the inspector: an htmx partial
            await expect(page.locator('#inspector .inspector[data-node="queue"] form')).to_be_visible()
            await page.click("#run")  # fetch, the socket, plotly's charts
            await page.wait_for_function("() => Number(document.getElementById('run-panel').dataset.frames) >= 3",
                                         timeout=90_000)
            await page.wait_for_function("() => document.getElementById('chart-utilization').data[0].x.length > 0")
            await page.click("#cancel")
            await expect(page.locator("#run-panel")).to_have_attribute("data-status", "cancelled", timeout=30_000)
            await page.goto(f"{self.live_server_url}/katas/clearpay/attempts/")
            await page.goto(f"{self.live_server_url}/accounts/signup/")
            assert violations == []
