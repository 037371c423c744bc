"""GET /docs (Swagger UI) in a real browser (headless Chromium, driven by Playwright) against the local stack, as
a person opens it: the page loads with no key (a browser sends none with a page load), runs under its
Content-Security-Policy without a violation, asks for a client key, loads the OpenAPI document with it and
sends it with "Try it out" requests. Over plain HTTP: the page is open, the document still needs the key.

Chromium is never downloaded: /usr/bin/chromium (`apt-get install chromium`); the test fails, not skips, without
it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from local_stack.stack import LocalStack
from tests.e2e.test_console_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_the_page_is_open_and_the_document_is_not(stack: LocalStack) -> None:
    page = httpx.get(f"{stack.api_url}/docs", timeout=30)
    assert page.status_code == 200, page.text[:300]
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in page.headers["content-security-policy"]
    assert httpx.get(f"{stack.api_url}/openapi.json", timeout=30).status_code == 401


def test_swagger_ui_loads_the_document_with_the_key_typed_in_and_tries_a_route(
    stack: LocalStack, browser: Browser
) -> None:
    context = browser.new_context()
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response", lambda answer: problems.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None
    )

    # Given the page, opened as a browser opens it (no key)
    page.goto(f"{stack.api_url}/docs")
    # When the person types a key
    page.get_by_label("Client key").fill(stack.api_key)
    page.get_by_role("button", name="Load the API document").click()

    # Then the document loads and every operation is listed
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() >= 20
    expect(page.locator("#swagger-ui")).to_contain_text("aircall-sms-gateway")

    # And "Try it out" on GET /health and GET /numbers answers 200 with the key sent for the person
    with page.expect_response(lambda answer: answer.url.endswith("/numbers")) as listed:
        block = page.locator("#operations-numbers-listNumbers")
        block.locator(".opblock-summary").click()
        block.get_by_role("button", name="Try it out").click()
        block.get_by_role("button", name="Execute").click()
    assert listed.value.status == 200
    assert listed.value.request.headers.get("x-api-key") == stack.api_key
    assert not problems, problems  # no CSP violation, no script error
    context.close()
