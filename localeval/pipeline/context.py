"""What every stage of a run shares: the run's context (plan, directory, manifest,
progress hook), the target a recipe's stages send requests to, and :func:`run_stage`, which
records one stage's outcome in the manifest. The stage modules import it; it imports none of
them."""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localeval.endpoint import Endpoint
from localeval.errors import LocalevalError, ServerStartError
from localeval.pipeline.config import PipelineConfig
from localeval.pipeline.manifest import Manifest, StageRecord
from localeval.pipeline.progress import PipelineProgress
from localeval.recipes import AnyRecipe, ApiRecipe
from localeval.server.lifecycle import VllmServer


class StageInterrupted(Exception):
    """A stage was interrupted (its record already says so): unwind and stop the run."""


@dataclass
class Target:
    """Where a recipe's stages send their requests, and what serves them."""

    endpoint: Endpoint
    engine_info: dict[str, Any]
    server: VllmServer | None = None


@dataclass
class RunContext:
    """The run being worked on: its plan, run directory, manifest and progress hook."""

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


def effective_recipe(recipe: AnyRecipe, plan: PipelineConfig) -> AnyRecipe:
    """The recipe as this run uses it: ``--profile`` replaces its hardware profile (an API
    recipe has none)."""
    if plan.profile is None or isinstance(recipe, ApiRecipe):
        return recipe
    hardware = recipe.hardware.model_copy(update={"profile": plan.profile})
    return recipe.model_copy(update={"hardware": hardware})


@contextlib.contextmanager
def run_stage(ctx: RunContext, recipe: str | None, stage: str, rec: StageRecord) -> Iterator[Path]:
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
    except StageInterrupted:
        raise
    except LocalevalError as exc:
        rec.end("failed", error_message(exc))
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


def error_message(exc: LocalevalError) -> str:
    if isinstance(exc, ServerStartError):
        text = f"{exc.message} [cause: {exc.cause}]"
        if exc.log_path:
            text += f" (log: {exc.log_path})"
    else:
        text = str(exc)
    return text + (f"; {exc.hint}" if exc.hint else "")
