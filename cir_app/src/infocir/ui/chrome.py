"""Headless Chromium options for driving the dashboard: the browser tests, ``scripts/screenshots.py`` and
``benchmarks/browser_search_latency.py``. Debian's ``chromium`` with its matching ``chromedriver``;
selenium comes with the ``test`` extra and is imported only when this is called."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

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


def chrome_options(profile: str | Path, width: int = 1440, height: int = 900):
    """``selenium.webdriver.ChromeOptions``: headless, no network chatter, the given window size, and its profile in
    ``profile`` (a fresh folder the caller owns and removes: a profile is ~14 MB and must not pile up in /tmp)."""
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.binary_location = "/usr/bin/chromium"
    return opts


def start_chromium(width: int = 1440, height: int = 900):
    """A headless Chromium driver (``chrome_options``) in a fresh temporary profile that is removed when the
    driver is garbage-collected or the interpreter exits (after ``quit()``)."""
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="infocir-chrome-")
    try:
        driver = webdriver.Chrome(options=chrome_options(profile, width, height))
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    weakref.finalize(driver, shutil.rmtree, profile, True)
    return driver
