"""The HTML report: one self-contained file (no script, nothing fetched, figures embedded as
PNG), opened in a real headless Chromium whose screenshot must show the page and its
figures.

Chromium is Debian's ``chromium`` at /usr/bin/chromium. When it is missing and the tests
run as root with apt available, the set-up installs it (``apt-get update`` then
``apt-get install -y chromium``); the browser test is skipped, saying why, only if that fails.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from localeval.report import ReportOptions, write_report

DATA = Path(__file__).parent / "data"
PROFILES = DATA / "profiles"
ALL = [DATA / n for n in ("bench_h100.json", "eval_h100.json", "bench_cpu.json", "eval_cpu.json")]
CHROMIUM = Path("/usr/bin/chromium")
# The first run's colour in every figure (matplotlib's tab:blue).
RUN_BLUE = (31, 119, 180)


def _install_chromium() -> str | None:
    """Install Debian's chromium; None on success, else why it could not be."""
    if os.geteuid() != 0:
        return "not running as root, cannot install it"
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        try:
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{' '.join(args)}` failed: {exc}"
        if done.returncode != 0:
            return f"`{' '.join(args)}` failed: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        why = _install_chromium()
        if why is not None or not CHROMIUM.exists():
            pytest.skip(
                f"Chromium is not installed at {CHROMIUM} ({why or 'install did not provide it'})"
            )
    return CHROMIUM


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    options = ReportOptions(profiles_dir=PROFILES, compare=("o1", "gpt-4o", "deepseek-v3.2"))
    return write_report(ALL, "html", out, options)


def test_the_html_is_self_contained(html_report: Path) -> None:
    text = html_report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower()
    # Every src/href is embedded data: nothing is fetched, no stylesheet or font link.
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text, flags=re.I)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "@import" not in text and "url(" not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    for title in (
        "Runs and provenance",
        "Serving benchmark: throughput and latency",
        "Evaluation: accuracy, tokens and cost per task",
        "Cost at fixed performance",
        "Break-even against the APIs",
    ):
        assert f">{title}<" in text
    # Text from the results is escaped, not interpreted.
    assert "Qwen/Qwen2.5-7B-Instruct" in text


def test_html_escapes_what_the_results_say(tmp_path: Path) -> None:
    data = (
        (DATA / "eval_cpu.json")
        .read_text()
        .replace('"localeval/tiny-llama"', '"<img src=x onerror=alert(1)>"')
    )
    path = tmp_path / "eval.json"
    path.write_text(data)
    out = write_report(
        [path], "html", tmp_path / "r.html", ReportOptions(compare=("o1",), plots=False)
    )
    text = out.read_text()
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_chromium_renders_the_report(chromium: Path, html_report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    args = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        html_report.resolve().as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file()
    with Image.open(shot) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    assert rgb.shape == (2000, 1280, 3)
    non_white = int((rgb.min(axis=2) < 235).sum())
    assert non_white > 0.03 * 2000 * 1280, "the page looks blank"
    assert float(rgb.mean(axis=2).std()) > 20
    # The first figure (throughput against latency) is within the first 2,000 px and draws
    # its first run in blue: the embedded PNG was decoded and shown.
    blue = int((np.abs(rgb - np.array(RUN_BLUE)).max(axis=2) <= 30).sum())
    assert blue > 500, f"only {blue} pixels of the figures' blue: figures not shown"
