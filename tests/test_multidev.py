"""Several devices without a GPU or a cluster: how a tensor-parallel CPU server is counted
(provenance, manifest, recipe check) and priced (one host, however many engine workers),
and why a server on a Ray cluster of several nodes has no bench or eval energy figure.
The real servers and the real Ray cluster are in tests/e2e/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.bench import BenchConfig, run_bench
from localeval.cli import cli
from localeval.cluster import ClusterInfo, ClusterNode
from localeval.cost.analyze import CostOptions, analyze
from localeval.endpoint import Endpoint
from localeval.hardware import get_profile
from localeval.provenance import cluster_nodes, plan_gpus
from localeval.recipes import load_recipe
from localeval.results.common import Provenance
from localeval.server.lifecycle import prepare_server
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


def _cluster(nodes: int, gpus_per_node: int) -> dict[str, Any]:
    info = ClusterInfo(
        available=True,
        address="127.0.0.1:6379",
        nodes=tuple(
            ClusterNode(f"node-{i}", f"10.0.0.{i + 1}", gpus_per_node, "H100") for i in range(nodes)
        ),
        gpu_count=nodes * gpus_per_node,
        resources_gpu_count=nodes * gpus_per_node,
        ray_version="2.60.0",
    )
    return info.to_dict()


def _detection(n: int) -> dict[str, object]:
    gpus = [{"name": "NVIDIA H100", "uuid": f"GPU-{i}", "profile": "h100-sxm"} for i in range(n)]
    return {"available": True, "gpus": gpus}


# ----------------------------------------------------------------------- energy over nodes


def test_ray_cluster_of_several_nodes_has_no_energy_even_when_counts_agree() -> None:
    """Head with 2 GPUs, a second node with 2, an engine of TP 2: NVML here sees 2 GPUs, as
    many as the engine uses, but Ray may have placed the workers on the other node."""
    engine = {"gpu_count": 2, "cluster": _cluster(nodes=2, gpus_per_node=2)}
    plan = plan_gpus(local=True, detection=_detection(2), engine_info=engine)
    assert plan.gpu_count == 2 and plan.sample_uuids is None
    assert plan.energy_reason is not None
    assert "Ray cluster of 2 nodes" in plan.energy_reason
    assert "a server that spans several nodes has no energy figure" in plan.energy_reason


def test_ray_cluster_of_one_node_keeps_energy() -> None:
    engine = {"gpu_count": 2, "cluster": _cluster(nodes=1, gpus_per_node=2)}
    plan = plan_gpus(local=True, detection=_detection(2), engine_info=engine)
    assert plan.energy_reason is None
    unread = {"gpu_count": 2, "cluster": {"available": False, "reason": "no ray"}}
    assert cluster_nodes(unread) == 0
    assert plan_gpus(local=True, detection=_detection(2), engine_info=unread).energy_reason is None


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=2.0, itl_ms=1.0)) as server:
        yield server


def test_bench_on_a_multi_node_ray_server_marks_energy_unavailable(
    fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    nvml = FakeNvml(
        [FakeGpu(name="NVIDIA H100 80GB HBM3", uuid=f"GPU-{i}", index=i) for i in range(2)]
    )
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    config = BenchConfig(
        input_tokens=16, output_tokens=8, concurrency=[1], num_requests=2, warmup_requests=0,
        output_dir=tmp_path / "run",
    )  # fmt: skip
    engine = {"gpu_count": 2, "cluster": _cluster(nodes=2, gpus_per_node=2)}
    result = run_bench(config, Endpoint(fake.base_url, "fake-model"), engine_info=engine)
    assert result.provenance.gpu_count == 2
    assert result.provenance.engine is not None
    assert result.provenance.engine.cluster is not None
    assert result.provenance.engine.cluster["node_count"] == 2
    (point,) = result.points
    assert point.gpu is None and point.energy_per_output_token_j is None
    assert "Ray cluster of 2 nodes" in str(point.gpu_unavailable_reason)
    # the same server on one node: this machine's two GPUs are sampled
    engine["cluster"] = _cluster(nodes=1, gpus_per_node=2)
    config = config.model_copy(update={"output_dir": tmp_path / "one"})
    one = run_bench(config, Endpoint(fake.base_url, "fake-model"), engine_info=engine)
    assert one.points[0].gpu_unavailable_reason is None and one.points[0].gpu is not None


# ----------------------------------------------------------------------- TP 2 on the CPU


def _tp2_recipe() -> Any:
    return load_recipe(str(REPO / "recipes" / "tiny-cpu-tp2.yaml"))


def test_tiny_cpu_tp2_recipe_counts_two_devices() -> None:
    recipe = _tp2_recipe()
    assert recipe.name == "tiny-cpu-tp2"
    assert recipe.engine.tensor_parallel_size == 2 and recipe.gpu_count == 2
    assert recipe.engine.env["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"
    assert recipe.hardware.profile == "cpu"
    path = str(REPO / "recipes" / "tiny-cpu-tp2.yaml")
    res = CliRunner().invoke(cli, ["recipes", "validate", path], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "(tiny-cpu-tp2: 2 devices, TP 2 x PP 1 x DP 1)" in res.output


def test_cpu_server_records_its_engine_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the CPU build: 0 GPUs, 2 engine workers, in the engine info a result records."""
    monkeypatch.setattr("localeval.server.lifecycle.installed_vllm_build", lambda: "cpu")
    monkeypatch.setattr("localeval.server.lifecycle.resolve_model", lambda r: str(tmp_path))
    server = prepare_server(_tp2_recipe(), run_dir=tmp_path)
    info = server.engine_info()
    assert (info["gpu_count"], info["engine_workers"]) == (0, 2)
    argv = info["argv"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert info["env"]["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"
    monkeypatch.setattr("localeval.server.lifecycle.installed_vllm_build", lambda: "gpu")
    gpu = prepare_server(_tp2_recipe(), run_dir=tmp_path).engine_info()
    assert (gpu["gpu_count"], gpu["engine_workers"]) == (2, 2)


def _cpu_provenance(workers: int | None) -> Provenance:
    data = json.loads((DATA / "eval_cpu.json").read_text())["provenance"]
    keep = set(Provenance.model_fields)
    prov = {k: v for k, v in data.items() if k in keep}
    if workers is not None:
        prov["engine"] = {"vllm_build": "cpu", "gpu_count": 0, "engine_workers": workers}
    return Provenance.model_validate(prov)


def test_provenance_names_the_cpu_workers() -> None:
    assert _cpu_provenance(2).hardware == "CPU, 2 engine workers"
    assert _cpu_provenance(2).engine_workers == 2 and _cpu_provenance(2).gpu_count == 0
    assert _cpu_provenance(1).hardware == "CPU"
    assert _cpu_provenance(None).hardware == "CPU" and _cpu_provenance(None).engine_workers is None


def test_cpu_tp2_run_is_one_vm_hour_per_hour(tmp_path: Path) -> None:
    """Two engine workers on one host rent one VM: the 90 s of the eval are priced as 90 s
    of one device of the cpu profile, and the basis says how many workers shared it."""
    data = json.loads((DATA / "eval_cpu.json").read_text())
    data["provenance"]["engine"] = {"vllm_build": "cpu", "gpu_count": 0, "engine_workers": 2}
    path = tmp_path / "eval_cpu_tp2.json"
    path.write_text(json.dumps(data))
    report = analyze([path], CostOptions(profiles_dir=None))
    (basis,) = report.runs
    assert basis.units == 1
    assert basis.measured_on == "CPU, 2 engine workers (profile cpu)"
    assert basis.priced_on == "cpu" and basis.exact
    assert any(
        "2 engine workers on one host" in a and "one VM-hour" in a for a in basis.assumptions
    )
    cpu_per_h = get_profile("cpu").pricing.on_demand.usd_per_gpu_hour  # type: ignore[union-attr]
    arc = next(t for t in report.tasks if t.task == "arc_easy")
    on_demand = next(o for o in arc.by_option if o.option == "on_demand")
    assert on_demand.as_run_usd == pytest.approx(90 * cpu_per_h / 3600)


# ----------------------------------------------------------------------- Ray refused


def test_ray_refusal_above_the_tail_is_found_and_quoted(tmp_path: Path) -> None:
    """vLLM's CPU build refuses the Ray executor in its engine core; the API server's own
    traceback then fills the last lines of the log. The cause is still classified, its line
    quoted in the message, and the hint says what to change."""
    import sys

    from localeval.errors import ServerStartError
    from localeval.server.command import ServerCommand
    from localeval.server.lifecycle import VllmServer, free_port
    from localeval.server.logs import HINTS

    refusal = (
        "(EngineCore pid=7) ERROR 12-04 15:05:15 [core.py:1510] ValueError: current "
        "platform cpu does not support ray."
    )
    traceback = "\n".join(f'  File "entry.py", line {i}, in run_server' for i in range(60))
    message = f"{refusal}\n{traceback}\nRuntimeError: Engine core initialization failed."
    port = free_port()
    fake = str(Path(__file__).parent / "fakes" / "slow_server.py")
    cmd = ServerCommand(
        argv=[sys.executable, fake, "--port", str(port), "--exit-after", "0.1",
              "--message", message],
        host="127.0.0.1", port=port, served_model_name="fake", model="fake",
    )  # fmt: skip
    server = VllmServer(cmd, run_dir=tmp_path / "run", startup_timeout_s=60, stop_timeout_s=5)
    server.start()
    try:
        with pytest.raises(ServerStartError) as info:
            server.wait_ready()
    finally:
        server.stop()
    err = info.value
    assert err.cause == "ray_unsupported"
    assert err.hint == HINTS["ray_unsupported"]
    assert err.message.endswith(": ValueError: current platform cpu does not support ray.")
    assert "does not support ray" not in err.log_tail  # 40 lines of traceback below it
    assert "Engine core initialization failed" in err.log_tail


def test_eval_on_a_multi_node_ray_server_marks_energy_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same rule for an evaluation: real lm-eval against the fake completions server."""
    from localeval.evaluation import EvalConfig, run_eval
    from tests.fakes.fake_completions import FakeCompletionsServer
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    nvml = FakeNvml(
        [FakeGpu(name="NVIDIA H100 80GB HBM3", uuid=f"GPU-{i}", index=i) for i in range(2)]
    )
    monkeypatch.setattr("localeval.nvml.load_nvml", lambda: nvml)
    engine = {"gpu_count": 2, "cluster": _cluster(nodes=2, gpus_per_node=2)}
    config = EvalConfig.build(
        tasks=["localeval_sums_mc"], limit=2, tokenizer="remote", num_concurrent=2,
        output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    with FakeCompletionsServer() as fake:
        result = run_eval(config, Endpoint.from_url(fake.base_url, fake.model), engine_info=engine)
    assert result.status == "complete", result.errors
    assert result.provenance.gpu_count == 2
    task = result.tasks["localeval_sums_mc"]
    assert task.energy_j is None
    assert "Ray cluster of 2 nodes" in str(task.energy_unavailable_reason)
