"""The instructor's walk-through in a real browser: the kata's admin page fits 1440 px with every part's parameters
on it; the design on the workspace's canvas is saved as one that must fail; "Save, check and publish" checks in the
background with progress on the page and publishes the change when it passes."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import Permission
from playwright.async_api import expect

from kata import services
from kata.models import Kata, Scenario
from tests.browser.harness import BrowserTestCase
from tests.personas import PASSWORD, make_persona

ROOT = Path(__file__).resolve().parents[2]
CHECK_MS = 180_000


class InstructorTests(BrowserTestCase):
    def setUp(self) -> None:
        instructor = make_persona("instructor")
        # A live-server test's flush empties the groups the data migrations filled: give the permissions here.
        instructor.user_permissions.add(*Permission.objects.filter(content_type__app_label="kata", codename__regex=(
            r"^(view|change|add|delete)_(kata|parttype|partparameter|trafficsource|scenario|mustfaildesign)$"
            r"|^view_(kataversion|katacheck|attempt|run)$")))
        services.kata_load_fixture(path=ROOT / "fixtures" / "clearpay" / "kata.json")
        self.kata, _ = services.kata_load_fixture(path=ROOT / "fixtures" / "status-cache" / "kata.json")
        self.kata.must_fail.all().delete()

    async def test_the_kata_admin_page_fits_1440_pixels(self) -> None:
        clearpay = await Kata.objects.aget(slug="clearpay")
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "instructor", PASSWORD)
            await page.goto(f"{self.live_server_url}/admin/kata/kata/{clearpay.pk}/change/")
            await expect(page.locator('[data-testid="check-panel"]')).to_contain_text("Live: version 1")
            await expect(page.locator('[data-testid="part-parameters"]')).to_have_count(
                await clearpay.parts.acount() + 1)
            width = await page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 1440, f"the kata page is {width} px wide"
            await page.locator('[data-testid="part-parameters"]').nth(3).scroll_into_view_if_needed()
            await self.screenshot(page, "instructor-kata-admin")

    async def test_draw_a_must_fail_design_then_check_and_publish_a_change(self) -> None:
        async with self.page(width=1440, height=1000) as page:
            await self.log_in(page, "instructor", PASSWORD)
            await page.goto(f"{self.live_server_url}/katas/{self.kata.slug}/workspace/")
            # The design on the canvas (drawing itself is tests/browser/test_editor_browser.py's): no cache.
            no_cache = (ROOT / "fixtures" / "status-cache" / "designs" / "no-cache.json").read_text()
            await page.evaluate("(d) => window.KataEditor.setDesign(JSON.parse(d))", no_cache)
            tools = page.locator('[data-testid="author-tools"]')
            await tools.locator("summary").click()
            await tools.locator('input[name="title"]').fill("no cache")
            await tools.locator('input[name="fails"][value="1"]').check()
            await tools.locator('input[name="fails"][value="4"]').check()
            await tools.locator('textarea[name="why"]').fill("every read goes to the database")
            await self.screenshot(page, "instructor-workspace-save")
            await tools.locator('[data-testid="save-must-fail"]').click()
            await expect(page.locator(".flash")).to_contain_text("Saved “no cache” as a design that must fail")
            assert await self.kata.must_fail.acount() == 1

            await Scenario.objects.filter(kata=self.kata, order=1).aupdate(threshold=90)
            await page.goto(f"{self.live_server_url}/admin/kata/kata/{self.kata.pk}/change/")
            await expect(page.locator('[data-testid="pending-changes"]')).to_contain_text(
                "p99 accept latency ≤ 80 ms → p99 accept latency ≤ 90 ms")
            await page.click('input[name="_check_publish"]')
            panel = page.locator('[data-testid="check-panel"]')
            await expect(panel).to_be_visible()
            # The page polls its panel while the check runs: the report appears without a reload.
            await expect(page.locator('[data-testid="check-status"]')).to_have_attribute(
                "data-status", "passed", timeout=CHECK_MS)
            await expect(page.locator('[data-testid="check-message"]')).to_contain_text("Published as version 2")
            await expect(panel).to_contain_text("Must fail: no cache")
            await expect(panel).to_contain_text("Live: version 2")
            await self.screenshot(page, "instructor-check-passed")
