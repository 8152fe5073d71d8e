"""Published reference points: what a full benchmark run costs on API models that reach an
accuracy threshold (the seed table: MMLU-Pro at >= 83%, o1 $75, DeepSeek R1 $6.75, DeepSeek
V3.2 $2.24). Shipped as ``data/reference_points.json`` with sources and dates."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json

from pydantic import BaseModel, ConfigDict, Field

from localeval.yamlio import validate_model

REFERENCE_FILE = "reference_points.json"


class ReferencePoint(BaseModel):
    """One published cost of a full benchmark run. ``score`` is the reported accuracy
    (0..1) when the source gives one; ``score_at_least`` a lower bound when it only says
    the model reaches a threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    task: str
    benchmark: str
    metric: str
    score: float | None = Field(default=None, ge=0, le=1)
    score_at_least: float | None = Field(default=None, ge=0, le=1)
    model: str
    api_model: str | None = None
    released: dt.date | None = None
    input_usd_per_m: float | None = Field(default=None, ge=0)
    output_usd_per_m: float | None = Field(default=None, ge=0)
    cost_usd: float = Field(ge=0)
    source: str = Field(min_length=1)
    as_of: dt.date

    def meets(self, threshold: float) -> bool | None:
        """Whether the point reaches ``threshold`` (0..1); None when the source does not
        say enough to tell."""
        if self.score is not None:
            return self.score >= threshold
        if self.score_at_least is not None and self.score_at_least >= threshold:
            return True
        return None


class _ReferenceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    points: list[ReferencePoint]


def load_reference_points(task: str | None = None) -> list[ReferencePoint]:
    """The shipped reference points, those for ``task`` only when given (lm-eval task
    names, e.g. ``mmlu_pro``)."""
    text = (
        importlib.resources.files("localeval.cost.data")
        .joinpath(REFERENCE_FILE)
        .read_text(encoding="utf-8")
    )
    data = validate_model(_ReferenceFile, json.loads(text), REFERENCE_FILE, "reference file")
    return [p for p in data.points if task is None or p.task == task]
