"""The report page as a product manager opens it: a real (headless) browser, no server."""

from __future__ import annotations

import os
from decimal import Decimal

from connectors.settings import Settings
from flows.pipeline import run_cycle
from linking.report import Report
from models.records import money
from pmsync.report_cmd import gather
from pmsync.report_html import render
from store import Store
from tests.oracle import expected_demand
from tests.test_browser import browser, pytestmark  # noqa: F401  (fixture; skips without Chromium)


def test_the_report_page_shows_the_tickets_numbers(
    browser,  # noqa: F811  (the fixture imported above)
    settings: Settings,
    store: Store,
    sandbox_url: str,
    tmp_path,
) -> None:
    """Opened from the file, the ranked table shows every issue with the oracle's requests,
    customers, revenue and pipeline; the charts are drawn."""
    from datetime import UTC, datetime

    from selenium.webdriver.common.by import By

    run_cycle(settings, store)
    report: Report = gather(settings, store)
    page = tmp_path / "report.html"
    page.write_text(
        render(
            report,
            store.ledger.demand_history(),
            generated=datetime.now(UTC),
            described="test",
            themes=[],
        )
    )
    browser.get(page.as_uri())
    want = expected_demand(sandbox_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")
    assert len(rows) == len(want)
    for row in rows:
        key = row.get_attribute("data-key")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1] == key
        w = want[key]
        assert cells[4:8] == [
            str(w["requests"]),
            str(w["customers"]),
            money(Decimal(w["revenue"]), report.currency),
            money(Decimal(w["open_pipeline"]), report.currency),
        ], key
    for chart in ("over-time", "scatter", "customers"):
        svg = browser.find_element(By.ID, chart)
        assert svg.is_displayed() and svg.size["width"] > 300, chart
    dots = browser.find_elements(By.CSS_SELECTOR, "#scatter circle")
    assert len(dots) == len(want)
    if os.environ.get("PMSYNC_SCREENSHOT"):
        browser.save_screenshot(os.environ["PMSYNC_SCREENSHOT"])
