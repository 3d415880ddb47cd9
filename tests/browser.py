"""A real headless browser for tests and benchmarks: Debian's chromium, driven by selenium.

:func:`chromium_missing` says why no browser can be started here (the tests then skip with that
reason); :func:`launch` starts one with a fresh profile and every background connection off (the
sandbox refuses them otherwise), and :func:`open_report` loads an HTML report from disk and waits
for the page's ``ready`` mark.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
"""The flags chromium is started with (with a fresh ``--user-data-dir``)."""
INSTALL_HINT = "install it with: apt-get install -y chromium chromium-driver (selenium: pip install -e '.[test]')"


def _binaries() -> tuple[str | None, str | None]:
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def chromium_missing() -> str | None:
    """Why no headless chromium can be driven here (None if one can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed; {INSTALL_HINT}"
    browser, driver = _binaries()
    if browser is None:
        return f"chromium was not found on PATH; {INSTALL_HINT}"
    if driver is None:
        return f"chromedriver was not found on PATH; {INSTALL_HINT}"
    return None


def version() -> str:
    """The chromium version line (``Chromium 156.0.8078.114 built on Debian ...``)."""
    browser, _ = _binaries()
    done = subprocess.run([browser or "chromium", "--version"], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "unknown"


def launch(width: int = 1280, height: int = 1000) -> Any:
    """A headless chromium (a selenium WebDriver) with a ``width`` x ``height`` window; quit it when done.

    The drivers are the ones on PATH (selenium is never left to download one).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser  # type: ignore[assignment]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    profile = tempfile.mkdtemp(prefix="contrique-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    chrome = webdriver.Chrome(options=options, service=Service(driver))  # type: ignore[arg-type]
    chrome.set_page_load_timeout(120)
    chrome.set_script_timeout(120)
    chrome.profile_dir = profile  # removed by close()
    return chrome


def close(chrome: Any) -> None:
    """Quit ``chrome`` and remove its profile."""
    chrome.quit()
    shutil.rmtree(chrome.profile_dir, ignore_errors=True)


def open_report(chrome: Any, path: Path, timeout: float = 120) -> float:
    """Load the report ``path`` from disk and wait for its script's ``ready`` mark.

    Returns:
        Milliseconds from the start of the navigation to the ``report-ready`` mark (the page's
        data parsed, its first cards built, laid out and painted).
    """
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(path.resolve().as_uri())
    WebDriverWait(chrome, timeout).until(
        lambda c: c.execute_script("return document.documentElement.dataset.ready === 'true'"))
    return float(chrome.execute_script("return performance.getEntriesByName('report-ready')[0].startTime"))
