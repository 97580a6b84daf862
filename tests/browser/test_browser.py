"""A real browser: JupyterLab in headless Chromium, driven by selenium, runs the budget and
draft-tree notebooks (found by glob: they get renumbered) in quick mode ("Run All"), then moves
every widget control it finds (sliders, dropdowns, selects, toggles, checkboxes: found by their
ipywidgets CSS classes, not by label) and checks that the widget's output area changed. The
regime notebook (`*_when_parallel_drafting_pays`) runs too, and its RegimeExplorer's controls,
found by their descriptions, are moved one by one and its "profile this machine" button clicked:
its plot, readout or status must change each time. A notebook or widget that is not there fails
the test (no skip). Screenshots go to build/browser/. DUOLAB_BROWSER_NOTEBOOKS names another
folder to take the notebooks from (a scratch copy, to try the test on notebooks in the making).

`make test` runs it as its own stage: `pytest tests/browser -m browser`. It skips, naming the
missing piece, without selenium, chromium or chromedriver, or with DUOLAB_BROWSER=skip
(tests/browser/needs.py). One JupyterLab server (on a temporary copy of the notebooks, so the
committed ones stay output-free) serves every notebook; a fresh headless Chromium opens each.
The server, its kernels and their children are always shut down at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser import needs

pytestmark = pytest.mark.browser

if needs.missing() is None:  # else the `lab` fixture skips, saying what is missing
    import psutil  # jupyter_server's dependency
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = Path(os.environ.get("DUOLAB_BROWSER_NOTEBOOKS") or ROOT / "notebooks")
NOTEBOOKS = ["*_choosing_the_budget.ipynb", "*_draft_trees.ipynb"]  # globs: renumbered as they change
REGIME_GLOB = "*_when_parallel_drafting_pays.ipynb"
# duolab.lab.explorable.RegimeExplorer's controls, by description
REGIME_SLIDERS = ("t_d / T_t(1)", "slope T_t(9)/T_t(1)", "α")
REGIME_BUTTON = "profile this machine"
SHOTS = ROOT / "build" / "browser"
RUN_ALL_TIMEOUT = 400  # s: quick mode on 2 shared cores
MOVE_TIMEOUT = 120  # s: one control's rerun
PROFILE_TIMEOUT = 300  # s: the button measures a quick latency profile

# Lab settings for a clean, deterministic page: every cell in the DOM, no news or update pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}

# The controls, by ipywidgets 8 class. Each JS snippet gets the cell as arguments[0] and returns
# (kind, element) pairs: every control of every widget in the cell's output.
FIND_CONTROLS = """
const cell = arguments[0], found = [];
const area = cell.querySelector('.jp-OutputArea');
if (!area) return found;
for (const el of area.querySelectorAll('.widget-slider .noUi-handle')) found.push(['slider', el]);
for (const el of area.querySelectorAll('.widget-dropdown select, .widget-select select'))
  found.push(['select', el]);
for (const el of area.querySelectorAll('.widget-toggle-buttons')) found.push(['toggles', el]);
for (const el of area.querySelectorAll('button.widget-toggle-button'))
  if (!el.closest('.widget-toggle-buttons')) found.push(['toggle', el]);
for (const el of area.querySelectorAll('.widget-checkbox input[type=checkbox]'))
  found.push(['checkbox', el]);
return found.filter(([kind, el]) => !el.disabled && !el.hasAttribute('disabled'));
"""

# What a control's redraw changes: the HTML of every Output widget in the cell (images included).
OUTPUT_STATE = """
return Array.from(arguments[0].querySelectorAll('.widget-output'))
  .map(e => e.innerHTML).join('\\n<!-- next output -->\\n');
"""

# Each code cell's prompt: "[3]:" done, "[*]:" running or queued, "[ ]:" not run.
PROMPTS = """
return Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell'))
  .map(c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook_source(pattern: str) -> Path:
    """The one notebook in NOTEBOOK_DIR matching `pattern` (a name or a glob); fails otherwise."""
    found = sorted(NOTEBOOK_DIR.glob(pattern))
    if len(found) != 1:
        pytest.fail(f"expected one notebook {NOTEBOOK_DIR / pattern}, found "
                    f"{[p.name for p in found] or 'none'}")
    return found[0]


class Lab:
    """A JupyterLab server in a subprocess on a temporary copy of the notebooks (`add` copies one
    in)."""

    def __init__(self, workdir: Path):
        self.root = workdir / "notebooks"
        self.root.mkdir()
        settings = workdir / "lab-settings"
        for rel, value in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DUOLAB_QUICK=os.environ.get("DUOLAB_QUICK") or "1",
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(workdir / "lab-workspaces"),
                   JUPYTER_RUNTIME_DIR=str(workdir / "runtime"), PYTHONUNBUFFERED="1")
        env.pop("MPLBACKEND", None)  # the kernel's inline backend draws the widgets' figures
        self.log_path = workdir / "jupyter.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser",
             f"--port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.token={self.token}", f"--notebook-dir={self.root}"],
            env=env, cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/api/status")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    self.shutdown()
                    raise RuntimeError(
                        f"jupyter lab did not answer in 90 s:\n{self.log()}") from None
                time.sleep(0.25)

    def add(self, source: Path) -> str:
        """Copy a notebook into the server's folder; returns its name there."""
        shutil.copy(source, self.root / source.name)
        return source.name

    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page(self, name: str) -> str:
        """The notebook in a workspace of its own, so no other notebook is restored beside it."""
        return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={self.token}"

    def _family(self) -> list:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    @staticmethod
    def _reap(family: list, timeout: float = 15) -> list[str]:
        """Wait for these processes to end; kill (by pid) and name those that do not."""
        _, alive = psutil.wait_procs(family, timeout=timeout)
        killed = []
        for p in alive:
            try:
                killed.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
                p.kill()
            except psutil.NoSuchProcess:
                pass
        return killed

    def shutdown_kernels(self, name: str | None = None) -> list[str]:
        """Shut down the notebook's kernel (all kernels without a name) through the REST API,
        as JupyterLab's "Shut Down Kernel" does; returns the processes (the kernel's children,
        say a draft worker) that were still alive 15 s later, killed."""
        family = self._family()
        for session in self.api("GET", "/api/sessions"):
            if name is None or session["path"].endswith(name):
                self.api("DELETE", f"/api/kernels/{session['kernel']['id']}", timeout=30)
        return self._reap(family)

    def log(self, tail: int | None = 4000) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def shutdown(self) -> list[str]:
        """Stop the kernels and the server; kill (by pid) any of its processes that outlive it.
        Returns what had to be killed."""
        family = self._family()
        try:
            self.shutdown_kernels()
            self.api("POST", "/api/shutdown")
        except (OSError, urllib.error.URLError):
            pass  # the server is gone already, or stops below
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        killed = self._reap(family, timeout=5)
        self._log.close()
        return killed


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if needs.missing():
        pytest.skip(needs.skip_line())
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        killed = server.shutdown()
        shutil.copy(server.log_path, SHOTS / "jupyter.log")
        if killed:
            print(f"\nbrowser: killed {len(killed)} process(es) left after the server stopped: "
                  + "; ".join(killed))


@pytest.fixture
def browser(tmp_path):
    options = Options()
    options.binary_location = needs.chromium()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1100",
                f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(arg)
    options.set_capability("unhandledPromptBehavior", "accept")
    driver = webdriver.Chrome(service=Service(needs.chromedriver()), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# The kernel's state as the status bar shows it ("Python 3 (ipykernel) | Idle"); the toolbar's
# kernel name reads "No Kernel" until the session has one.
KERNEL_STATE = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const name = panel && panel.querySelector('.jp-Toolbar-kernelName');
if (!name || /No Kernel/.test(name.textContent)) return 'none';
const item = document.querySelector('.jp-StatusBar-TextItem[title^="Change kernel"]');
const m = item && /\\|\\s*(\\w+)\\s*$/.exec(item.textContent);
return m ? m[1].toLowerCase() : 'unknown';
"""


def _kernel_idle(driver) -> bool:
    return driver.execute_script(KERNEL_STATE) == "idle"


def _error_text(driver) -> str:
    return driver.execute_script("""
      return Array.from(document.querySelectorAll('.jp-OutputArea-output'))
        .map(e => e.textContent).filter(t => /Traceback|Error/.test(t)).join('\\n---\\n');""")


def run_all(driver, lab: Lab, name: str) -> float:
    """Open the notebook, wait for its kernel, "Run All" from the Run menu, wait for every cell."""
    driver.get(lab.page(name))
    wait = WebDriverWait(driver, 90, poll_frequency=0.25)
    wait.until(lambda d: len(d.execute_script(PROMPTS)) > 0)
    # The kernel, started from the notebook's kernelspec; on a loaded machine JupyterLab may ask
    # which kernel to use ("Select Kernel", preselected python3): accept it.
    wait.until(lambda d: d.execute_script("""
      const accept = document.querySelector('.jp-Dialog .jp-Dialog-button.jp-mod-accept');
      if (accept) { accept.click(); return false; }
      return true;""") and _kernel_idle(d))
    start = time.monotonic()
    menu = wait.until(lambda d: next((m for m in d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
                                      if m.text.strip() == "Run"), None))
    menu.click()
    wait.until(lambda d: d.execute_script("""
      return Array.from(document.querySelectorAll('.lm-Menu li.lm-Menu-item')).find(li =>
        ['runmenu:run-all', 'notebook:run-all-cells'].includes(li.dataset.command)
        || li.textContent.trim() === 'Run All Cells');""")).click()

    started = []

    def finished(d):
        prompts = d.execute_script(PROMPTS)
        if any("*" in p or re.search(r"\d", p) for p in prompts):
            started.append(True)
        if not started or any("*" in p for p in prompts) or not _kernel_idle(d):
            return False
        return prompts

    prompts = WebDriverWait(driver, RUN_ALL_TIMEOUT, poll_frequency=0.5).until(
        finished, f"{name}: Run All did not finish in {RUN_ALL_TIMEOUT} s")
    not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p.strip())]
    assert not not_run, f"{name}: code cells {not_run} did not run:\n{_error_text(driver)[-3000:]}"
    return time.monotonic() - start


def widget_cells(driver) -> list:
    """Code cells whose output holds widget controls and an Output widget, once they render."""
    def rendered(d):
        cells = [c for c in d.find_elements(By.CSS_SELECTOR,
                                            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
                 if d.execute_script(FIND_CONTROLS, c)
                 and c.find_elements(By.CSS_SELECTOR, ".widget-output img, .widget-output pre")]
        return cells or False
    return WebDriverWait(driver, 60, poll_frequency=0.25).until(
        rendered, "no widget with controls and a drawn output rendered")


def _slider_value(el) -> str:
    # aria-valuenow is rounded to one decimal (a step of 0.01 leaves it alone); the text is exact
    return el.get_attribute("aria-valuetext") or el.get_attribute("aria-valuenow")


def move(driver, kind: str, el) -> str:
    """Move one control by one step, as a user would; returns what was done, in words."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    if kind == "slider":
        at_max = el.get_attribute("aria-valuenow") == el.get_attribute("aria-valuemax")
        before = _slider_value(el)
        driver.execute_script("arguments[0].focus();", el)
        el.send_keys(Keys.ARROW_LEFT if at_max else Keys.ARROW_RIGHT)
        WebDriverWait(driver, 10).until(lambda d: _slider_value(el) != before,
                                        f"the slider stayed at {before}")
        return f"slider {before} -> {_slider_value(el)}"
    if kind == "select":
        select = Select(el)
        options = select.options
        current = next(i for i, o in enumerate(options) if o.is_selected())
        target = (current + 1) % len(options)
        select.select_by_index(target)
        return f"select {options[current].text!r} -> {options[target].text!r}"
    if kind == "toggles":
        button = next(b for b in el.find_elements(By.CSS_SELECTOR, "button")
                      if "mod-active" not in (b.get_attribute("class") or ""))
        button.click()
        return f"toggle buttons -> {button.text!r}"
    el.click()  # a lone toggle button or a checkbox
    return f"{kind} clicked"


def settled_change(driver, cell, before: str, what: str, state_js: str = OUTPUT_STATE,
                   timeout: float = MOVE_TIMEOUT) -> str:
    """Wait until the cell's state (`state_js`; default: its Output widgets) differs from `before`,
    holds a drawn result, the kernel is idle, and nothing changed for a second; returns the new
    state."""
    seen = {"state": None, "since": 0.0}

    def done(d):
        state = d.execute_script(state_js, cell)
        now = time.monotonic()
        if state != seen["state"]:
            seen.update(state=state, since=now)
            return False
        if state == before or not re.search(r"<img|<pre|<table", state) or not _kernel_idle(d):
            return False
        return state if now - seen["since"] >= 1.0 else False

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
        done, f"the output did not change after: {what}")


def shoot(driver, cell, path: Path) -> Path:
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", cell)
    cell.screenshot(str(path))
    return path


def close_notebook(lab: Lab, name: str) -> None:
    """Free the cores (and the draft worker) for the next notebook; say what outlived it."""
    stem = Path(name).stem
    logged = len(lab.log(tail=None))
    killed = lab.shutdown_kernels(name)
    if killed:
        print(f"\nbrowser {stem}: {len(killed)} process(es) outlived the kernel's shutdown "
              f"(killed): {'; '.join(killed)}")
    if "Traceback" in lab.log(tail=None)[logged:]:
        print(f"\nbrowser {stem}: the kernel's shutdown printed a traceback "
              "(build/browser/jupyter.log)")


@contextmanager
def opened(lab: Lab, browser, source: Path):
    """The notebook copied into the lab as (name, stem); on a timeout a screenshot and the
    jupyter log; closed (its kernel shut down) either way."""
    name = lab.add(source)
    stem = Path(name).stem
    try:
        yield name, stem
    except TimeoutException as e:
        browser.save_screenshot(str(SHOTS / f"{stem}-failed.png"))
        pytest.fail(f"{name}: {e.msg}\n{_error_text(browser)[-3000:]}\njupyter log:\n{lab.log()}")
    finally:
        close_notebook(lab, name)


@pytest.mark.parametrize("pattern", NOTEBOOKS)
def test_run_all_then_every_widget_control_changes_its_output(lab, browser, pattern):
    start = time.monotonic()
    with opened(lab, browser, notebook_source(pattern)) as (name, stem):
        ran = run_all(browser, lab, name)
        cells = widget_cells(browser)
        shots = [shoot(browser, cells[0], SHOTS / f"{stem}-before.png")]
        moves = []
        for c, cell in enumerate(cells):
            n_controls = len(browser.execute_script(FIND_CONTROLS, cell))
            for i in range(n_controls):
                kind, el = browser.execute_script(FIND_CONTROLS, cell)[i]  # fresh: views re-render
                before = browser.execute_script(OUTPUT_STATE, cell)
                t = time.monotonic()
                try:
                    what = move(browser, kind, el)
                except StaleElementReferenceException:
                    kind, el = browser.execute_script(FIND_CONTROLS, cell)[i]
                    what = move(browser, kind, el)
                settled_change(browser, cell, before, what)
                moves.append(f"{what} ({time.monotonic() - t:.1f} s)")
                tag = f"after-{len(moves)}-{kind}" if c == 0 else f"cell{c}-after-{i + 1}-{kind}"
                shots.append(shoot(browser, cell, SHOTS / f"{stem}-{tag}.png"))
        assert moves, f"{name}: no widget control found"
        print(f"\nbrowser {stem}: Run All {ran:.1f} s; {len(moves)} control(s) moved, each changed "
              f"its output: {'; '.join(moves)}; {time.monotonic() - start:.1f} s in all")
        print(f"browser {stem}: screenshots " + ", ".join(str(p.relative_to(ROOT)) for p in shots))


# ---- the regime notebook's RegimeExplorer, its controls found by description -------------------

# The cell whose output holds a button described `arguments[0]` (the explorer's cell), once its
# plot is drawn; null before.
EXPLORER_CELL = """
const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell');
return Array.from(cells).find(c => Array.from(c.querySelectorAll('.jp-OutputArea button.widget-button'))
    .some(b => b.textContent.trim() === arguments[0]) && c.querySelector('.widget-output img')) || null;
"""
# The handle of the slider described `arguments[1]` in cell `arguments[0]`.
SLIDER_BY_DESCRIPTION = """
for (const box of arguments[0].querySelectorAll('.jp-OutputArea .widget-slider')) {
  const label = box.querySelector('.widget-label');
  if (label && label.textContent.trim() === arguments[1]) return box.querySelector('.noUi-handle');
}
return null;
"""
# What the slider whose handle is `arguments[0]` shows (a log slider's handle has the exponent).
SLIDER_READOUT = """
const box = arguments[0].closest('.widget-slider');
const readout = box && box.querySelector('.widget-readout');
return readout ? (readout.value || readout.textContent).trim() : '';
"""
BUTTON_BY_DESCRIPTION = """
return Array.from(arguments[0].querySelectorAll('.jp-OutputArea button.widget-button'))
  .find(b => b.textContent.trim() === arguments[1]) || null;
"""
# What the explorer shows: its plot (the Output widget) and its readout and status (HTML widgets).
EXPLORER_STATE = """
const cell = arguments[0];
return Array.from(cell.querySelectorAll('.widget-output')).map(e => e.innerHTML).join('\\n')
  + '\\n<!-- text -->\\n' + Array.from(cell.querySelectorAll('.widget-html')).map(e => e.textContent).join('\\n');
"""


def explorer_cell(driver, name: str):
    try:
        return WebDriverWait(driver, 60, poll_frequency=0.25).until(
            lambda d: d.execute_script(EXPLORER_CELL, REGIME_BUTTON))
    except TimeoutException:
        pytest.fail(f"{name}: no RegimeExplorer rendered (no cell with a {REGIME_BUTTON!r} button "
                    f"and a drawn plot)\n{_error_text(driver)[-3000:]}")


def _explorer_text(driver, cell) -> str:
    return driver.execute_script(EXPLORER_STATE, cell).rpartition("<!-- text -->")[2]


def move_explorer_sliders(driver, cell, name: str) -> list[str]:
    """Each of the explorer's sliders one step; returns one line per slider."""
    lines = []
    for description in REGIME_SLIDERS:
        handle = driver.execute_script(SLIDER_BY_DESCRIPTION, cell, description)
        assert handle is not None, f"{name}: the explorer has no slider described {description!r}"
        before, t = driver.execute_script(EXPLORER_STATE, cell), time.monotonic()
        shown = driver.execute_script(SLIDER_READOUT, handle)
        what = move(driver, "slider", handle)
        settled_change(driver, cell, before, f"{description}: {what}", EXPLORER_STATE)
        lines.append(f"{description}: {what}, readout {shown} -> "
                     f"{driver.execute_script(SLIDER_READOUT, handle)} ({time.monotonic() - t:.1f} s)")
    return lines


def shoot_plot(driver, cell, path: Path) -> Path:
    """The explorer's plot alone (the cell is taller than the window): its last drawn image,
    scrolled into view and loaded."""
    img = driver.execute_script("const i = arguments[0].querySelectorAll('img'); return i[i.length - 1];", cell)
    assert img is not None, "the explorer drew no plot"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", img)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0;", img))
    img.screenshot(str(path))
    return path


def click_profile_button(driver, cell, name: str) -> str:
    """Click "profile this machine": the readout must then name this machine's point."""
    button = driver.execute_script(BUTTON_BY_DESCRIPTION, cell, REGIME_BUTTON)
    assert button is not None and button.is_enabled(), f"{name}: no enabled {REGIME_BUTTON!r} button"
    before, t = driver.execute_script(EXPLORER_STATE, cell), time.monotonic()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    settled_change(driver, cell, before, f"button {REGIME_BUTTON!r}", EXPLORER_STATE, PROFILE_TIMEOUT)
    text = _explorer_text(driver, cell)
    assert "profiling failed" not in text, f"{name}: {text}"
    point = re.search(r"this machine \(measured\): ([^\n]*)", text)
    assert point, f"{name}: after {REGIME_BUTTON!r} the readout names no measured point: {text}"
    return f"button {REGIME_BUTTON!r}: {point.group(1)} ({time.monotonic() - t:.1f} s)"


def test_regime_explorer_controls_change_its_output(lab, browser):
    start = time.monotonic()
    with opened(lab, browser, notebook_source(REGIME_GLOB)) as (name, stem):
        ran = run_all(browser, lab, name)
        cell = explorer_cell(browser, name)
        shots = [shoot(browser, cell, SHOTS / f"{stem}-explorer-before.png")]
        lines = move_explorer_sliders(browser, cell, name)
        lines.append(click_profile_button(browser, cell, name))
        shots.append(shoot(browser, cell, SHOTS / f"{stem}-explorer-after.png"))
        shots.append(shoot_plot(browser, cell, SHOTS / f"{stem}-explorer-after-plot.png"))
        print(f"\nbrowser {stem}: Run All {ran:.1f} s; RegimeExplorer: {len(lines)} control(s), each "
              f"changed its output, in {time.monotonic() - start:.1f} s in all")
        for line in lines:
            print(f"browser {stem}: {line}")
        print(f"browser {stem}: {_explorer_text(browser, cell).strip().splitlines()[-1]}")
        print(f"browser {stem}: screenshots " + ", ".join(str(p.relative_to(ROOT)) for p in shots))
