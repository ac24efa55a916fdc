from __future__ import annotations

from kata.models import Kata
from tests.browser.harness import BrowserTestCase
from tests.personas import PASSWORD, make_persona


class HomePageInBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        make_persona("learner")
        Kata.objects.create(slug="clearpay", title="ClearPay", summary="Payment handshake.", published=True)

    async def test_learner_logs_in_and_opens_a_kata_from_the_list(self) -> None:
        async with self.page() as page:
            await self.log_in(page, "learner", PASSWORD)
            assert await page.text_content('[data-testid="current-user"]') == "learner"
            # Stylesheet served by WhiteNoise / static handler: the top bar is dark, not unstyled.
            background = await page.eval_on_selector(".topbar", "el => getComputedStyle(el).backgroundColor")
            assert background == "rgb(23, 32, 42)"
            assert await page.evaluate("() => typeof window.htmx") == "object", "htmx must load from our static files"
            await self.screenshot(page, "home")
            await page.click("text=ClearPay")
            await page.wait_for_url("**/katas/clearpay/")
            assert await page.text_content("h1") == "ClearPay"

    async def test_wrong_password_shows_an_error(self) -> None:
        async with self.page() as page:
            await page.goto(f"{self.live_server_url}/accounts/login/")
            await page.fill("#id_username", "learner")
            await page.fill("#id_password", "not-the-password")
            await page.click("button[type=submit]")
            alert = await page.wait_for_selector("[role=alert]")
            assert "correct username and password" in (await alert.text_content() or "")
