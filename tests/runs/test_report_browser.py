"""Headless Chromium opens the report `cae report` wrote and looks at the rendered page.

The page, not the HTML string: the sections' headings, the R2 grid's cells, and each figure
decoded (natural width) and drawn at the page's width (narrower on a narrow window).
"""

from pathlib import Path

import pytest

from cae import cli
from cae.runs import outputs, plots
from tests.support import fake_outputs as fake
from tests.support.browser import browser_marks, image_sizes, launch, require

pytestmark = browser_marks

NARROW, WIDE = 700, 1400  # viewport widths, px
HEADINGS = (
    "Out-of-sample R² (%)",
    "Total R²",
    "Predictive R²",
    "Pooled over test blocks",
    "Cumulative factor returns",
    "R² by window",
    "Long-short portfolios",
    "Pricing errors",
    "Characteristic importance",
    "Windows",
    "Configuration",
)
FIGURES = [
    "Cumulative factor returns",
    "R² by window",
    "Long-short portfolios",
    "Pricing errors",
    "Characteristic importance",
    "Beta distributions",
]


@pytest.fixture
def report_file(tmp_path, capsys):
    """The report of the latest run, written by `cae report` with no run id."""
    home = tmp_path / "home"
    with outputs.run(home, {"model": "ca1"}) as run_id:
        for table, frame in fake.all_tables().items():
            outputs.write_table(home, run_id, table, frame)
    assert cli.main(["report", "--home", str(home)]) == 0
    return Path(capsys.readouterr().out.strip()), run_id


def _png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_the_report_renders_every_section_with_figures_at_page_width(report_file, tmp_path):
    require()
    from playwright.sync_api import expect, sync_playwright

    path, run_id = report_file
    shown = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for width in (NARROW, WIDE):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(path.as_uri())
                page.wait_for_function("() => [...document.images].every(i => i.complete)")
                expect(page.get_by_role("heading", name=f"cae run {run_id}")).to_be_visible()
                for name in HEADINGS:
                    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
                grid = page.locator("h3", has_text="Total R²").locator(
                    "xpath=following-sibling::div[1]//table"
                )
                header = grid.locator("th").all_inner_texts()
                assert header == ["window", "test_start", "test_end", "ca1", "pca"]
                # fake.metrics(): window 0 total R2 0.10 (ca1) and 0.20 (pca); pooled last.
                rows = grid.locator("tr")
                assert rows.nth(1).locator("td").all_inner_texts()[3:] == ["10.00", "20.00"]
                assert rows.last.locator("td").all_inner_texts()[0] == "all"
                images = image_sizes(page)
                assert [i["alt"] for i in images] == FIGURES
                assert all(i["naturalWidth"] == plots.FIGURE_WIDTH_IN * plots.DPI for i in images)
                shown[width] = [i["shownWidth"] for i in images]
                shot = tmp_path / f"report_{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert _png_width(shot) == width
                page.close()
        finally:
            browser.close()
    # Figures follow the page: within a narrow window, and wider on a wide one.
    assert all(0 < w < NARROW for w in shown[NARROW]), shown
    assert all(w > 1.5 * n for w, n in zip(shown[WIDE], shown[NARROW], strict=True)), shown
