"""Headless Chromium for the leaderboard page tests: Debian's chromium driven through Debian's
chromedriver (selenium), with a fresh profile and Chromium's network features off, and every
process it started ended afterwards (by process id, the ones started for it alone)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)


def missing() -> str | None:
    """Why the browser cannot start here, or None."""
    absent = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def _process(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[19]


def _descendants(root: int) -> dict[int, str]:
    """The processes under ``root``, and ``root`` itself: pid -> start time."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _process(int(entry.name))) is not None:
            table[int(entry.name)] = info
    found = {root: table[root][1]} if root in table else {}
    grew = True
    while grew:
        grew = False
        for pid, (parent, started) in table.items():
            if parent in found and pid not in found:
                found[pid] = started
                grew = True
    return found


def _end(processes: dict[int, str], wait: float = 10.0) -> None:
    """Wait for these processes to end, then kill those left (the same pid and start time)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        alive = {p for p, started in processes.items() if (_process(p) or (0, ""))[1] == started}
        if not alive:
            return
        time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def chromium(folder: Path) -> Iterator[Any]:
    """A selenium driver of a headless Chromium whose profile and driver log are in
    ``folder``; quit, and every process it started ended, on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in (*FLAGS, f"--user-data-dir={folder / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(shutil.which("chromedriver")), log_output=str(folder / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    started = _descendants(service.process.pid)
    try:
        yield driver
    finally:
        started.update(_descendants(service.process.pid))
        try:
            driver.quit()
        finally:
            _end(started)
