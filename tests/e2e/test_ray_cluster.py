"""`localeval run` against a real two-node Ray cluster on this machine (ray from the
``test`` extra): the cluster's nodes and GPUs in the manifest and the results' provenance,
the refusal of a recipe that needs more GPUs than the cluster has, and the Ray launch path
up to vLLM's own refusal on its CPU build, reported as a classified error with the log tail.

The cluster: ``ray start --head`` and a second ``ray start --address``, each with its own
``RAY_TMPDIR`` and in its own session, each declaring one CPU and one GPU (so the cluster
looks like 2 GPUs on 2 nodes; no GPU is used). Ray replaces 127.0.0.1 by the host's own
address for node addresses by design (ray-project/ray#26293;
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` would keep it on loopback but then refuses a second
node), so both nodes register under this host's address; the test connects through
127.0.0.1 and everything stays on this machine.

The cluster is stopped by its two sessions (SIGTERM, then SIGKILL), not by ``ray stop``,
which stops every Ray process of the machine, another user's cluster included; the test
then checks that no process of either session, and none naming its temp dirs, remains."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from localeval.cluster import discover_ray_cluster
from localeval.pipeline import final_stages, serve_stage
from localeval.pipeline.config import PipelineConfig
from localeval.pipeline.runner import run_pipeline
from localeval.recipes import Recipe, load_recipe_file
from localeval.server.command import ServerCommand
from localeval.server.lifecycle import VllmServer, free_port, group_members

pytestmark = [pytest.mark.e2e]

START_TIMEOUT_S = 120
LOCALEVAL = [sys.executable, "-m", "localeval.cli"]


@dataclass
class Cluster:
    address: str
    sessions: list[int]
    dirs: list[Path]


def _stat_fields(pid: int) -> list[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return []
    return stat[stat.rfind(")") + 2 :].split()


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def session_members(sids: list[int]) -> list[int]:
    """Live (non-zombie) processes of the sessions ``sids``."""
    out = []
    for pid in _pids():
        fields = _stat_fields(pid)
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) in sids:
            out.append(pid)
    return out


def naming(dirs: list[Path]) -> list[int]:
    """Live processes, other than this one, whose command line names one of ``dirs``."""
    out = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = _stat_fields(pid)
        if fields and fields[0] != "Z" and any(str(d) in cmdline for d in dirs):
            out.append(pid)
    return out


def ray_start(args: list[str], tmpdir: Path) -> int:
    """`ray start ARGS` with its own RAY_TMPDIR, in a new session; returns the session id
    (the daemons it leaves running stay in it)."""
    ray = Path(sys.executable).parent / "ray"
    log = tmpdir / "ray-start.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ray), "start", *args, "--disable-usage-stats"],
            env={**os.environ, "RAY_TMPDIR": str(tmpdir)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
    if code != 0:
        stop_sessions([proc.pid], [tmpdir])
        pytest.fail(f"ray start {' '.join(args)} failed:\n{log.read_text()[-3000:]}")
    return proc.pid


def stop_sessions(sids: list[int], dirs: list[Path]) -> None:
    # gcs_server may take longer than this to exit on SIGTERM: it is then killed
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        for pid in {*session_members(sids), *naming(dirs)}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and (session_members(sids) or naming(dirs)):
            time.sleep(0.2)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    ray = pytest.importorskip("ray", reason="needs ray (pip install -e '.[test]')")
    # short paths: Ray's socket paths under RAY_TMPDIR must stay under 108 characters
    head_dir = Path(tempfile.mkdtemp(prefix="le-ray-head-"))
    node_dir = Path(tempfile.mkdtemp(prefix="le-ray-node-"))
    dirs = [head_dir, node_dir]
    sids: list[int] = []
    port = free_port()
    address = f"127.0.0.1:{port}"
    try:
        head = [
            "--head", "--port", str(port), "--num-cpus", "1", "--num-gpus", "1",
            "--include-dashboard=false", "--dashboard-port", str(free_port()),
            "--ray-client-server-port", str(free_port()),
        ]  # fmt: skip
        sids.append(ray_start(head, head_dir))
        sids.append(
            ray_start(["--address", address, "--num-cpus", "1", "--num-gpus", "1"], node_dir)
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if discover_ray_cluster(address, ray=ray).node_count == 2:
                break
            time.sleep(1)
        else:
            pytest.fail("the second Ray node never joined")
        yield Cluster(address, sids, dirs)
    finally:
        stop_sessions(sids, dirs)
        left_in_sessions, left_naming = session_members(sids), naming(dirs)
        for folder in dirs:
            shutil.rmtree(folder, ignore_errors=True)
    assert left_in_sessions == [] and left_naming == [], "Ray processes survived the stop"


def write_recipe(folder: Path, name: str, address: str, tp: int) -> Path:
    data = {
        "name": name,
        "model": {"id": "builtin:tiny-sums", "served_name": "tiny-sums"},
        "engine": {
            "dtype": "float32",
            "max_model_len": 1024,
            "tensor_parallel_size": tp,
            "enforce_eager": True,
            "distributed_backend": "ray",
            "ray_address": address,
            "env": {"VLLM_CPU_KVCACHE_SPACE": "1"},
            "startup_timeout_s": 300,
        },
        "eval": {"tasks": []},
        "bench": {
            "input_tokens": 16,
            "output_tokens": 8,
            "concurrency": [1],
            "num_requests": 2,
            "warmup_requests": 0,
        },
        "hardware": {"profile": "h100-sxm", "nodes": 2},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run_cli(recipe: Path, out: Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCALEVAL, "run", str(recipe), "--no-progress", "--output", str(out),
         "--gpu-free-timeout", "0"],
        capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip


def test_cluster_discovery_into_manifest_and_provenance(
    ray_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serve stage reads the real cluster; the server itself is the fake OpenAI server,
    standing in for the engine a GPU build would deploy on the cluster's 2 GPUs."""
    import ray

    def fake_engine(recipe: Recipe, *, run_dir: Path, **_: Any) -> VllmServer:
        port = free_port()
        argv = [
            sys.executable, "-m", "localeval.testing.fake_server", "--port", str(port),
            "--model", recipe.served_model_name, "--ttft-ms", "5", "--itl-ms", "1",
            "--output-tokens", "4", "--no-uvloop",
        ]  # fmt: skip
        command = ServerCommand(
            argv=argv, port=port, served_model_name=recipe.served_model_name, model="/fake"
        )
        server = VllmServer(
            command, run_dir=run_dir, startup_timeout_s=30, stop_timeout_s=10,
            gpu_count=recipe.gpu_count, engine_workers=recipe.gpu_count, recipe_name=recipe.name,
        )  # fmt: skip
        info = server.engine_info
        server.engine_info = lambda: {**info(), "vllm_build": "gpu"}  # type: ignore[method-assign]
        return server

    def no_report(paths: list[Path], fmt: str, output: Path, options: Any = None) -> Path:
        Path(output).write_text("<html>not drawn here</html>")
        return Path(output)

    monkeypatch.setattr(serve_stage, "prepare_server", fake_engine)
    monkeypatch.setattr(final_stages, "write_report", no_report)
    recipe = load_recipe_file(write_recipe(tmp_path, "ray-tp2", ray_cluster.address, tp=2))
    plan = PipelineConfig.build(recipes=[recipe], output=tmp_path / "run", gpu_free_timeout_s=0)
    manifest = run_pipeline(plan)
    entry = manifest.recipes[0]
    assert manifest.status == "complete", entry.stages["serve"].message
    cluster = entry.stages["serve"].details["cluster"]
    assert cluster["available"] is True and cluster["address"] == ray_cluster.address
    assert (cluster["node_count"], cluster["gpu_count"], cluster["resources_gpu_count"]) == (
        2, 2, 2,
    )  # fmt: skip
    assert cluster["ray_version"] == ray.__version__
    nodes = cluster["nodes"]
    assert [n["gpus"] for n in nodes] == [1, 1]
    assert len({n["node_id"] for n in nodes}) == 2
    # both register under this host's own address (Ray's choice, not 127.0.0.1)
    assert len({n["address"] for n in nodes}) == 1
    assert (entry.gpu_count, entry.engine_workers) == (2, 2)

    bench = json.loads((tmp_path / "run" / entry.stages["bench"].artifacts["result"]).read_text())
    prov = bench["provenance"]
    assert prov["engine"]["cluster"]["node_count"] == 2
    assert prov["engine"]["cluster"]["nodes"] == nodes
    assert prov["gpu_count"] == 2 and prov["engine_args"]["ray_address"] == ray_cluster.address
    (point,) = bench["points"]
    assert point["gpu"] is None
    assert "Ray cluster of 2 nodes" in point["gpu_unavailable_reason"]
    cost = json.loads((tmp_path / "run" / "cost" / "cost.json").read_text())
    assert {r["gpus_priced"] for r in cost["groups"][0]["report"]["runs"]} == {2}


def test_too_few_devices_for_the_recipe_is_refused(ray_cluster: Cluster, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, "ray-tp4", ray_cluster.address, tp=4)
    out = tmp_path / "run"
    done = run_cli(recipe, out, timeout_s=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert (
        f"Error: the Ray cluster at '{ray_cluster.address}' has 2 GPU(s) on 2 node(s); "
        "recipe ray-tp4 needs 4 (TP 4 x PP 1 x DP 1)"
    ) in done.stderr
    assert "Hint: start Ray on more nodes" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()  # refused before anything was written


def test_ray_launch_reaches_vllms_refusal_on_the_cpu_build(
    ray_cluster: Cluster, tmp_path: Path
) -> None:
    pytest.importorskip("vllm", reason="needs a vLLM build (pip install -e '.[cpu]')")
    from localeval.server.command import installed_vllm_build

    if installed_vllm_build() != "cpu":
        pytest.skip("vLLM's GPU build would try to place workers on the declared GPUs")
    recipe = write_recipe(tmp_path, "ray-tp2", ray_cluster.address, tp=2)
    out = tmp_path / "run"
    done = run_cli(recipe, out)
    assert done.returncode == 1, done.stderr[-3000:]
    data = json.loads((out / "manifest.json").read_text())
    serve = data["recipes"][0]["stages"]["serve"]
    assert serve["status"] == "failed"
    message = serve["message"]
    assert "before it was ready: ValueError: current platform cpu does not support ray." in message
    assert "[cause: ray_unsupported]" in message
    assert "leave engine.distributed_backend out" in message  # the hint
    assert serve["details"]["cluster"]["node_count"] == 2
    argv = " ".join(serve["details"]["argv"])
    assert "--tensor-parallel-size 2 --distributed-executor-backend ray" in argv
    assert "Engine core initialization failed" in serve["details"]["log_tail"]
    log = (out / serve["artifacts"]["log"]).read_text(errors="replace")
    # it went down the Ray path: vLLM connected to this cluster before refusing
    assert f"Using address {ray_cluster.address} set in the environment variable RAY_ADDRESS" in (
        log
    )
    assert "Connected to Ray cluster" in log
    assert group_members(serve["details"]["pgid"]) == []
    assert "current platform cpu does not support ray" in done.stderr
