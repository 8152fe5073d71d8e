"""The run manifest (``manifest.json`` in the run directory, kind ``run-manifest``): the state
of every stage of a `localeval run`, so that the same command resumes where it stopped.

Per recipe the stages are ``serve`` (the server is started; ``running`` while it is up,
``complete`` once it stopped cleanly), ``bench`` and ``eval``; over all recipes ``cost`` and
``report``. Each stage records its status (``pending``, ``running``, ``complete``, ``failed``,
``interrupted``, or ``skipped`` when the recipe has nothing for it), its timestamps, the number
of attempts, a message, its artifacts (paths relative to the run directory) and details (the
server's process group, GPU memory check, cluster, ...).

The manifest is written atomically after every change. A stage found ``running`` when a run
starts was left by a process that died (SIGKILL, power loss): :meth:`Manifest.recover` marks
it ``interrupted`` so it runs again.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from localeval.errors import Interrupted, LocalevalError
from localeval.results.common import Device
from localeval.results.io import load_result, validate, write_json_atomic
from localeval.results.versions import current_version

MANIFEST_FILE = "manifest.json"
KIND: Literal["run-manifest"] = "run-manifest"

# The shared status words (running / complete / failed / interrupted), and the two only a
# stage has: ``pending`` (not started yet) and ``skipped`` (nothing to do).
StageStatus = Literal["pending", "running", "complete", "failed", "interrupted", "skipped"]
RECIPE_STAGES = ("serve", "bench", "eval")
FINAL_STAGES = ("cost", "report")
DONE = frozenset({"complete", "skipped"})


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageRecord(_Model):
    """One stage: status, when it last started and finished, how often it was attempted,
    why it ended as it did, what it wrote (paths relative to the run directory)."""

    status: StageStatus = "pending"
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    attempts: int = 0
    message: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    _t0: float = 0.0

    @property
    def done(self) -> bool:
        """Complete or skipped: a rerun leaves it alone."""
        return self.status in DONE

    def begin(self) -> None:
        """Mark the stage running (one more attempt)."""
        self.status = "running"
        self.started_at = now_iso()
        self.finished_at = None
        self.duration_s = None
        self.attempts += 1
        self.message = None
        self._t0 = time.monotonic()

    def end(self, status: StageStatus, message: str | None = None) -> None:
        """Mark the stage finished with ``status``."""
        self.status = status
        self.message = message
        self.finished_at = now_iso()
        if self._t0:
            self.duration_s = round(time.monotonic() - self._t0, 3)

    def skip(self, message: str) -> None:
        """Mark the stage as having nothing to do."""
        self.status = "skipped"
        self.message = message


class ServerHeld(_Model):
    """How long a recipe's server held its GPUs: ``started_at`` (its process started) and
    ``stopped_at`` (its stop returned), ISO 8601; ``held_s`` the seconds between them (a
    monotonic clock; to the second in a migrated version-2 manifest; None while it runs);
    ``ready_after_s`` the start and model load. What the cost prices beside "as run"."""

    started_at: str
    stopped_at: str | None = None
    held_s: float | None = Field(default=None, ge=0)
    ready_after_s: float | None = Field(default=None, ge=0)


class RecipeEntry(_Model):
    """One recipe of the run and the state of its stages. ``gpu_count``: every GPU its
    server uses (0 on vLLM's CPU build); ``engine_workers``: the engine's worker processes
    (TP x PP x DP; on the CPU build they share one host; None for an existing endpoint);
    ``device``: what serves it; ``server``: how long the server localeval started held its
    GPUs (None for an existing endpoint, or before one started)."""

    name: str
    source: str | None = None
    served_model_name: str
    gpu_count: int = Field(ge=0)
    engine_workers: int | None = Field(default=None, ge=1)
    device: Device = "unknown"
    server: ServerHeld | None = None
    stages: dict[str, StageRecord] = Field(
        default_factory=lambda: {name: StageRecord() for name in RECIPE_STAGES}
    )

    @property
    def status(self) -> StageStatus:
        """The recipe's status: summarizes its bench and eval stages (and a failed start)."""
        return summarize([self.stages[s].status for s in RECIPE_STAGES])


class Invocation(_Model):
    """One `localeval run` process that worked on this run directory."""

    pid: int
    started_at: str
    finished_at: str | None = None
    argv: list[str] = Field(default_factory=list)
    resumed: bool = False
    outcome: StageStatus | None = None


class Manifest(_Model):
    """The whole run."""

    schema_version: int = current_version(KIND)
    kind: Literal["run-manifest"] = KIND
    key: str
    run_dir: str
    status: StageStatus = "pending"
    message: str | None = None
    created_at: str
    updated_at: str
    localeval_version: str
    hostname: str
    endpoint: dict[str, Any] | None = None
    recipes: list[RecipeEntry]
    final: dict[str, StageRecord] = Field(
        default_factory=lambda: {name: StageRecord() for name in FINAL_STAGES}
    )
    invocations: list[Invocation] = Field(default_factory=list)

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / MANIFEST_FILE

    def entry(self, name: str) -> RecipeEntry:
        """The recipe entry named ``name`` (KeyError when absent)."""
        for entry in self.recipes:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def all_stages(self) -> list[tuple[str | None, str, StageRecord]]:
        """Every stage as (recipe name or None for cost/report, stage name, record)."""
        out: list[tuple[str | None, str, StageRecord]] = []
        for entry in self.recipes:
            out.extend((entry.name, s, entry.stages[s]) for s in RECIPE_STAGES)
        out.extend((None, s, self.final[s]) for s in FINAL_STAGES)
        return out

    def refresh_status(self) -> StageStatus:
        """Recompute the overall status from the stages (and return it)."""
        self.status = summarize([rec.status for _, _, rec in self.all_stages()])
        return self.status

    def save(self) -> None:
        """Write the manifest atomically (updating ``updated_at`` and the overall status)."""
        self.updated_at = now_iso()
        self.refresh_status()
        write_json_atomic(self.path, self.model_dump(mode="json"))

    def recover(self) -> list[tuple[str | None, str, StageRecord]]:
        """Mark every stage left ``running`` by a process that died as ``interrupted``;
        returns those stages (their details still hold what they recorded, e.g. the server's
        process group)."""
        found = []
        for recipe, stage, rec in self.all_stages():
            if rec.status == "running":
                rec.status = "interrupted"
                rec.message = "the process running this stage ended without finishing it"
                rec.finished_at = rec.finished_at or now_iso()
                found.append((recipe, stage, rec))
        return found

    def failed_stages(self) -> list[str]:
        """'recipe/stage: message' for each failed stage."""
        return [
            f"{recipe + '/' if recipe else ''}{stage}: {rec.message or 'failed'}"
            for recipe, stage, rec in self.all_stages()
            if rec.status == "failed"
        ]

    def raise_for_status(self) -> None:
        """Raise :class:`Interrupted` for an interrupted run and :class:`LocalevalError`
        naming each failed stage for a failed one (the manifest is already written)."""
        hint = f"rerun the same command to resume (run directory {self.run_dir})"
        if self.status == "interrupted":
            raise Interrupted(self.message or "the run was interrupted", hint=hint)
        if self.status == "failed":
            lines = self.failed_stages()
            raise LocalevalError(
                f"{len(lines)} stage(s) failed:\n" + "\n".join(f"  {line}" for line in lines),
                hint=f"fix the cause and {hint}: completed stages are skipped",
            )


def summarize(statuses: list[StageStatus]) -> StageStatus:
    """One status for a set of stages: running > interrupted > failed > pending >
    complete (skipped counts as complete)."""
    for status in ("running", "interrupted", "failed", "pending"):
        if status in statuses:
            return status
    return "complete"


def load_manifest(run_dir: Path) -> Manifest | None:
    """The manifest of ``run_dir``, or None when it has none. Raises
    :class:`ResultFileError` for a manifest that cannot be read."""
    path = Path(run_dir) / MANIFEST_FILE
    if not path.exists():
        return None
    return validate(Manifest, load_result(path, KIND), str(path), "run manifest")
