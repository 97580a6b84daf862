"""What the browser test needs, and the one line that says what is missing.

`python -m tests.browser.needs` prints `SKIP browser test: <the missing piece> (<how to get it>)`
and exits 1 when something is missing, prints nothing and exits 0 when all is there. The test
itself skips with the same reason. Honoured: DUOLAB_BROWSER=skip, CHROMIUM and CHROMEDRIVER
(paths to the binaries; default: `chromium` and `chromedriver` on PATH).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

APT = "apt-get install chromium chromium-driver"


def _binary(env: str, name: str) -> str | None:
    path = os.environ.get(env) or shutil.which(name)
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def chromium() -> str | None:
    return _binary("CHROMIUM", "chromium")


def chromedriver() -> str | None:
    return _binary("CHROMEDRIVER", "chromedriver")


def missing() -> str | None:
    """The first missing piece, in words, or None."""
    if os.environ.get("DUOLAB_BROWSER", "").lower() in ("skip", "0", "off", "no"):
        return "DUOLAB_BROWSER=skip"
    if importlib.util.find_spec("selenium") is None:
        return "selenium not installed (pip install -e '.[dev]')"
    if chromium() is None:
        where = os.environ.get("CHROMIUM") or "chromium"
        return f"chromium not installed: no {where} ({APT})"
    if chromedriver() is None:
        where = os.environ.get("CHROMEDRIVER") or "chromedriver"
        return f"chromium-driver not installed: no {where} ({APT})"
    return None


def skip_line() -> str | None:
    reason = missing()
    return None if reason is None else f"SKIP browser test: {reason}"


if __name__ == "__main__":
    line = skip_line()
    if line:
        print(line)
    sys.exit(1 if line else 0)
