"""Which GPUs a run counts (GPU-seconds) and samples (energy): one rule for bench and eval."""

from __future__ import annotations

from localeval.provenance import plan_gpus


def _detection(n: int) -> dict[str, object]:
    gpus = [{"name": "NVIDIA H100", "uuid": f"GPU-{i}", "profile": "h100-sxm"} for i in range(n)]
    return {"available": True, "gpus": gpus}


def test_engine_count_and_all_local_gpus_serving() -> None:
    plan = plan_gpus(local=True, detection=_detection(2), engine_info={"gpu_count": 2})
    assert (plan.gpu_count, plan.count_source, plan.energy_reason) == (2, "engine", None)
    assert plan.sample_uuids is None and len(plan.gpus) == 2


def test_server_on_some_of_this_machines_gpus_has_no_energy() -> None:
    plan = plan_gpus(local=True, detection=_detection(8), engine_info={"gpu_count": 2})
    assert plan.gpu_count == 2 and "8 GPU(s)" in str(plan.energy_reason)


def test_server_over_several_nodes_has_no_energy() -> None:
    """A Ray server with TP 8 x PP 2: 16 GPUs, 8 of them on this (head) node."""
    plan = plan_gpus(local=True, detection=_detection(8), engine_info={"gpu_count": 16})
    assert plan.gpu_count == 16
    assert "server uses 16" in str(plan.energy_reason) and "nodes" in str(plan.energy_reason)
    recipe_only = plan_gpus(local=True, detection=_detection(8), engine_info=None,
                            recipe_gpu_count=16)  # fmt: skip
    assert (recipe_only.gpu_count, recipe_only.count_source) == (16, "recipe")
    assert recipe_only.energy_reason is not None


def test_named_gpus_are_sampled() -> None:
    plan = plan_gpus(local=True, detection=_detection(8), engine_info=None, gpu_uuids=["GPU-3"])
    assert (plan.gpu_count, plan.sample_uuids, plan.energy_reason) == (1, ["GPU-3"], None)
    assert [g["uuid"] for g in plan.gpus] == ["GPU-3"]
    missing = plan_gpus(
        local=True, detection=_detection(2), engine_info=None, gpu_uuids=["GPU-1", "GPU-9"]
    )
    assert missing.energy_reason == "GPU(s) GPU-9 not found on this machine"
    assert missing.count_source == "--gpu-uuids"


def test_named_gpus_must_be_the_servers_count() -> None:
    """``--gpus 4 --gpu-uuids GPU-0,GPU-1``: two nodes of two GPUs each; this machine's two
    would be half the server's energy."""
    plan = plan_gpus(
        local=True, detection=_detection(2), engine_info=None, gpu_uuids=["GPU-0", "GPU-1"],
        gpu_count=4,
    )  # fmt: skip
    assert (plan.gpu_count, plan.count_source) == (4, "--gpus")
    assert "2 GPU(s) named by UUID and the server uses 4" in str(plan.energy_reason)
    engine = {"gpu_count": 2}
    plan = plan_gpus(
        local=True, detection=_detection(8), engine_info=engine, gpu_uuids=["GPU-5", "GPU-6"]
    )
    assert (plan.gpu_count, plan.sample_uuids, plan.energy_reason) == (2, ["GPU-5", "GPU-6"], None)


def test_count_precedence() -> None:
    engine = {"gpu_count": 4, "gpu_count_source": "--gpus"}
    plan = plan_gpus(local=True, detection=_detection(4), engine_info=engine, gpu_count=2)
    assert (plan.gpu_count, plan.count_source) == (4, "--gpus")
    plan = plan_gpus(
        local=True, detection=_detection(4), engine_info=None, gpu_count=2, recipe_gpu_count=8
    )
    assert (plan.gpu_count, plan.count_source) == (2, "--gpus")
    plan = plan_gpus(local=True, detection=_detection(3), engine_info=None)
    assert (plan.gpu_count, plan.count_source, plan.energy_reason) == (3, "this machine", None)


def test_remote_or_no_nvml() -> None:
    plan = plan_gpus(local=False, detection={"available": False}, engine_info=None)
    assert (plan.gpu_count, plan.energy_reason) == (0, "the endpoint is not on this machine")
    assert plan.count_source == "unknown (remote endpoint)"
    nvml_missing = {"available": False, "reason": "NVML not found"}
    plan = plan_gpus(local=True, detection=nvml_missing, engine_info=None)
    assert (plan.gpu_count, plan.energy_reason) == (0, "NVML not found")
