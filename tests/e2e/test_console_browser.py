"""The web console in a real browser (Debian's headless Chromium, driven by Playwright) against the local stack:
served by the gateway itself, people sign in at the local sign-in provider (as at Cognito's hosted UI), read
their inbox, reply, and watch statuses, inbound messages and quota gauges move. Each page's screenshot is
written to docs/console/ (linked from docs/api.md, "Console").

Chromium is never downloaded: the tests use /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it)
and fail, not skip, without it."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from aircall_sms.domain import segments

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
FR_MOBILE = 100004
CONTACT = "+33612340019"
AGENT = "agent@example.com"
SUPERVISOR = "supervisor@example.com"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB", timezone_id="UTC")
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def number(api: httpx.Client) -> dict[str, Any]:
    answer = api.put(f"/numbers/{FR_MOBILE}", json={"mode": "proxy"})
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json()["number"])


def sign_in(page: Page, stack: Any, email: str = AGENT, *, screenshot: bool = False) -> None:
    page.goto(stack.console_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    if screenshot:
        page.screenshot(path=SCREENSHOTS / "sign-in.png")
    page.get_by_role("button", name="Sign in").click()
    # The provider's own page (Cognito's hosted UI deployed; the local sign-in provider here)
    expect(page).to_have_url(re.compile(re.escape(stack.sign_in_url) + "/oauth2/authorize"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(stack.console_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#person")).to_be_visible()


UNLABELLED = """() => [...document.querySelectorAll("input:not([type=hidden]), textarea, select, button")]
    .filter((control) => !(control.labels && control.labels.length) && !control.getAttribute("aria-label")
        && !control.textContent.trim())
    .map((control) => control.outerHTML)"""


def assert_every_control_is_labelled(page: Page) -> None:
    assert page.evaluate(UNLABELLED) == []


def inbound(aircall: httpx.Client, text: str, sender: str = CONTACT) -> None:
    answer = aircall.post("/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": sender, "body": text})
    assert answer.status_code in (200, 201), answer.text
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()


def test_the_console_is_served_by_the_gateway_with_its_security_headers(stack):
    page = httpx.get(f"{stack.console_url}/index.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{stack.console_url}/app.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(stack.console_url).headers["location"] == "console/index.html"
    assert httpx.get(f"{stack.console_url}/config.json").json()["sign_in"]["client_id"] == "console"
    for escape in ("%2e%2e/app.py", "..%2fapp.py", "app.py", ".hidden.js", "pages"):
        assert httpx.get(f"{stack.console_url}/{escape}").status_code == 404, escape


def test_a_wrong_password_is_refused_at_the_provider(stack, context):
    page = context.new_page()
    page.goto(stack.console_url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("E-mail").fill(AGENT)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect e-mail or password.")


def test_sign_in_read_an_inbound_message_reply_and_see_it_delivered(stack, api, aircall, number, context):
    # Given a contact who wrote to the number
    inbound(aircall, "Bonjour, mon colis est-il parti ?")
    page = context.new_page()
    # When an agent signs in
    sign_in(page, stack, screenshot=True)
    expect(page.locator("#person")).to_have_text("Alice Agent")
    # Then the inbox shows the conversation, unread, under its number
    conversation = page.locator(f'li.conversation[data-contact="{CONTACT}"]')
    expect(conversation).to_have_class(re.compile(r"\bunread\b"))
    expect(conversation).to_contain_text("mon colis")
    page.screenshot(path=SCREENSHOTS / "inbox.png", full_page=True)

    # When they open the thread (keyboard: the conversation is a link)
    conversation.get_by_role("link").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=CONTACT)).to_be_visible()
    expect(page.locator("#thread li.inbound").last).to_contain_text("mon colis")
    expect(page.locator("#thread li.inbound").last.locator(".status")).to_have_text("received")

    # And type a reply with typographic characters: the segment count and encoding follow, the characters named
    reply = page.get_by_label(re.compile("Reply to"))
    reply.fill("C’est parti – livraison demain…")
    assert_every_control_is_labelled(page)
    expect(page.locator("#reply-count")).to_contain_text("1 segment · UCS-2")
    non_gsm = page.locator(".non-gsm-list li")
    expect(non_gsm).to_have_text(
        ["’ U+2019 RIGHT SINGLE QUOTATION MARK", "– U+2013 EN DASH", "… U+2026 HORIZONTAL ELLIPSIS"]
    )
    page.screenshot(path=SCREENSHOTS / "reply-non-gsm.png", full_page=True)
    # And replace them in one click
    page.locator("#reply-replace").click()
    expect(reply).to_have_value("C'est parti - livraison demain...")
    expect(page.locator("#reply-count")).to_contain_text("1 segment · GSM-7")
    expect(page.locator(".non-gsm")).to_have_count(0)
    page.get_by_role("button", name="Send").click()

    # Then the reply is in the thread, written by the person, and moves to delivered on the sandbox's callbacks
    sent = page.locator("#thread li.outbound", has_text="livraison demain")
    expect(sent).to_contain_text("by Alice Agent")
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
    expect(sent.locator(".status")).to_have_text("delivered")
    sent.get_by_text("Delivery history").click()
    expect(sent.locator(".history li")).to_have_count(4)
    page.screenshot(path=SCREENSHOTS / "thread.png", full_page=True)

    # And the archive records the person: client_id person:<their id>, human_author their name
    message_id = sent.get_attribute("data-id")
    archived = api.get(f"/messages/{message_id}").json()["message"]
    assert archived["human_author"] == "Alice Agent"
    assert archived["client_id"].startswith("person:")
    assert AGENT not in archived["client_id"]  # an id, not the e-mail (which would reach the access logs)

    # When the contact answers while the thread is open, the answer appears by itself
    inbound(aircall, "Merci beaucoup !")
    expect(page.locator("#thread li.inbound", has_text="Merci beaucoup")).to_be_visible()


def test_a_person_cannot_write_under_another_name(stack, api, number):
    provider = stack.identity.provider
    token = provider.tokens_for(provider.people[AGENT])["id_token"]
    answer = httpx.post(
        f"{stack.api_url}/messages",
        headers={"Authorization": f"Bearer {token}"},
        json={"from": FR_MOBILE, "to": CONTACT, "text": "Signed", "human_author": "Someone Else"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["message"]["human_author"] == "Alice Agent"
    # And an agent's token has the agents' scopes only
    refused = httpx.get(f"{stack.api_url}/api-keys", headers={"Authorization": f"Bearer {token}"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")


def test_the_numbers_page_shows_the_quota_gauges_move_after_a_send(stack, api, aircall, number, context):
    page = context.new_page()
    sign_in(page, stack)
    page.get_by_role("link", name="Numbers").click()
    card = page.locator(f'section.card[data-number-id="{FR_MOBILE}"]')
    expect(card).to_contain_text("proxy")
    hour = card.locator(f'[data-gauge="{FR_MOBILE}-hour"]')
    expect(hour).to_be_visible()
    used = int(hour.get_attribute("data-used") or "0")
    described = re.compile(r"This hour \(segments\): \d+ of \d+ used")
    expect(hour.get_by_role("img")).to_have_attribute("aria-label", described)
    expect(page.locator('[data-gauge="company"]')).to_contain_text("This minute")
    # When a message goes out from the number
    inbound(aircall, "Vous êtes là ?")
    sent = api.post("/messages", json={"from": FR_MOBILE, "to": CONTACT, "text": "Oui !", "human_author": "Camille"})
    assert sent.status_code == 201, sent.text
    # Then the hour's gauge shows the segment used, without reloading the page
    expect(hour).to_have_attribute("data-used", str(used + 1))
    page.screenshot(path=SCREENSHOTS / "numbers.png", full_page=True)


def test_the_usage_page_charts_the_month(stack, api, number, context):
    api.post("/messages", json={"from": FR_MOBILE, "to": CONTACT, "text": "Usage", "human_author": "Camille"})
    page = context.new_page()
    sign_in(page, stack)
    page.get_by_role("link", name="Usage").click()
    chart = page.locator("#chart-numbers svg")
    expect(chart).to_have_attribute("aria-label", re.compile(rf"{FR_MOBILE} [1-9]"))
    expect(page.locator("#chart-days svg rect").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "usage.png", full_page=True)


def test_contacts_erasure_asks_first_and_needs_the_contacts_scope(stack, api, aircall, number, context):
    erased = "+33612340029"
    inbound(aircall, "Effacez-moi", sender=erased)
    page = context.new_page()
    sign_in(page, stack, SUPERVISOR)
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Phone number").fill(erased)
    assert_every_control_is_labelled(page)
    # Cancelling erases nothing
    page.get_by_role("button", name="Erase…").click()
    expect(page.get_by_role("dialog")).to_contain_text("Erase this contact?")
    page.get_by_role("button", name="Cancel").click()
    assert api.get("/messages", params={"number_id": FR_MOBILE, "contact": erased}).json()["items"]
    # Confirming erases the contact's messages
    page.get_by_role("button", name="Erase…").click()
    page.screenshot(path=SCREENSHOTS / "contacts-erase.png", full_page=True)
    page.get_by_role("button", name="Erase", exact=True).click()
    expect(page.locator("#erase-result")).to_contain_text("Erased")
    assert api.get("/messages", params={"number_id": FR_MOBILE, "contact": erased}).json()["items"] == []
    page.screenshot(path=SCREENSHOTS / "contacts.png", full_page=True)


def test_an_agent_may_not_erase(stack, api, aircall, number, context):
    page = context.new_page()
    sign_in(page, stack, AGENT)
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Phone number").fill(CONTACT)
    page.get_by_role("button", name="Erase…").click()
    page.get_by_role("button", name="Erase", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("insufficient_scope")


def test_the_inbox_works_on_a_phone_sized_screen(stack, aircall, number, browser):
    inbound(aircall, "Depuis mon téléphone")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        sign_in(page, stack)
        conversation = page.locator(f'li.conversation[data-contact="{CONTACT}"]')
        expect(conversation).to_be_visible()
        # Nothing wider than the screen: no horizontal scrolling
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=SCREENSHOTS / "inbox-phone.png", full_page=True)
    finally:
        phone.close()


def test_the_console_counts_segments_as_the_gateway_does(stack, context):
    generator = random.Random(19)
    alphabet = (
        "abcXYZ019 @£$\n"
        + "".join(sorted(segments.GSM_EXTENSION))
        + "".join(list(segments.GSM_EQUIVALENTS)[:20])
        + "éàçÉñ€ΩЖ中😀👍🏽"
    )
    texts = ["", "a" * 160, "a" * 161, "€" * 80, "a" * 152 + "€", "é" * 70, "😀" * 35, "a" * 66 + "😀", "“x” – y…"]
    texts += ["".join(generator.choice(alphabet) for _ in range(generator.randint(1, 400))) for _ in range(300)]
    page = context.new_page()
    page.goto(f"{stack.console_url}/index.html")
    found = page.evaluate(
        """async (texts) => {
            const module = await import("./segments.js");
            return texts.map((text) => [module.count(text), module.suggestGsm(text)]);
        }""",
        texts,
    )
    for text, (counted, suggested) in zip(texts, found, strict=True):
        assert counted == segments.count(text).to_dict(), text
        assert suggested == json.loads(json.dumps(segments.suggest_gsm(text).to_dict())), text
