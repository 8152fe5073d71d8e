"""The serve stage: start a recipe's vLLM server and wait until it serves (or connect to
``--endpoint``), notice a server that died while serving, and stop it with its whole process
group."""

from __future__ import annotations

import contextlib
import traceback
from typing import Any

from localeval.cluster import ClusterInfo
from localeval.endpoint import Endpoint
from localeval.errors import LocalevalError, ServerError, ServerStartError
from localeval.pipeline.context import RunContext, Target, error_message
from localeval.pipeline.manifest import RecipeEntry, ServerHeld, StageRecord, now_iso
from localeval.pipeline.serving import (
    check_gpu_memory_free,
    check_ray_cluster,
    server_details,
    server_totals,
)
from localeval.recipes import Recipe
from localeval.results.common import device_kind
from localeval.server.lifecycle import VllmServer, group_members, prepare_server


def start_server(ctx: RunContext, recipe: Recipe, entry: RecipeEntry) -> Target | None:
    """Start the recipe's server and wait until it serves (or connect to ``--endpoint``).
    The serve stage stays ``running`` while the server is up. None when it failed."""
    rec = entry.stages["serve"]
    folder = ctx.stage_dir(recipe.name, "serve")
    rec.begin()
    rec.artifacts = {}
    rec.details = {}
    ctx.save()
    ctx.progress.stage_started(recipe.name, "serve")
    server: VllmServer | None = None
    try:
        if ctx.plan.endpoint is not None:
            target = _connect(ctx, recipe, rec)
            rec.end("complete", f"existing endpoint {target.endpoint.base_url}")
            ctx.save()
            ctx.progress.stage_finished(recipe.name, "serve", rec)
            return target
        rec.details["gpu_memory"] = check_gpu_memory_free(
            ctx.plan.gpu_free_timeout_s, ctx.progress.note
        )
        cluster: ClusterInfo | None = None
        if recipe.engine.distributed_backend == "ray":
            cluster = check_ray_cluster(recipe, ctx.progress.note)
            rec.details["cluster"] = cluster.to_dict()
        ctx.save()
        ctx.progress.note(f"{recipe.name}: preparing the model and the server command")
        server = prepare_server(recipe, run_dir=folder)
        rec.artifacts["log"] = ctx.rel(server.log_path)
        server.start()
        rec.details.update(server_details(server))
        entry.server = ServerHeld(started_at=rec.details["started_at"])
        ctx.save()
        server.wait_ready(on_wait=lambda s: ctx.progress.server_waiting(recipe.name, s))
        rec.details["ready_after_s"] = server.ready_after_s
        entry.server.ready_after_s = server.ready_after_s
        ctx.save()
        # gpu_count: every GPU the engine holds, on every node (TP x PP x DP; 0 on the CPU
        # build): what the cost model prices. engine_workers: its TP x PP x DP processes.
        engine_info = server.engine_info()
        if cluster is not None:
            engine_info["cluster"] = cluster.to_dict()
        entry.gpu_count = int(engine_info["gpu_count"])
        entry.engine_workers = int(engine_info["engine_workers"])
        entry.device = device_kind(engine_info.get("vllm_build"), entry.gpu_count)
        ctx.progress.note(
            f"{recipe.name}: server ready after {server.ready_after_s:.0f} s at {server.base_url}"
        )
        return Target(server.endpoint, engine_info, server)
    except KeyboardInterrupt:
        _stop_quietly(server, entry)
        rec.end("interrupted", "interrupted while the server was starting; it was stopped")
        ctx.save()
        ctx.progress.stage_finished(recipe.name, "serve", rec)
        raise
    except Exception as exc:
        _stop_quietly(server, entry)
        if isinstance(exc, ServerStartError):
            rec.details["log_tail"] = exc.log_tail[-4000:]
        if isinstance(exc, LocalevalError):
            message = error_message(exc)
        else:
            trace = folder / "error.txt"
            trace.write_text(traceback.format_exc(), encoding="utf-8")
            message = f"{type(exc).__name__}: {exc} (traceback: {ctx.rel(trace)})"
        rec.end("failed", message)
        ctx.save()
        ctx.progress.stage_finished(recipe.name, "serve", rec)
        return None


def _stop_quietly(server: VllmServer | None, entry: RecipeEntry | None = None) -> None:
    if server is not None:
        with contextlib.suppress(ServerError):
            server.stop()
        if entry is not None:
            _held(entry, server)


def _held(entry: RecipeEntry, server: VllmServer) -> None:
    """Record how long the stopped server held its GPUs (from its start to its stop)."""
    if entry.server is not None:
        entry.server.stopped_at = now_iso()
        entry.server.held_s = server.up_s


def _connect(ctx: RunContext, recipe: Recipe, rec: StageRecord) -> Target:
    plan = ctx.plan
    assert plan.endpoint is not None and plan.gpus is not None
    endpoint = Endpoint.from_url(plan.endpoint, plan.model or recipe.served_model_name)
    max_len = endpoint.max_model_len()  # raises EndpointError when the model is not served
    engine_info: dict[str, Any] = {
        "launcher": "external",
        "deployment": "existing endpoint (--endpoint)",
        "served_model_name": endpoint.model,
        "gpu_count": plan.gpus,
        "gpu_count_source": "--gpus",
        "recipe": recipe.name,
    }
    rec.details.update(
        {
            "endpoint": endpoint.base_url,
            "model": endpoint.model,
            "max_model_len": max_len,
            "gpu_count": plan.gpus,
        }
    )
    return Target(endpoint, engine_info, None)


def stop_server(
    ctx: RunContext, recipe: Recipe, entry: RecipeEntry, server: VllmServer, interrupted: bool
) -> None:
    """Stop the server and check its group is empty. A server that cannot be stopped stops
    the run: the next server must not start beside it."""
    rec = entry.stages["serve"]
    pgid = server.pid
    rec.details["server_totals"] = server_totals(server)
    try:
        server.stop()
    except ServerError as exc:
        rec.end("failed", f"stopping the server: {exc}")
        ctx.save()
        ctx.progress.stage_finished(recipe.name, "serve", rec)
        raise
    rec.details["stopped_at"] = now_iso()
    _held(entry, server)
    rec.details["processes_left"] = group_members(pgid) if pgid is not None else []
    if rec.status == "running":
        if interrupted:
            rec.end("interrupted", "the run was interrupted; the server was stopped")
        else:
            rec.end("complete", "served and stopped; no process of its group remains")
    ctx.save()
    ctx.progress.stage_finished(recipe.name, "serve", rec)


def server_died(
    ctx: RunContext, recipe: Recipe, entry: RecipeEntry, target: Target, stage: str
) -> bool:
    """True when the recipe's server has exited: ``stage`` is then marked failed without
    running (and the serve stage too, if it was still running)."""
    server = target.server
    code = server.proc.poll() if server is not None and server.proc is not None else None
    if code is None:
        return False
    assert server is not None
    log = ctx.rel(server.log_path)
    serve = entry.stages["serve"]
    if serve.status == "running":
        serve.end("failed", f"the server exited with code {code} while serving (log: {log})")
    rec = entry.stages[stage]
    rec.message = f"not run: the server exited with code {code} (log: {log})"
    rec.status = "failed"
    ctx.save()
    ctx.progress.stage_finished(recipe.name, stage, rec)
    return True
