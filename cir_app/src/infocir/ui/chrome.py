"""Headless Chromium options for driving the dashboard: the browser tests, ``scripts/screenshots.py`` and
``benchmarks/browser_search_latency.py``. Debian's ``chromium`` with its matching ``chromedriver``;
selenium comes with the ``test`` extra and is imported only when this is called."""

from __future__ import annotations

import tempfile

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chrome_options(width: int = 1440, height: int = 900):
    """``selenium.webdriver.ChromeOptions``: headless, no network chatter, a fresh profile, the given window size."""
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='infocir-chrome-')}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.binary_location = "/usr/bin/chromium"
    return opts
