"""`localeval run`: for each recipe in turn, start its server, bench it, evaluate it and stop
it; then price every result and write one report. :func:`run_pipeline` is the one entry
point; it prints nothing (progress goes to a :class:`PipelineProgress` hook).

This is the one module that composes the server launcher, the load generator, the
evaluation, the cost model and the report. Guarantees:

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
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from localeval import __version__, paths
from localeval.bench import BenchConfig, BenchResult, PointResult, run_bench
from localeval.bench.result import REQUESTS_FILE
from localeval.cluster import ClusterInfo
from localeval.cost.analyze import CostOptions, analyze
from localeval.endpoint import Endpoint
from localeval.errors import ConfigError, LocalevalError, ServerError, ServerStartError
from localeval.evaluation import EvalConfig, EvalResult, TaskError, TaskResult, run_eval
from localeval.evaluation.result import load_eval_result, main_metric
from localeval.pipeline.config import PipelineConfig
from localeval.pipeline.manifest import (
    Invocation,
    Manifest,
    RecipeEntry,
    StageRecord,
    load_manifest,
    now_iso,
)
from localeval.pipeline.serving import (
    check_gpu_memory_free,
    check_ray_cluster,
    reap_server_group,
    server_details,
    server_totals,
)
from localeval.recipes import Recipe
from localeval.report import write_report
from localeval.report.model import ReportOptions
from localeval.results import SCHEMA_VERSION, write_json_atomic
from localeval.server.lifecycle import (
    VllmServer,
    group_members,
    prepare_server,
    terminate_as_interrupt,
)

LOCK_FILE = ".lock"
REPORT_FILE = "report.html"
COST_FILE = "cost.json"
EVAL_CACHE_DIR = "eval-cache"


class PipelineProgress(Protocol):
    """Receives progress events. It is also handed to the bench (``point_started``,
    ``request_done``, ``point_finished``) and the evaluation (``task_started``,
    ``task_finished``); ``note`` serves all three."""

    def run_started(self, manifest: Manifest, resumed: bool) -> None: ...

    def stage_started(self, recipe: str | None, stage: str) -> None: ...

    def stage_skipped(self, recipe: str | None, stage: str, reason: str) -> None: ...

    def stage_finished(self, recipe: str | None, stage: str, record: StageRecord) -> None: ...

    def server_waiting(self, recipe: str, elapsed_s: float) -> None: ...

    def note(self, message: str) -> None: ...

    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None: ...

    def request_done(self, ok: bool) -> None: ...

    def point_finished(self, point: PointResult) -> None: ...

    def task_started(self, name: str, index: int, total: int) -> None: ...

    def task_finished(
        self, name: str, result: TaskResult | None, error: TaskError | None
    ) -> None: ...


class NoProgress:
    """A :class:`PipelineProgress` that ignores every event."""

    def run_started(self, manifest: Manifest, resumed: bool) -> None:
        pass

    def stage_started(self, recipe: str | None, stage: str) -> None:
        pass

    def stage_skipped(self, recipe: str | None, stage: str, reason: str) -> None:
        pass

    def stage_finished(self, recipe: str | None, stage: str, record: StageRecord) -> None:
        pass

    def server_waiting(self, recipe: str, elapsed_s: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def point_started(self, label: str, total: int | None, duration_s: float | None) -> None:
        pass

    def request_done(self, ok: bool) -> None:
        pass

    def point_finished(self, point: PointResult) -> None:
        pass

    def task_started(self, name: str, index: int, total: int) -> None:
        pass

    def task_finished(self, name: str, result: TaskResult | None, error: TaskError | None) -> None:
        pass


class _Interrupt(Exception):
    """A stage was interrupted (its record already says so): unwind and stop the run."""


@dataclass
class _Target:
    """Where a recipe's stages send their requests, and what serves them."""

    endpoint: Endpoint
    engine_info: dict[str, Any]
    server: VllmServer | None = None


@dataclass
class _Ctx:
    plan: PipelineConfig
    run_dir: Path
    manifest: Manifest
    progress: PipelineProgress

    def save(self) -> None:
        self.manifest.save()

    def stage_dir(self, recipe: str, stage: str) -> Path:
        folder = self.run_dir / recipe / stage
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def rel(self, path: Path | str) -> str:
        return os.path.relpath(Path(path), self.run_dir)


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
                gpu_count=plan.gpus if plan.gpus is not None else r.gpu_count,
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
    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(run_dir), terminate_as_interrupt():
        manifest, resumed = _open_manifest(plan, run_dir)
        ctx = _Ctx(plan, run_dir, manifest, hook)
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
                changed = _run_recipe(ctx, _effective(recipe, plan)) or changed
            _run_final(ctx, changed)
        except (KeyboardInterrupt, _Interrupt):
            manifest.message = "interrupted; rerun the same command to resume"
        finally:
            invocation.finished_at = now_iso()
            invocation.outcome = manifest.refresh_status()
            ctx.save()
    return manifest


def _effective(recipe: Recipe, plan: PipelineConfig) -> Recipe:
    """The recipe as this run uses it: ``--profile`` replaces its hardware profile."""
    if plan.profile is None:
        return recipe
    hardware = recipe.hardware.model_copy(update={"profile": plan.profile})
    return recipe.model_copy(update={"hardware": hardware})


# --------------------------------------------------------------------------- one recipe


def _run_recipe(ctx: _Ctx, recipe: Recipe) -> bool:
    """The recipe's stages that are not done yet; True when any of them ran."""
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
    target = _start(ctx, recipe, entry)
    if target is None:
        for name in todo:
            stages[name].status = "pending"
            stages[name].message = "not run: the server did not start"
        ctx.save()
        return True
    interrupted = False
    try:
        for name in todo:
            if _server_died(ctx, recipe, entry, target, name):
                continue
            if name == "bench":
                _bench(ctx, recipe, entry, target)
            else:
                _eval(ctx, recipe, entry, target)
    except (KeyboardInterrupt, _Interrupt):
        interrupted = True
        raise
    finally:
        if target.server is not None:
            _stop(ctx, recipe, entry, target.server, interrupted)
    return True


def _server_died(
    ctx: _Ctx, recipe: Recipe, entry: RecipeEntry, target: _Target, stage: str
) -> bool:
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


@contextlib.contextmanager
def _stage(ctx: _Ctx, recipe: str | None, stage: str, rec: StageRecord) -> Iterator[Path]:
    """Run one stage's body: mark it running, then complete, failed (the project's errors,
    and any other exception, whose traceback goes to ``error.txt``: one broken stage must
    not stop the other models) or interrupted. Yields the stage's folder."""
    folder = ctx.stage_dir(recipe, stage) if recipe else ctx.run_dir / stage
    folder.mkdir(parents=True, exist_ok=True)
    rec.begin()
    rec.artifacts = {}
    rec.details = {}
    ctx.save()
    ctx.progress.stage_started(recipe, stage)
    try:
        yield folder
    except KeyboardInterrupt:
        rec.end("interrupted", "interrupted (Ctrl-C or a termination signal)")
        raise
    except _Interrupt:
        raise
    except LocalevalError as exc:
        rec.end("failed", _error_message(exc))
    except Exception as exc:
        trace = folder / "error.txt"
        trace.write_text(traceback.format_exc(), encoding="utf-8")
        rec.artifacts["traceback"] = ctx.rel(trace)
        rec.end("failed", f"{type(exc).__name__}: {exc} (traceback: {ctx.rel(trace)})")
    else:
        if rec.status == "running":
            rec.end("complete")
    finally:
        ctx.save()
        ctx.progress.stage_finished(recipe, stage, rec)


def _error_message(exc: LocalevalError) -> str:
    if isinstance(exc, ServerStartError):
        text = f"{exc.message} [cause: {exc.cause}]"
        if exc.log_path:
            text += f" (log: {exc.log_path})"
    else:
        text = str(exc)
    return text + (f"; {exc.hint}" if exc.hint else "")


# --------------------------------------------------------------------------- serve


def _start(ctx: _Ctx, recipe: Recipe, entry: RecipeEntry) -> _Target | None:
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
        ctx.save()
        server.wait_ready(on_wait=lambda s: ctx.progress.server_waiting(recipe.name, s))
        rec.details["ready_after_s"] = server.ready_after_s
        ctx.save()
        # gpu_count: every GPU the engine holds, on every node (TP x PP x DP; 0 on the CPU
        # build): what the cost model prices.
        engine_info = server.engine_info()
        if cluster is not None:
            engine_info["cluster"] = cluster.to_dict()
        ctx.progress.note(
            f"{recipe.name}: server ready after {server.ready_after_s:.0f} s at {server.base_url}"
        )
        return _Target(server.endpoint, engine_info, server)
    except KeyboardInterrupt:
        _stop_quietly(server)
        rec.end("interrupted", "interrupted while the server was starting; it was stopped")
        ctx.save()
        ctx.progress.stage_finished(recipe.name, "serve", rec)
        raise
    except Exception as exc:
        _stop_quietly(server)
        if isinstance(exc, ServerStartError):
            rec.details["log_tail"] = exc.log_tail[-4000:]
        if isinstance(exc, LocalevalError):
            message = _error_message(exc)
        else:
            trace = folder / "error.txt"
            trace.write_text(traceback.format_exc(), encoding="utf-8")
            message = f"{type(exc).__name__}: {exc} (traceback: {ctx.rel(trace)})"
        rec.end("failed", message)
        ctx.save()
        ctx.progress.stage_finished(recipe.name, "serve", rec)
        return None


def _stop_quietly(server: VllmServer | None) -> None:
    if server is not None:
        with contextlib.suppress(ServerError):
            server.stop()


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


def _connect(ctx: _Ctx, recipe: Recipe, rec: StageRecord) -> _Target:
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
    return _Target(endpoint, engine_info, None)


def _stop(
    ctx: _Ctx, recipe: Recipe, entry: RecipeEntry, server: VllmServer, interrupted: bool
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
    rec.details["processes_left"] = group_members(pgid) if pgid is not None else []
    if rec.status == "running":
        if interrupted:
            rec.end("interrupted", "the run was interrupted; the server was stopped")
        else:
            rec.end("complete", "served and stopped; no process of its group remains")
    ctx.save()
    ctx.progress.stage_finished(recipe.name, "serve", rec)


# --------------------------------------------------------------------------- bench and eval


def _bench(ctx: _Ctx, recipe: Recipe, entry: RecipeEntry, target: _Target) -> None:
    rec = entry.stages["bench"]
    with _stage(ctx, recipe.name, "bench", rec) as folder:
        config = BenchConfig.from_recipe(recipe, output_dir=folder, gpu_uuids=ctx.plan.gpu_uuids)
        result = run_bench(
            config,
            target.endpoint,
            engine_info=target.engine_info,
            recipe=recipe.model_dump(mode="json"),
            progress=ctx.progress,
        )
        rec.artifacts = {
            "result": ctx.rel(result.path),
            "requests": ctx.rel(folder / REQUESTS_FILE),
        }
        rec.details = _bench_details(result)
        if result.status == "interrupted":
            rec.end("interrupted", result.message)
            raise _Interrupt
        if result.status == "failed":
            rec.end("failed", result.message)


def _bench_details(result: BenchResult) -> dict[str, Any]:
    ok = [p for p in result.points if p.completed]
    best = max(ok, key=lambda p: p.output_tok_per_s, default=None)
    return {
        "points": len(result.points),
        "requests_completed": sum(p.completed for p in result.points),
        "requests_failed": sum(p.failed for p in result.points),
        "best_output_tok_per_s": None if best is None else round(best.output_tok_per_s, 2),
        "gpu_count": result.provenance.gpu_count,
        "warnings": len(result.warnings),
    }


def _previous_eval(folder: Path) -> EvalResult | None:
    """The eval result an earlier attempt left in ``folder`` (None when absent or
    unreadable: the tasks then all run again, their answers coming from the cache)."""
    try:
        return load_eval_result(folder)
    except LocalevalError:
        return None


def _eval(ctx: _Ctx, recipe: Recipe, entry: RecipeEntry, target: _Target) -> None:
    rec = entry.stages["eval"]
    with _stage(ctx, recipe.name, "eval", rec) as folder:
        wanted = list(recipe.eval.tasks)
        previous = _previous_eval(folder)
        carried: dict[str, TaskResult] = {}
        if previous is not None:
            carried = {
                name: task
                for name, task in previous.tasks.items()
                if name in wanted and name not in previous.errors
            }
        remaining = [name for name in wanted if name not in carried]
        if carried:
            ctx.progress.note(
                f"{recipe.name}: kept from the earlier attempt: {', '.join(carried)}; "
                f"to run: {', '.join(remaining) or 'none'}"
            )
        # The run's own response cache: a rerun of this run resumes from it, a new run
        # measures afresh (answers cached by other runs would cost nothing here).
        cache = ctx.plan.eval_cache_dir or ctx.run_dir / EVAL_CACHE_DIR
        overrides: dict[str, Any] = {
            "output_dir": str(folder),
            "tasks": remaining or wanted,
            "cache_dir": str(cache),
            "gpu_uuids": ctx.plan.gpu_uuids,
        }
        if remaining:
            config = EvalConfig.from_recipe(recipe, **overrides)
            result = run_eval(
                config,
                target.endpoint,
                recipe=recipe,
                engine_info=target.engine_info,
                progress=ctx.progress,
            )
            if carried:
                assert previous is not None
                result = merge_eval_results(wanted, previous, carried, result)
                write_json_atomic(result.path, result.model_dump(mode="json"))
        else:
            assert previous is not None
            result = previous.model_copy(
                update={"status": "complete", "message": None, "finished_at": now_iso()}
            )
            write_json_atomic(result.path, result.model_dump(mode="json"))
        rec.artifacts = {"result": ctx.rel(result.path)}
        if Path(cache).is_relative_to(ctx.run_dir):
            rec.artifacts["cache"] = ctx.rel(cache)
        rec.details = _eval_details(result, sorted(carried))
        if result.status == "interrupted":
            rec.end("interrupted", result.message)
            raise _Interrupt
        if result.status == "failed":
            errors = "; ".join(f"{n}: {e.error}" for n, e in result.errors.items())
            rec.end("failed", f"{result.message}: {errors}" if errors else result.message)


def merge_eval_results(
    wanted: list[str], previous: EvalResult, carried: dict[str, TaskResult], new: EvalResult
) -> EvalResult:
    """One eval result for all of ``wanted``: the tasks an earlier attempt finished
    (``carried``, measured then: their tokens and time are real) and what this attempt ran
    (``new``). Status, message, config and provenance cover the whole list."""
    tasks = {
        name: carried[name] if name in carried else new.tasks[name]
        for name in wanted
        if name in carried or name in new.tasks
    }
    errors = {name: err for name, err in new.errors.items() if name not in carried}
    message: str | None
    if new.status == "interrupted":
        status, message = "interrupted", f"interrupted after {len(tasks)} of {len(wanted)} tasks"
    elif errors:
        status, message = "failed", f"{len(errors)} of {len(wanted)} tasks failed"
    else:
        status, message = new.status, new.message
    note = (
        f"{', '.join(carried)}: measured by an earlier attempt of this run (result of "
        f"{previous.created_at}) and kept; the other tasks were run by this attempt"
    )
    return new.model_copy(
        update={
            "status": status,
            "message": message,
            "tasks": tasks,
            "errors": errors,
            "config": {**new.config, "tasks": list(wanted)},
            "provenance": new.provenance.model_copy(
                update={
                    "tasks": list(wanted),
                    "carried_over": {
                        "tasks": list(carried),
                        "from_result_of": previous.created_at,
                    },
                }
            ),
            "warnings": [note, *new.warnings],
        }
    )


def _eval_details(result: EvalResult, carried: list[str]) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for name, task in result.tasks.items():
        metric, value, _ = main_metric(task.metrics)
        scores[name] = {
            "metric": metric,
            "value": value,
            "requests": task.requests,
            "cached_requests": task.cached_requests,
            "gpu_seconds": task.gpu_seconds,
        }
    return {
        "tasks": scores,
        "errors": {name: err.error for name, err in result.errors.items()},
        "carried_over": carried,
    }


# --------------------------------------------------------------------------- cost and report


@dataclass(frozen=True)
class _ResultFile:
    recipe: str
    kind: str
    path: Path
    profile: str
    pricing: str


def _result_files(ctx: _Ctx) -> list[_ResultFile]:
    """The bench and eval results of the run that hold measurements (a failed stage's
    result counts when it measured something: some points, or some tasks)."""
    out = []
    recipes = {r.name: _effective(r, ctx.plan) for r in ctx.plan.recipes}
    for entry in ctx.manifest.recipes:
        recipe = recipes[entry.name]
        for kind in ("bench", "eval"):
            rec = entry.stages[kind]
            rel = rec.artifacts.get("result")
            if rec.status not in ("complete", "failed") or not rel:
                continue
            path = ctx.run_dir / rel
            if not path.is_file() or not _has_measurements(path, kind):
                continue
            out.append(
                _ResultFile(
                    entry.name, kind, path, recipe.hardware.profile, recipe.hardware.pricing
                )
            )
    return out


def _has_measurements(path: Path, kind: str) -> bool:
    try:
        if kind == "bench":
            from localeval.bench import load_bench_result

            return any(p.completed for p in load_bench_result(path).points)
        return bool(load_eval_result(path).tasks)
    except LocalevalError:
        return False


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _run_final(ctx: _Ctx, changed: bool) -> None:
    results = _result_files(ctx)
    for stage, body in (("cost", _cost), ("report", _report)):
        rec = ctx.manifest.final[stage]
        if rec.done and not changed:
            ctx.progress.stage_skipped(None, stage, "already complete; no result changed")
            continue
        with _stage(ctx, None, stage, rec) as folder:
            if not results:
                rec.skip("no bench or eval result to work from")
                rec.finished_at = now_iso()
                continue
            body(ctx, rec, folder, results)


def _cost(ctx: _Ctx, rec: StageRecord, folder: Path, results: list[_ResultFile]) -> None:
    groups: dict[str, list[_ResultFile]] = {}
    for r in results:
        groups.setdefault(r.profile, []).append(r)
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for profile, members in groups.items():
        pricing = _unique([m.pricing for m in members])
        options = CostOptions(profile=profile, pricing=pricing)
        files = [str(m.path) for m in members]
        try:
            report = analyze(files, options)
        except LocalevalError as exc:
            problems.append(f"{profile}: {_error_message(exc)}")
            out.append({"profile": profile, "results": files, "error": str(exc)})
            continue
        out.append(
            {"profile": profile, "pricing": list(pricing), "results": files, **report.to_dict()}
        )
    path = folder / COST_FILE
    write_json_atomic(
        path,
        {"schema_version": SCHEMA_VERSION, "kind": "run-cost", "groups": out},
    )
    rec.artifacts = {"cost": ctx.rel(path)}
    rec.details = {
        "results": len(results),
        "gpus_priced": {
            ctx.rel(r["path"]): r["gpus_priced"] for g in out for r in g.get("runs", [])
        },
    }
    if problems:
        rec.end("failed", "; ".join(problems))


def _report(ctx: _Ctx, rec: StageRecord, folder: Path, results: list[_ResultFile]) -> None:
    options = ReportOptions(pricing=_unique([r.pricing for r in results]))
    path = write_report(
        [r.path for r in results], "html", ctx.run_dir / REPORT_FILE, options=options
    )
    rec.artifacts = {"report": ctx.rel(path)}
    rec.details = {"results": [ctx.rel(r.path) for r in results]}
    with contextlib.suppress(OSError):
        folder.rmdir()  # the report lives at the top of the run directory
