"""The workspace as a learner meets it: keys that act only on the canvas, an undo toast after a deletion, an
inspector that follows the design, and layouts from a laptop to a phone. Served in development mode (DEBUG on, as
`make run` serves it), where a refused form used to wipe the page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from playwright.async_api import Page, expect

from kata.models import Attempt, Draft
from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess, node_selector
from tests.personas import PASSWORD, make_persona

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "kata.json"


class WorkspaceTests(BrowserTestCase):
    ProtocolServerProcess = DevelopmentDaphneProcess

    def setUp(self) -> None:
        self.learner = make_persona("learner")
        self.kata, _ = kata_load_fixture(path=FIXTURE)

    async def _open(self, page: Page) -> list[str]:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await self.log_in(page, "learner", PASSWORD)
        await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
        await page.wait_for_function("() => window.KataEditor !== undefined")
        return errors

    async def _design(self, page: Page) -> dict[str, Any]:
        return await page.evaluate("() => window.KataEditor.getDesign()")

    async def _node_ids(self, page: Page) -> list[str]:
        return [n["id"] for n in (await self._design(page))["nodes"]]

    async def test_backspace_outside_the_canvas_deletes_nothing_and_a_deletion_offers_undo_where_you_look(
            self) -> None:
        async with self.page(width=1280, height=900) as page:
            errors = await self._open(page)
            before = await self._node_ids(page)
            await page.click(f"{node_selector('status_api')} .node__body")
            await expect(page.locator('#inspector [data-node="status_api"]')).to_be_visible()
            # The learner clicks the estimate's text, then presses Backspace and Delete: the selected part stays.
            await expect(page.locator('[data-testid="estimate"]')).to_be_visible()
            await page.click('[data-testid="estimate"] h3')
            await page.keyboard.press("Backspace")
            await page.keyboard.press("Delete")
            await page.keyboard.press("Control+z")
            assert await self._node_ids(page) == before
            await expect(page.locator('[data-testid="toast"]')).to_be_hidden()

            # On the canvas, Delete removes it, and the toast over the canvas says so with an Undo.
            await page.click(f"{node_selector('status_api')} .node__body")
            await page.keyboard.press("Delete")
            await expect(page.locator(node_selector("status_api"))).to_have_count(0)
            toast = page.locator('[data-testid="toast"]')
            await expect(toast).to_be_visible()
            await expect(toast).to_contain_text("Removed Status API")
            canvas = await page.locator("#canvas").bounding_box()
            box = await toast.bounding_box()
            assert canvas is not None and box is not None
            assert canvas["y"] <= box["y"] and box["y"] + box["height"] <= canvas["y"] + canvas["height"], \
                "the toast sits over the canvas"
            await toast.get_by_role("button", name="Undo").click()
            await expect(page.locator(node_selector("status_api"))).to_have_count(1)
            await expect(toast).to_be_hidden()
            assert sorted(await self._node_ids(page)) == sorted(before)
            assert errors == []

    async def test_the_inspector_follows_undo_and_is_locked_with_its_reason_while_read_only(self) -> None:
        async with self.page(width=1280, height=900) as page:
            errors = await self._open(page)
            await self.drop_part(page, "intent_api", 420, 330)
            form = page.locator('#inspector .inspector[data-node="intent_api"] form')
            await expect(form).to_be_visible()
            await form.locator('input[name="instances"]').fill("3")
            await form.locator("button[type=submit]").click()
            await expect(page.locator(f"{node_selector('intent_api')} .node__summary")).to_have_text("3 × 8")
            await expect(page.locator("#inspector .ok")).to_have_text("Applied.")

            # Undo takes the part back to 1 instance: the inspector shows 1, and Apply does not put 3 back.
            await page.click("#undo")
            await expect(page.locator(f"{node_selector('intent_api')} .node__summary")).to_have_text("1 × 8")
            await expect(form.locator('input[name="instances"]')).to_have_value("1")
            await expect(page.locator("#inspector .ok")).to_have_count(0)
            await form.locator("button[type=submit]").click()
            await expect(page.locator("#inspector .ok")).to_have_text("Applied.")
            assert next(n for n in (await self._design(page))["nodes"]
                        if n["id"] == "intent_api")["params"]["instances"] == 1
            await page.click("#redo")
            await expect(form.locator('input[name="instances"]')).to_have_value("3")

            # An out-of-range value is answered in place, in development mode too: the workspace stays whole.
            await form.locator('input[name="instances"]').fill("99")
            await form.locator("button[type=submit]").click()
            await expect(page.locator("#inspector .form__errors")).to_be_visible()
            await expect(page.locator("#canvas")).to_be_visible()
            await expect(page.locator("#toolbar #run")).to_be_visible()

            # Read-only (as during a run): the form is disabled and says why; editable again afterwards.
            await page.evaluate("() => window.KataEditor.setReadOnly(true)")
            await expect(page.locator('[data-testid="inspector-locked"]')).to_contain_text("A run is going")
            await expect(form.locator('input[name="instances"]')).to_be_disabled()
            await expect(form.locator("button[type=submit]")).to_be_disabled()
            await page.click(f"{node_selector('gateway')} .node__body")
            await page.click(f"{node_selector('intent_api')} .node__body")
            await expect(page.locator('#inspector [data-testid="inspector-locked"]')).to_be_visible()
            await expect(form.locator('input[name="instances"]')).to_be_disabled()
            await page.evaluate("() => window.KataEditor.setReadOnly(false)")
            await expect(page.locator('[data-testid="inspector-locked"]')).to_have_count(0)
            await expect(form.locator('input[name="instances"]')).to_be_enabled()
            assert errors == []

    async def _no_sideways_scroll(self, page: Page) -> None:
        widths = await page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"

    async def test_at_1100_px_the_inspector_stays_beside_the_canvas_and_the_toolbar_never_reflows(self) -> None:
        async with self.page(width=1100, height=850) as page:
            await self._open(page)
            await page.click(f"{node_selector('status_api')} .node__body")
            await expect(page.locator('#inspector [data-node="status_api"]')).to_be_visible()
            canvas = await page.locator("#canvas").bounding_box()
            inspector = await page.locator("#inspector").bounding_box()
            assert canvas is not None and inspector is not None
            assert inspector["x"] >= canvas["x"] + canvas["width"], "the inspector is beside the canvas"
            assert inspector["y"] < canvas["y"] + canvas["height"], "and level with it, not under the charts"
            await self._no_sideways_scroll(page)
            toolbar = page.locator("#toolbar")
            height = (await toolbar.bounding_box() or {})["height"]
            run = await page.locator("#run").bounding_box()
            # A long announcement: the toolbar keeps its height and Run does not move.
            await page.click("#zoom-fit")
            await self.connect(page, "status_api", "gateway")
            await expect(page.locator("#save-status")).to_contain_text("settles no payments")
            assert (await toolbar.bounding_box() or {})["height"] == height
            assert await page.locator("#run").bounding_box() == run
            await self.screenshot(page, "workspace-1100")

    async def test_at_390_px_the_workspace_reads_and_runs_without_sideways_scrolling(self) -> None:
        async with self.page(width=390, height=844) as page:
            await self._open(page)
            await expect(page.locator('[data-testid="narrow-note"]')).to_be_visible()
            await expect(page.locator('[data-testid="narrow-note"]')).to_contain_text("wider screen")
            await expect(page.locator("#palette")).to_be_hidden()
            await expect(page.locator("#canvas .node").first).to_be_visible()
            await expect(page.locator("#run")).to_be_visible()
            await expect(page.locator('[data-testid="estimate"]')).to_be_visible()
            await self._no_sideways_scroll(page)
            # The brief and its hints are one click away, and readable on the phone.
            await page.click('[data-testid="brief"] summary')
            body = page.locator(".ws-brief__body")
            await expect(body).to_be_visible()
            await expect(body).to_contain_text("Graded scenarios")
            box = await body.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            await self._no_sideways_scroll(page)
            await page.click('[data-testid="brief"] summary')
            await self.screenshot(page, "workspace-390")

    async def test_the_workspace_has_a_heading_and_its_references_resolve(self) -> None:
        async with self.page(width=1440, height=900) as page:
            await self._open(page)
            await expect(page.locator("h1")).to_have_count(1)
            await expect(page.locator("h1")).to_contain_text("ClearPay")
            missing = await page.evaluate(
                """() => Array.from(document.querySelectorAll('[aria-describedby], [aria-labelledby]'))
                    .flatMap(el => ((el.getAttribute('aria-describedby') || '') + ' '
                                    + (el.getAttribute('aria-labelledby') || '')).split(/\\s+/).filter(Boolean))
                    .filter(id => !document.getElementById(id))""")
            assert missing == []
            # Tab order: the first part before any connection.
            await self.connect(page, "status_clients", "status_api")
            order = await page.evaluate(
                """() => Array.from(document.querySelectorAll('#canvas [tabindex="0"]'))
                    .map(el => el.classList.contains('node') ? 'node' : 'edge')""")
            assert order.index("node") < order.index("edge"), order
            assert re.search(r"node", order[0])

    async def test_zoom_pan_and_fit_keep_the_design_reachable_and_its_text_readable(self) -> None:
        async with self.page(width=1100, height=850) as page:
            errors = await self._open(page)
            # At this width the whole starter would need small text: the view stays readable, from the sources.
            scale = float(await page.get_attribute("#canvas", "data-scale") or 0)
            assert 1 <= scale <= 1.5, scale
            font = await page.evaluate(
                "() => document.querySelector('#canvas .node__name').getBoundingClientRect().height")
            assert font >= 7, font
            await expect(page.locator(node_selector("checkout"))).to_be_in_viewport()
            # Fit shows everything; + zooms in; a drag of the background pans; a click there still deselects.
            await page.click("#zoom-fit")
            canvas = await page.locator("#canvas").bounding_box()
            assert canvas is not None
            for node_id in await self._node_ids(page):
                box = await page.locator(node_selector(node_id)).bounding_box()
                assert box is not None
                assert canvas["x"] <= box["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"] + 1
            fitted = float(await page.get_attribute("#canvas", "data-scale") or 0)
            await page.click("#zoom-in")
            zoomed = float(await page.get_attribute("#canvas", "data-scale") or 0)
            assert zoomed < fitted
            design = await self._design(page)
            before = await page.locator(node_selector("checkout")).bounding_box()
            start = (canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] - 12)
            await self.drag_mouse(page, start, (start[0] + 80, start[1] - 30))
            after = await page.locator(node_selector("checkout")).bounding_box()
            assert before is not None and after is not None
            assert abs(after["x"] - before["x"] - 80) < 3 and abs(after["y"] - before["y"] + 30) < 3
            assert await self._design(page) == design, "panning moves the view, not the design"
            await page.click(f"{node_selector('status_api')} .node__body")
            await page.mouse.click(*start)
            await expect(page.locator("#canvas .node--selected")).to_have_count(0)
            assert errors == []

    async def test_shift_click_selects_several_parts_to_duplicate_copy_paste_move_and_delete(self) -> None:
        async with self.page(width=1280, height=900) as page:
            errors = await self._open(page)
            await self.connect(page, "status_api", "ledger_db")
            await page.click(f"{node_selector('status_api')} .node__body")
            await page.click(f"{node_selector('ledger_db')} .node__body", modifiers=["Shift"])
            await expect(page.locator("#canvas .node--selected")).to_have_count(2)
            await expect(page.locator("#inspector")).to_contain_text("2 parts selected")
            count = len(await self._node_ids(page))
            await page.keyboard.press("Control+d")
            await expect(page.locator("#canvas .node")).to_have_count(count + 2)
            design = await self._design(page)
            assert {"status_api-2", "ledger_db-2"} <= {n["id"] for n in design["nodes"]}
            assert {"source": "status_api-2", "target": "ledger_db-2"} in design["edges"]
            # The copies are the selection now: dragging one moves both.
            await expect(page.locator("#canvas .node--selected")).to_have_count(2)
            before = {n["id"]: (n["x"], n["y"]) for n in design["nodes"]}
            start = await self.center(page, f"{node_selector('ledger_db-2')} .node__name")
            await self.drag_mouse(page, start, (start[0] + 30, start[1] + 45))
            moved = {n["id"]: (n["x"], n["y"]) for n in (await self._design(page))["nodes"]}
            for node_id in ("status_api-2", "ledger_db-2"):
                assert moved[node_id][1] > before[node_id][1] + 20, (node_id, before[node_id], moved[node_id])
            assert moved["status_api"] == before["status_api"]
            # Copy and paste; then Delete takes the selected copies away in one step, which Undo brings back.
            await page.keyboard.press("Control+c")
            await expect(page.locator("#save-status")).to_contain_text("Copied 2 parts")
            await page.keyboard.press("Control+v")
            await expect(page.locator("#canvas .node")).to_have_count(count + 4)
            await page.keyboard.press("Delete")
            await expect(page.locator("#canvas .node")).to_have_count(count + 2)
            await expect(page.locator('[data-testid="toast"]')).to_contain_text("Removed 2 parts")
            await page.keyboard.press("Control+z")
            await expect(page.locator("#canvas .node")).to_have_count(count + 4)
            await page.keyboard.press("Escape")
            await expect(page.locator("#canvas .node--selected")).to_have_count(0)
            assert errors == []

    async def test_the_toolbar_fits_on_one_line_from_800_to_1440_px(self) -> None:
        for width in (820, 1024, 1280, 1440):
            async with self.page(width=width, height=800) as page:
                await self._open(page)
                # Idle, and during a run (Cancel in Run's place).
                for running in (False, True):
                    fits = await page.evaluate(
                        """(running) => { document.getElementById('cancel').hidden = !running;
                            document.getElementById('run').hidden = running;
                            const t = document.getElementById('toolbar'); return t.scrollWidth <= t.clientWidth; }""",
                        running)
                    assert fits, f"the toolbar overflows at {width} px" + (" during a run" if running else "")
                await self._no_sideways_scroll(page)


class WorkspaceFilesTests(BrowserTestCase):
    """Reopening an attempt, export and import, and the shared page, in a real browser."""

    ProtocolServerProcess = DevelopmentDaphneProcess

    def setUp(self) -> None:
        self.learner = make_persona("learner")
        self.kata, _ = kata_load_fixture(path=FIXTURE)
        self.reference = json.loads((FIXTURE.parent / "designs" / "reference.json").read_text())

    _open = WorkspaceTests._open
    _design = WorkspaceTests._design

    @sync_to_async
    def _draft(self) -> dict[str, Any] | None:
        draft = Draft.objects.filter(learner=self.learner, kata=self.kata).first()
        return draft.design if draft else None

    async def test_an_attempt_opens_in_the_workspace_and_undo_brings_the_draft_back(self) -> None:
        attempt = await sync_to_async(Attempt.objects.create)(learner=self.learner, kata=self.kata,
                                                              design=self.reference)
        async with self.page(width=1280, height=900) as page:
            errors = await self._open(page)
            draft = await self._design(page)
            await page.goto(f"{self.live_server_url}/attempts/{attempt.pk}/")
            await page.click('[data-testid="open-in-workspace"]')
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await expect(page.locator("#canvas .node")).to_have_count(len(self.reference["nodes"]))
            toast = page.locator('[data-testid="toast"]')
            await expect(toast).to_contain_text(f"Opened attempt #{attempt.pk}")
            assert "from=" not in page.url, "a reload does not open it again"
            await expect(page.locator("#save-status .ws-status__save")).to_have_text("Saved", timeout=15_000)
            assert {n["id"] for n in (await self._draft() or {"nodes": []})["nodes"]} == {
                n["id"] for n in self.reference["nodes"]}
            await toast.get_by_role("button", name="Undo").click()
            await expect(page.locator("#canvas .node")).to_have_count(len(draft["nodes"]))
            assert await self._design(page) == draft
            assert errors == []

    async def test_export_json_svg_and_png_and_import_a_design_with_clear_refusals(self) -> None:
        async with self.page(width=1280, height=900) as page:
            errors = await self._open(page)
            before = await self._design(page)
            await page.click("#design-menu summary")
            async with page.expect_download() as download_info:
                await page.click("#export-json")
            download = await download_info.value
            assert download.suggested_filename == "clearpay-design.json"
            assert json.loads(Path(await download.path()).read_text()) == before
            await page.click("#design-menu summary")
            async with page.expect_download() as download_info:
                await page.click("#export-svg")
            svg = Path(await (await download_info.value).path()).read_text()
            assert svg.startswith("<svg") and "Payment gateway" in svg and "<style>" in svg
            await page.click("#design-menu summary")
            async with page.expect_download() as download_info:
                await page.click("#export-png")
            png = Path(await (await download_info.value).path()).read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000

            # A design of another kata is refused with the reason, where the learner looks; nothing changes.
            alien = {"nodes": [{"id": "x", "part": "photo_resizer", "params": {}, "x": 5, "y": 5}], "edges": []}
            await page.set_input_files("#import-file", files=[{"name": "other.json", "mimeType": "application/json",
                                                               "buffer": json.dumps(alien).encode()}])
            toast = page.locator('[data-testid="toast"]')
            await expect(toast).to_contain_text("Not imported: This design uses parts that ClearPay")
            await page.set_input_files("#import-file", files=[{"name": "notes.json", "mimeType": "application/json",
                                                               "buffer": b"{not json"}])
            await expect(toast).to_contain_text("notes.json is not JSON")
            assert await self._design(page) == before
            # The reference imports: on the canvas as one step, which Undo takes back.
            await page.set_input_files("#import-file", files=[{"name": "reference.json", "mimeType": "application/json",
                                                               "buffer": json.dumps(self.reference).encode()}])
            await expect(toast).to_contain_text("Imported reference.json")
            await expect(page.locator("#canvas .node")).to_have_count(len(self.reference["nodes"]))
            await expect(page.locator('[data-testid="problems"] li')).to_have_count(0)
            await toast.get_by_role("button", name="Undo").click()
            assert await self._design(page) == before
            assert errors == []

    async def test_a_shared_attempt_shows_its_design_to_anyone_with_the_link(self) -> None:
        attempt = await sync_to_async(Attempt.objects.create)(learner=self.learner, kata=self.kata,
                                                              design=self.reference, share_token="t" * 32)
        async with self.page(width=390, height=844) as page:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{self.live_server_url}/shared/{attempt.share_token}/")
            await expect(page.locator("#canvas .node")).to_have_count(len(self.reference["nodes"]))
            await expect(page.locator("body")).not_to_contain_text("learner")
            assert errors == []
