"""Headless Chromium for the browser tests: Debian's `chromium`, driven by Playwright.

Never `playwright install`: no browser downloads here. Without chromium a browser test skips
locally; under CI=true it fails instead (`browser_marks`).
"""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The network here is closed: without these Chromium's background services stall page loads.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_browser() -> str | None:
    """Return why no browser test can run here, or None when Playwright and chromium are here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not os.path.exists(CHROMIUM):
        return "no chromium: apt-get install chromium (bash .ci/run does it)"
    return None


MISSING = missing_browser()
# A browser test module sets `pytestmark = browser_marks`; CI must run it (see `require`).
browser_marks = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING) and not os.environ.get("CI"), reason=str(MISSING)),
]


def require() -> None:
    """Fail a browser test that CI reached without a browser (skipping there would hide it)."""
    if MISSING:
        pytest.fail(f"CI must run the browser test: {MISSING}")


def launch(playwright):
    """Return a headless Chromium browser with the closed-network arguments."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def image_sizes(page) -> list[dict]:
    """Return each <img> of the page: its alt, natural width (0 if not loaded) and shown width."""
    return page.evaluate(
        "() => [...document.images].map(i => "
        "({alt: i.alt, naturalWidth: i.naturalWidth, shownWidth: i.getBoundingClientRect().width}))"
    )
