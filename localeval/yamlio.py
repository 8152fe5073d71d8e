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
    refused, never executed. Raises :class:`ConfigError` naming the file, the line and the
    column, with a hint that matches the kind of error (syntax or tag)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (not UTF-8 at byte {exc.start})",
            hint="pass a YAML file",
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_error(path, text, exc) from exc


def yaml_error(path: Path, text: str, exc: yaml.YAMLError) -> ConfigError:
    """A :class:`ConfigError` for a YAML parse failure: ``FILE:LINE:COLUMN: problem``, the
    offending line with a caret under the column, and a hint for that kind of error."""
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    problems: list[str] = []
    if mark is not None:
        lines = text.splitlines()
        if 0 <= mark.line < len(lines):
            problems = [lines[mark.line].replace("\t", "→"), " " * mark.column + "^"]
    if isinstance(exc, yaml.constructor.ConstructorError):
        kind = "a tag localeval refuses"
        hint = (
            "only plain YAML is accepted: remove the tag (no !!python or custom tags) and "
            "write the value as plain text, a number, a list or a mapping"
        )
    else:
        kind = "a syntax error"
        if "\\t" in problem or "\t" in problem:
            fix = "indent with spaces, not tabs"
        else:
            fix = (
                "check the indentation, a missing closing bracket or quote, and quote a value "
                "that contains ': ' or starts with a special character"
            )
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        hint = f"fix the syntax{at}: {fix}"
    message = f"{path}{where}: not valid YAML ({kind}): {problem}"
    if context:
        message += f" ({context})"
    return ConfigError(message, problems=problems, hint=hint)


# Fields whose wrong value may be a secret pasted in the wrong place: never repeated.
_NOT_ECHOED = frozenset({"api_key_env"})


def validation_problems(source: str, exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``SOURCE: field.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["loc"] and err["loc"][-1] in _NOT_ECHOED:
            msg = f"{msg} (a variable's name, never the key itself; the value is not shown)"
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
