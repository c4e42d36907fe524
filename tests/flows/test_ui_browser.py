"""Headless Chromium finds a `cae run` in the local Prefect UI and reads its markdown summary.

Debian's `chromium` driven by Playwright (tests/support/browser.py). Without chromium the test
skips locally; under CI=true it fails instead.
"""

import subprocess

import pytest

from cae.runs import outputs
from tests.support.browser import browser_marks, image_sizes, launch, require
from tests.support.pipeline_fixtures import market_prices, write_prices
from tests.support.prefect_server import CAE_CLI

UI_TIMEOUT_MS = 30_000  # one page step; they take well under a second on an idle server
RUN_TIMEOUT_S = 300  # `cae run` on the small market takes about 20 s here

pytestmark = browser_marks


@pytest.fixture(scope="module")
def cae_run(live_prefect_server, tmp_path_factory):
    """One `cae run` against the live server; the run names it logged and its run id."""
    work = tmp_path_factory.mktemp("ui_run")
    source = write_prices(market_prices(), work / "prices.csv")
    args = ["run", "--home", str(work / "home"), "--source", str(source)]
    args += ["--model", "CA0", "--model", "pca", "--windows", "60,15,20"]
    args += ["--epochs", "2", "--seeds", "1", "--factors", "2"]
    done = subprocess.run(
        [*CAE_CLI, *args],
        env=live_prefect_server.env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_id,) = outputs.read_table(work / "home", "runs")["run_id"].to_list()
    # The flows rename their runs after the cae run id (flows.names).
    return {"daily": f"daily {run_id}", "publish": f"publish {run_id}", "run_id": run_id}


def test_the_ui_shows_the_daily_runs_markdown_summary(live_prefect_server, cae_run, tmp_path):
    require()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{live_prefect_server.url}/runs")
            # Searching the cae run id finds its flow runs.
            page.get_by_role("searchbox", name="Search by flow run name").fill(cae_run["run_id"])
            page.get_by_role("link", name=cae_run["daily"], exact=True).click()
            expect(page.get_by_role("link", name="daily", exact=True)).to_be_visible()
            # The summary belongs to the `publish` subflow the daily run started.
            page.get_by_text("Subflow Runs", exact=True).click()
            page.get_by_role("link", name=cae_run["publish"], exact=True).click()
            page.get_by_text("Artifacts", exact=True).click()
            page.get_by_text("cae-run-summary", exact=True).click()
            expect(page.get_by_role("heading", name=f"cae run {cae_run['run_id']}")).to_be_visible()
            heading = f"Out-of-sample R2 (%), pooled over test blocks, run {cae_run['run_id']}"
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
            table = page.get_by_role("table").first
            expect(table.get_by_role("cell", name="pca", exact=True)).to_be_visible()
            expect(table.get_by_role("cell", name="CA0", exact=True)).to_be_visible()
            # The plots show inline: each image is in the page and its PNG decoded.
            plot = page.get_by_role("img", name="r2_by_window", exact=True)
            expect(plot).to_be_visible()
            plot.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => [...document.images].filter(i => i.alt).every(i => i.complete)"
            )
            shown = {i["alt"]: i["naturalWidth"] for i in image_sizes(page) if i["alt"]}
            assert {"cumulative_factors", "r2_by_window"} <= set(shown)
            assert all(width > 0 for width in shown.values()), shown
        except Exception as error:
            shot = tmp_path / "prefect_ui_failure.png"
            page.screenshot(path=str(shot), full_page=True)
            raise AssertionError(f"{error}\nscreenshot: {shot}") from error
        finally:
            browser.close()
