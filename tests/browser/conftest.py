"""JupyterLab, Notebook 7 and Voila servers on 127.0.0.1 with isolated config, and Debian's Chromium
driven by Playwright.

Every test here is marked `browser`. Screenshots go to `test-artifacts/` (always for
the final state, and on failure).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CONVIS_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[2:4]} exited early (rc={proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{proc.args[2:4]} did not answer {url} in {timeout}s:\n{log.read_text()}")


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (kernels start sessions of their own, so a process group misses them)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server, then every kernel and helper it started; fail if any of them outlives it."""
    below = _descendants(proc.pid)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    left = [pid for pid in below if _alive(pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(pid) for pid in left):
            time.sleep(0.2)
        left = [pid for pid in left if _alive(pid)]
    if left:
        raise RuntimeError(f"processes {left} started by {proc.args[2:4]} survived SIGKILL")


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM when pytest dies, even when it is killed and its
    fixtures' teardown never runs (the server then shuts its kernels down itself)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _jupyter_tmp(tmp_path_factory, name: str) -> tuple[Path, Path, dict[str, str]]:
    """A temporary folder, a copy of notebooks/ in it, and an environment whose Jupyter, IPython and
    matplotlib folders are fresh ones inside it (none of the user's config or extensions settings)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (the README's "
                    "test command does)")
    tmp = tmp_path_factory.mktemp(name)
    root = tmp / "root"
    shutil.copytree(REPO / "notebooks", root)
    settings = tmp / "settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}')
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    env = dict(os.environ)
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        (tmp / key.lower()).mkdir()
        env[key] = str(tmp / key.lower())
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env.pop("MPLBACKEND", None)
    return tmp, root, env


JUPYTER_SERVERS: list[tuple[str, str]] = []
"""(base URL, token) of each running Jupyter server (Lab, Notebook 7), whose kernels each test's
page shuts down after it."""


def _shut_kernels(base: str, token: str) -> None:
    """Shut down every kernel of the Jupyter server at `base`: a notebook's kernel otherwise goes on
    running its widgets' jobs (a training run, a gallery) and slows every test after it."""
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels", headers=headers)) as r:
        kernels = json.load(r)
    for kernel in kernels:
        url = f"{base}/api/kernels/{kernel['id']}"
        urllib.request.urlopen(urllib.request.Request(url, headers=headers, method="DELETE")).close()


def _serve(tmp: Path, root: Path, env: dict[str, str], args: list[str], ready: str):
    """Run `python -m <args>` in `root` on a free port; yield (base URL, token); stop it and its kernels."""
    port, token = _free_port(), "convis-test-token"
    cmd = [sys.executable, "-m", *[a.format(port=port, token=token) for a in args]]
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{base}{ready}?token={token}", proc, log_path)
            if ready == "/api/status":
                JUPYTER_SERVERS.append((base, token))
            yield base, token
        finally:
            if (base, token) in JUPYTER_SERVERS:
                JUPYTER_SERVERS.remove((base, token))
            _stop(proc)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/ with a token, off the network, as root if need be."""
    tmp, root, env = _jupyter_tmp(tmp_path_factory, "lab")
    yield from _serve(tmp, root, env, [
        "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port={port}",
        "--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
        "--ServerApp.allow_root=True",
        f"--LabServerApp.workspaces_dir={tmp / 'ws'}",
        f"--LabServerApp.user_settings_dir={tmp / 'settings'}"], "/api/status")


@pytest.fixture(scope="session")
def notebook_server(tmp_path_factory):
    """Jupyter Notebook 7 serving a copy of notebooks/, set up as `lab_server` is."""
    tmp, root, env = _jupyter_tmp(tmp_path_factory, "notebook")
    yield from _serve(tmp, root, env, [
        "jupyter", "notebook", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port={port}",
        "--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--JupyterNotebookApp.expose_app_in_browser=True", "--ServerApp.allow_root=True",
        f"--JupyterNotebookApp.workspaces_dir={tmp / 'ws'}",
        f"--JupyterNotebookApp.user_settings_dir={tmp / 'settings'}"], "/api/status")


@pytest.fixture(scope="session")
def voila_server(tmp_path_factory):
    """Voila serving the copy of the quickstart notebook at its root URL, as `voila NOTEBOOK` does, showing
    stderr and tracebacks (plain Voila hides both)."""
    tmp, root, env = _jupyter_tmp(tmp_path_factory, "voila")
    yield from _serve(tmp, root, env, [
        "voila", "01_quickstart.ipynb", "--no-browser", "--Voila.ip=127.0.0.1", "--Voila.port={port}",
        "--Voila.token={token}", "--VoilaConfiguration.show_tracebacks=True"], "/")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="convis-chromium-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000})
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots a person can look at after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser, request):
    """A fresh page; a screenshot is saved when the test fails."""
    pg = browser.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
    pg.close()
    for base, token in JUPYTER_SERVERS:
        _shut_kernels(base, token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
