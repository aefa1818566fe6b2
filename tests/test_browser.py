"""What a product manager sees: the Jira issue page after a sync, in a real browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from decimal import Decimal

import pytest

from connectors.settings import Settings
from flows.pipeline import run_cycle
from models.records import money
from store import Store
from tests.oracle import expected_demand

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no headless Chromium: install Debian's chromium and chromium-driver "
    "(.ci/run does) to run the browser test",
)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or ""), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_issue_page_shows_the_headline_and_the_customer_table(
    browser, settings: Settings, store: Store, sandbox_url: str
) -> None:
    """After a sync, the top issue's page shows the headline numbers and the customers."""
    from selenium.webdriver.common.by import By

    run_cycle(settings, store)
    key, want = max(expected_demand(sandbox_url).items(), key=lambda kv: kv[1]["requests"])
    browser.get(f"{sandbox_url}/jira/browse/{key}")
    page = browser.find_element(By.TAG_NAME, "body").text
    headline = (
        f"{want['requests']} requests from {want['customers']} customers, "
        f"{money(Decimal(want['revenue']))} revenue, "
        f"{money(Decimal(want['open_pipeline']))} open pipeline"
    )
    assert headline in page
    tables = browser.find_elements(By.TAG_NAME, "table")
    headers = [cell.text for table in tables for cell in table.find_elements(By.TAG_NAME, "th")]
    assert {"Customer", "Requests", "Revenue", "Open deals"} <= set(headers)
    rows = [r for t in tables for r in t.find_elements(By.TAG_NAME, "tr")]
    assert any(row.is_displayed() and row.find_elements(By.TAG_NAME, "td") for row in rows)
    if os.environ.get("PMSYNC_SCREENSHOT"):
        browser.save_screenshot(os.environ["PMSYNC_SCREENSHOT"])
