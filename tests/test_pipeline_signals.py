"""Real signals to a `localeval run` process (the fake server as its model server, an
evaluation that hangs): Ctrl-C and SIGTERM stop the server and leave the stages
``interrupted``; SIGKILL leaves them ``running``, the watchdog stops the orphaned server, and
the same command resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from localeval.pipeline import PipelineConfig, eval_stage, run_pipeline, serve_stage
from localeval.server.lifecycle import group_members
from tests.test_pipeline import FakeEval, FakeLauncher, write_recipe

ROOT = Path(__file__).resolve().parents[1]

# The CLI in a child process, with the fake server as model server and an evaluation that
# says when it starts and then hangs.
CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from tests.test_pipeline import FakeLauncher
from localeval.pipeline import eval_stage, serve_stage

def hanging_eval(config, endpoint, **kwargs):
    endpoint.list_models()
    print("EVAL STARTED", flush=True)
    time.sleep(120)

serve_stage.prepare_server = FakeLauncher()
eval_stage.run_eval = hanging_eval
from localeval.cli import main
sys.argv = ["localeval", "run", {recipe!r}, "--output", {out!r}, "--gpu-free-timeout", "0"]
main()
"""


def start_child(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    recipe = write_recipe(tmp_path, "model-a")
    assert recipe.source_path is not None
    out = tmp_path / "run"
    code = CHILD.format(root=str(ROOT), recipe=recipe.source_path, out=str(out))
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and "EVAL STARTED" not in line:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.stderr.read() if proc.stderr else ''}")
    return proc, out, Path(recipe.source_path)


def stages(out: Path) -> dict[str, Any]:
    data = json.loads((out / "manifest.json").read_text())
    found: dict[str, Any] = data["recipes"][0]["stages"]
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_server(tmp_path: Path, sig: signal.Signals) -> None:
    proc, out, _ = start_child(tmp_path)
    try:
        pgid = stages(out)["serve"]["details"]["pgid"]
        assert group_members(pgid)  # the server is up while the evaluation runs
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "rerun the same command to resume" in stderr
    got = stages(out)
    assert got["eval"]["status"] == "interrupted" and got["serve"]["status"] == "interrupted"
    assert got["bench"]["status"] == "complete"
    assert group_members(pgid) == []


def test_sigkill_leaves_a_resumable_run_and_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, out, recipe_path = start_child(tmp_path)
    try:
        pgid = stages(out)["serve"]["details"]["pgid"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    got = stages(out)
    assert got["eval"]["status"] == got["serve"]["status"] == "running"
    deadline = time.monotonic() + 30  # the watchdog notices within a second
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(pgid) == []

    # the same command again (in this process, with an evaluation that finishes)
    launcher, fake_eval = FakeLauncher(), FakeEval()
    monkeypatch.setattr(serve_stage, "prepare_server", launcher)
    monkeypatch.setattr(eval_stage, "run_eval", fake_eval)
    from localeval.recipes import load_recipe

    plan = PipelineConfig.build(
        recipes=[load_recipe(str(recipe_path))], output=out, gpu_free_timeout_s=0
    )
    manifest = run_pipeline(plan)
    assert manifest.status == "complete"
    entry = manifest.recipes[0]
    assert [entry.stages[s].attempts for s in ("serve", "bench", "eval")] == [2, 1, 2]
    killed, resumed = manifest.invocations
    assert (killed.finished_at, killed.outcome) == (None, "interrupted")
    assert (resumed.resumed, resumed.outcome) == (True, "complete")
    assert fake_eval.calls == [("model-a", ["task_a", "task_b"])]
