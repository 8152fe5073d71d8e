"""The progress hook of `localeval run`: :class:`PipelineProgress`, the events a run
reports (the CLI prints them), and :class:`NoProgress`, which ignores them."""

from __future__ import annotations

from typing import Protocol

from localeval.bench import PointResult
from localeval.evaluation import TaskError, TaskResult
from localeval.pipeline.manifest import Manifest, StageRecord


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
