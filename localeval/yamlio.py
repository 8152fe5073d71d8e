"""Safe YAML loading and pydantic validation errors turned into one line per problem,
each naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from localeval.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file with ``yaml.safe_load``: tags such as ``!!python/object/apply`` are
    refused, never executed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{path}{where}: not valid YAML for localeval: {problem}",
            hint="only plain YAML is accepted (no !!python tags)",
        ) from exc


def validation_problems(source: str, exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``SOURCE: field.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif "input" in err and err["type"] not in ("missing",):
            value = err["input"]
            if not isinstance(value, (dict, list)):
                msg = f"{msg} (got {value!r})"
        lines.append(f"{source}: {loc}: {msg}")
    return lines


def validate_model(model: type[M], data: Any, source: str, kind: str) -> M:
    """Validate ``data`` as ``model``; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid {kind} {source}",
            problems=[f"{source}: expected a mapping at the top level, got {type(data).__name__}"],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid {kind} {source}", problems=validation_problems(source, exc)
        ) from exc
