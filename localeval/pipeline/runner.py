"""`localeval run`: for each recipe in turn, start its server, bench it, evaluate it and stop
it; then price every result and write one report. :func:`run_pipeline` is the one entry
point; it prints nothing (progress goes to a :class:`PipelineProgress` hook).

This module is the table of contents: the run directory, its lock and manifest, and the loop
over recipes. Each stage lives in its own module (``serve_stage``, ``bench_stage``,
``eval_stage``, ``final_stages``), over the shared ``context``. Guarantees:

* one server at a time: a server is stopped (its whole process group, checked empty) before
  the next one starts, and the GPUs' memory is checked free through NVML first;
* each stage's state is in the manifest (written atomically after every change), so the
  same command resumes: completed stages are skipped, an evaluation takes the answers it
  already received from its response cache and keeps the tasks an earlier attempt finished;
* a failed model does not stop the next one; Ctrl-C, SIGTERM and SIGHUP stop the server
  and leave the stage ``interrupted``; after a SIGKILL the server's watchdog stops the
  server and the next run finds the stage ``running``, reaps any process left in the
  server's group and runs the stage again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from localeval import __version__, paths
from localeval.errors import ConfigError
from localeval.pipeline.bench_stage import run_bench_stage
from localeval.pipeline.config import PipelineConfig
from localeval.pipeline.context import RunContext, StageInterrupted, effective_recipe
from localeval.pipeline.eval_stage import run_eval_stage
from localeval.pipeline.final_stages import run_final_stages
from localeval.pipeline.manifest import (
    MANIFEST_FILE,
    Invocation,
    Manifest,
    RecipeEntry,
    load_manifest,
    now_iso,
)
from localeval.pipeline.progress import NoProgress, PipelineProgress
from localeval.pipeline.serve_stage import server_died, start_server, stop_server
from localeval.pipeline.serving import check_ray_cluster, reap_server_group
from localeval.recipes import AnyRecipe, ApiRecipe
from localeval.rundir import make_run_dir, remove_empty
from localeval.server.command import installed_vllm_build
from localeval.server.lifecycle import terminate_as_interrupt

LOCK_FILE = ".lock"


# --------------------------------------------------------------------------- run directory


def resolve_run_dir(plan: PipelineConfig) -> Path:
    """The run directory of ``plan``: ``--output``, else a new one (``new``), else the one
    derived from the plan (found again by the same command)."""
    if plan.output is not None:
        return Path(plan.output).expanduser().absolute()
    if plan.new:
        return paths.new_run_dir(f"run-{plan.label}").absolute()
    return plan.default_run_dir().absolute()


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run directory (released even on SIGKILL)."""
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(
                f"another localeval run (pid {holder}) is working in {run_dir}",
                hint="wait for it to finish, or stop it first",
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _endpoint_record(plan: PipelineConfig) -> dict[str, Any] | None:
    """The manifest's ``endpoint``: the existing deployment's options (None without one)."""
    if plan.endpoint is None:
        return None
    record: dict[str, Any] = {
        "url": plan.endpoint,
        "model": plan.model,
        "gpus": plan.gpus,
        "profile": plan.profile,
    }
    if plan.gpu_uuids is not None:
        record["gpu_uuids"] = plan.gpu_uuids
    return record


def _expected_gpus(plan: PipelineConfig, recipe: AnyRecipe) -> dict[str, Any]:
    """A recipe's ``gpu_count``, ``engine_workers`` and ``device`` before its server starts:
    the deployment's ``--gpus`` for an existing endpoint (its workers unknown); else 0 GPUs
    on vLLM's CPU build, which runs the recipe's TP x PP x DP as worker processes on this
    host's cores; else the recipe's TP x PP x DP GPUs. The serve stage records what the
    started engine reports. A closed API: none of ours."""
    if isinstance(recipe, ApiRecipe):
        return {"gpu_count": 0, "device": "api"}
    if plan.gpus is not None:
        return {"gpu_count": plan.gpus, "device": "gpu" if plan.gpus > 0 else "unknown"}
    workers = recipe.gpu_count
    if installed_vllm_build() == "cpu":
        return {"gpu_count": 0, "engine_workers": workers, "device": "cpu"}
    return {"gpu_count": workers, "engine_workers": workers, "device": "gpu"}


def _open_manifest(plan: PipelineConfig, run_dir: Path) -> tuple[Manifest, bool]:
    existing = load_manifest(run_dir)
    if existing is not None:
        if existing.key != plan.key:
            raise ConfigError(
                f"{run_dir} holds a run of other recipes or settings "
                f"(key {existing.key}, this command's is {plan.key})",
                hint="choose another --output, or leave --output out to use this command's "
                "own run directory",
            )
        existing.run_dir = str(run_dir)
        return existing, True
    others = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
    if others:
        raise ConfigError(
            f"{run_dir} is not empty and is not a localeval run directory (no manifest.json)",
            hint="choose an empty or new folder for --output",
        )
    now = now_iso()
    manifest = Manifest(
        key=plan.key,
        run_dir=str(run_dir),
        created_at=now,
        updated_at=now,
        localeval_version=__version__,
        hostname=socket.gethostname(),
        endpoint=_endpoint_record(plan),
        recipes=[
            RecipeEntry(
                name=r.name,
                source=r.source_path,
                served_model_name=plan.model or r.served_model_name,
                **_expected_gpus(plan, r),
            )
            for r in plan.recipes
        ],
    )
    return manifest, False


# --------------------------------------------------------------------------- entry point


def run_pipeline(plan: PipelineConfig, progress: PipelineProgress | None = None) -> Manifest:
    """Run (or resume) every stage of ``plan`` and return the manifest, also written to
    ``<run dir>/manifest.json``. A run with failed stages or interrupted is returned with
    status ``failed``/``interrupted``; call ``Manifest.raise_for_status()`` to turn that
    into an error. Raises ConfigError before any stage for a run directory that holds
    another run or is in use by another process."""
    hook: PipelineProgress = progress or NoProgress()
    plan.check()
    run_dir = resolve_run_dir(plan)
    created = make_run_dir(run_dir)
    had_lock = (run_dir / LOCK_FILE).exists()
    try:
        return _run_in(plan, run_dir, hook)
    finally:
        if not (run_dir / MANIFEST_FILE).exists():
            # stopped before the run was recorded: leave nothing of ours behind
            if not had_lock:
                (run_dir / LOCK_FILE).unlink(missing_ok=True)
            remove_empty(created)


def _check_clusters(plan: PipelineConfig, manifest: Manifest) -> None:
    """Before any stage: the Ray cluster of each recipe that still has a stage to run must
    hold the GPUs its engine needs, else ConfigError (vLLM would wait for them forever, and
    a run of several recipes would fail only when it reached this one). The serve stage
    reads the cluster again and records it."""
    if plan.endpoint is not None:
        return
    for recipe in plan.recipes:
        if isinstance(recipe, ApiRecipe) or recipe.engine.distributed_backend != "ray":
            continue
        stages = manifest.entry(recipe.name).stages
        wanted = ["bench", "eval"] if recipe.eval.tasks else ["bench"]
        if any(not stages[s].done for s in wanted):
            check_ray_cluster(recipe, lambda message: None)


def _run_in(plan: PipelineConfig, run_dir: Path, hook: PipelineProgress) -> Manifest:
    with _run_lock(run_dir), terminate_as_interrupt():
        manifest, resumed = _open_manifest(plan, run_dir)
        _check_clusters(plan, manifest)
        ctx = RunContext(plan, run_dir, manifest, hook)
        for recipe_name, stage, rec in manifest.recover():
            where = f"{recipe_name}/{stage}" if recipe_name else stage
            hook.note(f"{where} was left running by a process that died: it runs again")
            if stage == "serve":
                reaped = reap_server_group(rec.details)
                if reaped:
                    rec.details["reaped_processes"] = reaped
                    hook.note(f"stopped {len(reaped)} leftover server process(es) of {where}")
        for earlier in manifest.invocations:
            if earlier.finished_at is None:  # it died: the lock says nobody else runs
                earlier.outcome = "interrupted"
        invocation = Invocation(
            pid=os.getpid(), started_at=now_iso(), argv=list(plan.argv), resumed=resumed
        )
        manifest.invocations.append(invocation)
        manifest.message = None
        ctx.save()
        hook.run_started(manifest, resumed)
        try:
            changed = False
            for recipe in plan.recipes:
                changed = _run_recipe(ctx, effective_recipe(recipe, plan)) or changed
            run_final_stages(ctx, changed)
        except (KeyboardInterrupt, StageInterrupted):
            manifest.message = "interrupted; rerun the same command to resume"
        finally:
            invocation.finished_at = now_iso()
            invocation.outcome = manifest.refresh_status()
            ctx.save()
    return manifest


# --------------------------------------------------------------------------- one recipe


def _run_api_recipe(ctx: RunContext, recipe: ApiRecipe) -> bool:
    """An API recipe: no server and no bench; its evaluation against the API when not done
    yet. True when it ran."""
    entry = ctx.manifest.entry(recipe.name)
    stages = entry.stages
    for name in ("serve", "bench"):
        if stages[name].status == "pending":
            stages[name].skip("an API recipe: no server of ours to start or bench")
        ctx.progress.stage_skipped(recipe.name, name, "an API recipe")
    if not recipe.eval.tasks and not stages["eval"].done:
        stages["eval"].skip("the recipe lists no eval tasks")
    ctx.save()
    if stages["eval"].done:
        rec = stages["eval"]
        reason = rec.message if rec.status == "skipped" and rec.message else "already complete"
        ctx.progress.stage_skipped(recipe.name, "eval", reason)
        return False
    run_eval_stage(ctx, recipe, entry, None)
    return True


def _run_recipe(ctx: RunContext, recipe: AnyRecipe) -> bool:
    """The recipe's stages that are not done yet; True when any of them ran."""
    if isinstance(recipe, ApiRecipe):
        return _run_api_recipe(ctx, recipe)
    entry = ctx.manifest.entry(recipe.name)
    stages = entry.stages
    if not recipe.eval.tasks and not stages["eval"].done:
        stages["eval"].skip("the recipe lists no eval tasks")
        ctx.save()
    todo = [s for s in ("bench", "eval") if not stages[s].done]
    for name in ("bench", "eval"):
        if name not in todo:
            rec = stages[name]
            reason = rec.message if rec.status == "skipped" and rec.message else "already complete"
            ctx.progress.stage_skipped(recipe.name, name, reason)
    if not todo:
        ctx.progress.stage_skipped(recipe.name, "serve", "no stage of this recipe needs it")
        return False
    target = start_server(ctx, recipe, entry)
    if target is None:
        for name in todo:
            stages[name].status = "pending"
            stages[name].message = "not run: the server did not start"
        ctx.save()
        return True
    interrupted = False
    try:
        for name in todo:
            if server_died(ctx, recipe, entry, target, name):
                continue
            if name == "bench":
                run_bench_stage(ctx, recipe, entry, target)
            else:
                run_eval_stage(ctx, recipe, entry, target)
    except (KeyboardInterrupt, StageInterrupted):
        interrupted = True
        raise
    finally:
        if target.server is not None:
            stop_server(ctx, recipe, entry, target.server, interrupted)
    return True
