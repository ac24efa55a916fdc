"""The diagram editor on the learner workspace, driven in a real Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from playwright.async_api import Page, expect

from kata.models import Attempt, Draft
from kata.authoring import kata_publish_unchecked
from kata.services import kata_load_fixture
from tests.browser.harness import BrowserTestCase, DevelopmentDaphneProcess
from tests.browser.harness import edge_selector as _edge
from tests.browser.harness import node_selector as _node
from tests.personas import PASSWORD, make_persona

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "clearpay" / "kata.json"
REFERENCE = FIXTURE.parent / "designs" / "reference.json"


class EditorInBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        self.learner = make_persona("learner")
        self.kata, _ = kata_load_fixture(path=FIXTURE)
        # These tests drive the editor's mechanics on a two-part starter (checkout and gateway, connected
        # directly); the kata's own connection rules and required parts are tested in tests/browser/test_rules.py.
        self.kata.parts.filter(key__in=["status_clients", "status_api", "ledger_db"]).update(required=False)
        self.kata.parts.filter(key="checkout").update(feeds=None)
        kata_publish_unchecked(kata=self.kata)  # learners see a kata's rules once published as a version

    async def _open_workspace(self, page: Page) -> list[str]:
        """Log in, open the ClearPay workspace and collect console errors for the caller to check."""
        errors: list[str] = []

        def on_console(message: Any) -> None:
            if message.type == "error":
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        await self.log_in(page, "learner", PASSWORD)
        await page.goto(f"{self.live_server_url}/katas/clearpay/workspace/")
        await page.wait_for_function("() => window.KataEditor !== undefined")
        return errors

    async def _design(self, page: Page) -> dict[str, Any]:
        return await page.evaluate("() => window.KataEditor.getDesign()")

    async def _node_of(self, page: Page, node_id: str) -> dict[str, Any]:
        design = await self._design(page)
        return next(n for n in design["nodes"] if n["id"] == node_id)

    @sync_to_async
    def _saved_design(self) -> dict[str, Any] | None:
        draft = Draft.objects.filter(learner=self.learner, kata=self.kata).first()
        return draft.design if draft else None

    async def _drop_two_parts(self, page: Page) -> None:
        await self.drop_part(page, "lb", 240, 330)
        await self.drop_part(page, "intent_api", 440, 330)
        await expect(page.locator(_node("lb"))).to_have_attribute("aria-label", "Load balancer lb")
        await expect(page.locator(f"{_node('intent_api')} .node__summary")).to_have_text("1 × 8")
        # Dropped where the pointer let go: the node's centre sits under the drop point.
        lb_center = await self.center(page, f"{_node('lb')} .node__body")
        canvas_box = await page.locator("#canvas").bounding_box()
        assert canvas_box is not None
        assert abs(lb_center[0] - (canvas_box["x"] + 240)) < 3 and abs(lb_center[1] - (canvas_box["y"] + 330)) < 3

    async def _drag_a_part(self, page: Page) -> None:
        """Move a part by dragging its body: it moves by the pointer's travel in canvas units."""
        before = await self._node_of(page, "intent_api")
        scale = await page.evaluate("() => { const s = document.getElementById('canvas');"
                                    " return s.viewBox.baseVal.width / s.clientWidth; }")
        start = await self.center(page, f"{_node('intent_api')} .node__name")
        await self.drag_mouse(page, start, (start[0] + 60, start[1] + 40))
        after = await self._node_of(page, "intent_api")
        assert abs(after["x"] - (before["x"] + 60 * scale)) <= 2, (before, after, scale)
        assert abs(after["y"] - (before["y"] + 40 * scale)) <= 2, (before, after, scale)

    async def _connect_and_be_refused(self, page: Page) -> None:
        """Connect output ports to parts; a source accepts nothing and a connection is made once."""
        await self.connect(page, "checkout", "lb")
        await self.connect(page, "lb", "intent_api")
        await expect(page.locator(_edge("checkout", "lb"))).to_have_count(1)
        await expect(page.locator(_edge("lb", "intent_api"))).to_have_count(1)
        assert await page.get_attribute(_edge("lb", "intent_api"), "marker-end") == "url(#kata-arrow)"
        await self.connect(page, "lb", "checkout")
        await expect(page.locator("#save-status")).to_contain_text("traffic source")
        await self.connect(page, "lb", "intent_api")
        await expect(page.locator("#save-status")).to_contain_text("already connects")
        assert len((await self._design(page))["edges"]) == 2

    async def _tune_in_the_inspector(self, page: Page) -> None:
        """Select a part: the server-rendered inspector opens; a valid change reaches the node's summary."""
        await page.click(f"{_node('intent_api')} .node__name")
        await expect(page.locator(_node("intent_api"))).to_have_class(re.compile(r"\bnode--selected\b"))
        await expect(page.locator('#inspector [data-node="intent_api"]')).to_be_visible()
        await page.fill("#inspector input[name=instances]", "3")
        await page.click("#inspector button[type=submit]")
        await expect(page.locator(f"{_node('intent_api')} .node__summary")).to_have_text("3 × 8")
        # An out-of-range value: the form error shows in place and the node keeps its value.
        await page.fill("#inspector input[name=instances]", "99")
        await page.click("#inspector button[type=submit]")
        await expect(page.locator("#inspector .form__errors")).to_be_visible()
        await expect(page.locator("#inspector .form__row--error input[name=instances]")).to_have_value("99")
        await expect(page.locator(f"{_node('intent_api')} .node__summary")).to_have_text("3 × 8")
        assert (await self._node_of(page, "intent_api"))["params"]["instances"] == 3

    async def _deselect_and_check_the_autosave(self, page: Page) -> None:
        # Clicking empty canvas deselects.
        canvas_box = await page.locator("#canvas").bounding_box()
        assert canvas_box is not None
        await page.mouse.click(canvas_box["x"] + 20, canvas_box["y"] + canvas_box["height"] - 20)
        await expect(page.locator("#canvas .node--selected")).to_have_count(0)
        # Autosave: the server has the document, and validation problems are listed and marked.
        await expect(page.locator("#save-status .ws-status__save")).to_have_text("Saved", timeout=5000)
        saved = await self._saved_design()
        assert saved is not None
        assert {n["id"] for n in saved["nodes"]} == {"checkout", "gateway", "lb", "intent_api"}
        assert {(e["source"], e["target"]) for e in saved["edges"]} == {("checkout", "lb"), ("lb", "intent_api")}
        assert next(n for n in saved["nodes"] if n["id"] == "intent_api")["params"]["instances"] == 3
        await expect(page.locator("#problems li").first).to_be_visible()
        await expect(page.locator("#canvas .node--problem").first).to_be_visible()
        await page.click(f"{_node('lb')} .node__name")
        await expect(page.locator('#inspector [data-node="lb"]')).to_be_visible()

    async def test_learner_drags_connects_tunes_and_the_design_survives_a_reload(self) -> None:
        async with self.page(width=1440, height=900) as page:
            errors = await self._open_workspace(page)
            # The starter design: the required parts, and no connections yet.
            await expect(page.locator("#canvas .node")).to_have_count(2)
            await expect(page.locator(f"{_node('checkout')} .port--in")).to_be_hidden()
            await self._drop_two_parts(page)
            await self._drag_a_part(page)
            await self._connect_and_be_refused(page)
            await self._tune_in_the_inspector(page)
            await self._deselect_and_check_the_autosave(page)
            await self.screenshot(page, "editor")

            await page.reload()
            await page.wait_for_function("() => window.KataEditor !== undefined")
            await expect(page.locator("#canvas .node")).to_have_count(4)
            await expect(page.locator(_edge("lb", "intent_api"))).to_have_count(1)
            await expect(page.locator(f"{_node('intent_api')} .node__summary")).to_have_text("3 × 8")
            # The one console line is the refused form's 422 (its reason phrase is the server's to choose).
            assert len(errors) == 1 and "the server responded with a status of 422" in errors[0], errors

    async def test_delete_then_undo_and_redo_restore_the_part_and_its_connections(self) -> None:
        async with self.page() as page:
            errors = await self._open_workspace(page)
            await expect(page.locator("#undo")).to_be_disabled()
            await expect(page.locator("#redo")).to_be_disabled()
            await expect(page.locator("#delete")).to_be_disabled()
            await self.connect(page, "checkout", "gateway")
            await expect(page.locator(_edge("checkout", "gateway"))).to_have_count(1)
            await expect(page.locator("#undo")).to_be_enabled()

            await page.click(f"{_node('gateway')} .node__name")
            await page.click("#delete")
            await expect(page.locator(_node("gateway"))).to_have_count(0)
            await expect(page.locator(_edge("checkout", "gateway"))).to_have_count(0)
            await expect(page.locator("#inspector .inspector-empty")).to_be_visible()

            await page.keyboard.press("Control+z")
            await expect(page.locator(_node("gateway"))).to_have_count(1)
            await expect(page.locator(_edge("checkout", "gateway"))).to_have_count(1)
            await expect(page.locator("#redo")).to_be_enabled()
            await page.keyboard.press("Control+Shift+z")
            await expect(page.locator(_node("gateway"))).to_have_count(0)
            await page.click("#undo")
            await expect(page.locator(_node("gateway"))).to_have_count(1)
            await page.keyboard.press("Control+y")
            await expect(page.locator(_node("gateway"))).to_have_count(0)
            await page.click("#undo")
            await page.click("#undo")
            await expect(page.locator(_edge("checkout", "gateway"))).to_have_count(0)
            await expect(page.locator("#undo")).to_be_disabled()

            # An edge is selected by clicking it and deleted with the Delete key.
            await page.click("#redo")
            await page.click(_edge("checkout", "gateway"), force=True)
            await expect(page.locator(_edge("checkout", "gateway"))).to_have_class(re.compile(r"\bedge--selected\b"))
            await page.keyboard.press("Delete")
            await expect(page.locator(_edge("checkout", "gateway"))).to_have_count(0)
            await expect(page.locator(_node("gateway"))).to_have_count(1)
            assert errors == []

    async def _add_and_move_with_keys(self, page: Page) -> None:
        """Enter on a palette item adds the part and focuses it; arrows move it, as one undo step."""
        await page.focus('.palette-item[data-part="lb"]')
        await page.keyboard.press("Enter")
        lb = page.locator(_node("lb"))
        await expect(lb).to_be_focused()
        await expect(lb).to_have_class(re.compile(r"\bnode--selected\b"))
        await expect(page.locator('#inspector [data-node="lb"]')).to_be_visible()
        start = await self._node_of(page, "lb")
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("Shift+ArrowDown")
        moved = await self._node_of(page, "lb")
        assert (moved["x"], moved["y"]) == (start["x"] + 20, start["y"] + 50)
        # The three key presses were one gesture: one undo puts the part back.
        await page.keyboard.press("Control+z")
        back = await self._node_of(page, "lb")
        assert (back["x"], back["y"]) == (start["x"], start["y"])
        await page.keyboard.press("Control+Shift+z")

    async def _connect_with_keys(self, page: Page) -> None:
        """c on the source, Tab to the target, Enter. Escape cancels."""
        await page.focus(_node("checkout"))
        await page.keyboard.press("c")
        await expect(page.locator("#save-status")).to_contain_text("Connecting from Checkout")
        await page.keyboard.press("Escape")
        await expect(page.locator("#canvas .node--connecting")).to_have_count(0)
        await page.keyboard.press("c")
        await page.keyboard.press("Tab")
        await expect(page.locator(_node("gateway"))).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(page.locator(_node("lb"))).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator(_edge("checkout", "lb"))).to_have_count(1)
        await expect(page.locator("#save-status")).to_contain_text("Connected Checkout → Load balancer")

    async def _delete_with_keys(self, page: Page) -> None:
        """Delete removes the focused part with its connections; typing in the inspector never deletes."""
        lb = page.locator(_node("lb"))
        await page.focus(_node("gateway"))
        await page.keyboard.press("Enter")
        await expect(page.locator('#inspector [data-node="gateway"]')).to_be_visible()
        await lb.focus()
        await page.keyboard.press("Enter")
        await page.focus("#inspector input[name=instances]")
        await page.keyboard.press("Backspace")
        await expect(lb).to_have_count(1)
        await lb.focus()
        await page.keyboard.press("Delete")
        await expect(lb).to_have_count(0)
        await expect(page.locator(_edge("checkout", "lb"))).to_have_count(0)

    async def test_keyboard_adds_moves_connects_and_deletes_a_part(self) -> None:
        async with self.page() as page:
            errors = await self._open_workspace(page)
            await self._add_and_move_with_keys(page)
            # A second Checkout is refused: the palette allows one per design.
            await page.focus('.palette-item[data-part="checkout"]')
            await page.keyboard.press("Space")
            await expect(page.locator("#save-status")).to_contain_text("Only 1 Checkout per design")
            await expect(page.locator("#canvas .node")).to_have_count(3)
            await self._connect_with_keys(page)
            await self._delete_with_keys(page)
            await expect(page.locator("#save-status .ws-status__save")).to_have_text("Saved", timeout=5000)
            saved = await self._saved_design()
            assert saved is not None and [n["id"] for n in saved["nodes"]] == ["checkout", "gateway"]
            assert errors == []

    async def _refuse_one_save_then_save(self, page: Page) -> None:
        """The server refuses one save: the status says so and stays until a later save succeeds."""
        changes = await page.evaluate_handle(
            "() => { const seen = []; document.addEventListener('kata:design-changed',"
            " e => seen.push(e.detail)); return seen; }"
        )

        async def refuse(route: Any) -> None:
            await route.fulfill(status=500, body="boom")

        await page.route("**/draft/", refuse)
        await self.connect(page, "checkout", "gateway")
        await expect(page.locator("#save-status .ws-status__save")).to_contain_text("Not saved:", timeout=5000)
        await expect(page.locator("#save-status")).to_have_class(re.compile(r"ws-status--bad"))
        assert await self._saved_design() is None
        await page.unroute("**/draft/")
        await page.focus(_node("gateway"))
        await page.keyboard.press("ArrowDown")
        await expect(page.locator("#save-status .ws-status__save")).to_have_text("Saved", timeout=5000)
        saved = await self._saved_design()
        assert saved is not None and saved["edges"] == [{"source": "checkout", "target": "gateway"}]
        assert await changes.evaluate("seen => seen.length") == 2
        assert await changes.evaluate("seen => seen[1].edges.length") == 1

    async def _colour_by_utilization(self, page: Page) -> None:
        """Utilization colouring for the live run."""
        await page.evaluate("() => window.KataEditor.setUtilization({checkout: 0.3, gateway: 0.74})")
        await expect(page.locator(_node("checkout"))).to_have_class(re.compile(r"\bnode--util-ok\b"))
        await expect(page.locator(_node("gateway"))).to_have_class(re.compile(r"\bnode--util-warm\b"))
        await expect(page.locator(f"{_node('gateway')} .node__badge text")).to_have_text("74 %")
        await page.evaluate("() => window.KataEditor.setUtilization({gateway: 0.93})")
        await expect(page.locator(_node("gateway"))).to_have_class(re.compile(r"\bnode--util-hot\b"))
        await expect(page.locator(_node("checkout"))).not_to_have_class(re.compile(r"node--util"))
        await page.evaluate("() => window.KataEditor.clearUtilization()")
        await expect(page.locator("#canvas .node--util")).to_have_count(0)
        await expect(page.locator(f"{_node('gateway')} .node__badge")).to_be_hidden()

    async def _read_only_refuses_edits(self, page: Page) -> None:
        """Read-only: selection and inspection still work, editing does not."""
        await page.evaluate("() => window.KataEditor.setReadOnly(true)")
        await expect(page.locator('.palette-item[data-part="lb"]')).to_be_disabled()
        assert await page.evaluate("() => window.KataEditor.selectNode('gateway')") is True
        await expect(page.locator('#inspector [data-node="gateway"]')).to_be_visible()
        await page.focus(_node("gateway"))
        await page.keyboard.press("Delete")
        await page.keyboard.press("ArrowRight")
        await page.keyboard.press("Control+z")
        design = await self._design(page)
        assert [n["id"] for n in design["nodes"]] == ["checkout", "gateway"] and len(design["edges"]) == 1
        assert await page.locator("#canvas .port--out").first.is_hidden()
        await page.evaluate("() => window.KataEditor.setReadOnly(false)")
        await expect(page.locator('.palette-item[data-part="lb"]')).to_be_enabled()

    async def _set_design_refits_the_view(self, page: Page) -> None:
        """setDesign replaces the document and refits the view so every part is visible; Undo brings it back."""
        await page.evaluate(
            """() => window.KataEditor.setDesign({nodes: [
                {id: 'checkout', part: 'checkout', params: {}, x: 40, y: 40},
                {id: 'api', part: 'intent_api', params: {instances: 2, concurrency: 8}, x: 2400, y: 1300}],
              edges: [{source: 'checkout', target: 'api'}]})"""
        )
        await expect(page.locator("#canvas .node")).to_have_count(2)
        await expect(page.locator(f"{_node('api')} .node__summary")).to_have_text("2 × 8")
        canvas = await page.locator("#canvas").bounding_box()
        api = await page.locator(_node("api")).bounding_box()
        assert canvas is not None and api is not None
        assert canvas["x"] <= api["x"] and api["x"] + api["width"] <= canvas["x"] + canvas["width"]
        assert canvas["y"] <= api["y"] and api["y"] + api["height"] <= canvas["y"] + canvas["height"]
        await page.click("#undo")
        await expect(page.locator(_node("gateway"))).to_have_count(1)

    async def test_failed_save_is_shown_and_retried_and_the_live_run_api_colours_parts(self) -> None:
        async with self.page() as page:
            errors = await self._open_workspace(page)
            await self._refuse_one_save_then_save(page)
            await self._colour_by_utilization(page)
            await self._read_only_refuses_edits(page)
            await self._set_design_refits_the_view(page)
            assert errors == [
                "Failed to load resource: the server responded with a status of 500 (Internal Server Error)"]

    async def test_a_saved_attempt_shows_its_design_read_only(self) -> None:
        design = json.loads(REFERENCE.read_text(encoding="utf-8"))
        attempt = await sync_to_async(Attempt.objects.create)(learner=self.learner, kata=self.kata, design=design)
        async with self.page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await self.log_in(page, "learner", PASSWORD)
            await page.goto(f"{self.live_server_url}/attempts/{attempt.pk}/")
            await expect(page.locator("#canvas .node")).to_have_count(len(design["nodes"]))
            await expect(page.locator("#canvas path.edge")).to_have_count(len(design["edges"]))
            await expect(page.locator(f"{_node('queue')} .node__summary")).to_have_text("cap 60000 · 5 tries")
            assert await page.locator("#canvas .port--out").first.is_hidden()
            await page.focus(_node("queue"))
            await page.keyboard.press("Enter")
            await expect(page.locator(_node("queue"))).to_have_class(re.compile(r"\bnode--selected\b"))
            await page.keyboard.press("Delete")
            await page.keyboard.press("ArrowDown")
            assert await self._design(page) == await page.evaluate(
                "() => JSON.parse(document.getElementById('design-data').textContent)"
            )
            assert errors == []


class EditorInDevelopmentModeTests(EditorInBrowserTests):
    """The same editor, served as `make run` serves it (DEBUG on): an invalid form is answered in place there too."""

    ProtocolServerProcess = DevelopmentDaphneProcess
