"""The published contract of each kind of result file: its JSON Schema (from the same
models that write and read it) and a field reference, one line per field with its type and
unit, for people who consume published results."""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from localeval.errors import UnknownNameError
from localeval.results.bench import BenchResult
from localeval.results.cost import CostReport, RunCostFile
from localeval.results.eval import EvalResult
from localeval.results.manifest import Manifest
from localeval.results.plan import PlanReport
from localeval.results.versions import current_version

# kind -> (the file's model, where localeval writes it)
MODELS: dict[str, tuple[type[Any], str]] = {
    "bench": (
        BenchResult,
        "`localeval bench`: RUN/result.json (`run`: RUN/RECIPE/bench/result.json)",
    ),
    "eval": (EvalResult, "`localeval eval`: RUN/result.json (`run`: RUN/RECIPE/eval/result.json)"),
    "run-manifest": (Manifest, "`localeval run`: RUN/manifest.json"),
    "cost": (CostReport, "`localeval cost --json` (standard output)"),
    "run-cost": (RunCostFile, "`localeval run`: RUN/cost/cost.json"),
    "plan": (PlanReport, "`localeval plan --json` (standard output)"),
}

# Units read off a field's name: the project names every figure with its unit.
_UNITS: tuple[tuple[str, str], ...] = (
    (r"_tok_per_s$", "tokens/s"),
    (r"_rps$", "requests/s"),
    (r"(^|_)usd_per_m(_|$)", "USD per million tokens"),
    (r"usd_per_gpu_hour$", "USD per GPU-hour"),
    (r"usd_per_hour$", "USD per hour"),
    (r"usd_per_kwh$", "USD per kWh"),
    (r"(^|_)usd(_|$)", "USD"),
    (r"_ms$", "milliseconds"),
    (r"gpu_seconds$", "GPU-seconds"),
    (r"_s$", "seconds"),
    (r"_j$", "joules"),
    (r"_w$", "watts"),
    (r"_pct$", "percent"),
    (r"_bytes$", "bytes"),
    (r"_gib$", "GiB"),
    (r"_mhz$", "MHz"),
    (r"_kwh$|^kwh", "kWh"),
    (r"_tokens$|^tokens_", "tokens"),
    (r"(^|_)at$", "ISO 8601 time (UTC)"),
)
# Counts and shares whose names say what they count.
_NAMED_UNITS: dict[str, str] = {
    "completed": "requests",
    "failed": "requests",
    "cancelled": "requests",
    "requests": "requests",
    "cached_requests": "requests",
    "lm_eval_requests": "requests",
    "client_responses": "responses",
    "server_requests": "requests",
    "usage_missing": "requests",
    "prompt_tokens_mismatch": "requests",
    "output_tokens_mismatch": "requests",
    "slo_met": "requests",
    "slo_attainment": "fraction (0-1)",
    "attainment_target": "fraction (0-1)",
    "concurrency": "requests in flight",
    "n_samples": "samples",
    "num_fewshot": "examples",
    "gpu_count": "GPUs",
    "gpus_priced": "GPUs",
    "gpus": "GPUs",
    "samples": "readings",
    "count": "values",
    "attempts": "attempts",
    "max_model_len": "tokens",
    "max_length": "tokens",
    "seed": "-",
    "index": "-",
}


def known_kinds() -> list[str]:
    return list(MODELS)


def model_for(kind: str) -> type[Any]:
    """The model of ``kind``; :class:`UnknownNameError` lists the known kinds."""
    if kind not in MODELS:
        raise UnknownNameError("result kind", kind, MODELS)
    return MODELS[kind][0]


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``kind``'s file, with its ``$id`` naming the kind
    and version. The envelope is required and the version fixed, as localeval reads it: a
    file of another version is not this schema's (an older one is migrated first)."""
    model = model_for(kind)
    schema = TypeAdapter(model).json_schema(mode="serialization", by_alias=True)
    props = schema["properties"]
    props["schema_version"] = {**props["schema_version"], "const": current_version(kind)}
    envelope = ["schema_version", "kind"]
    schema["required"] = envelope + [r for r in schema.get("required", []) if r not in envelope]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"localeval:{kind}:v{current_version(kind)}",
        **schema,
    }


def unit_of(path: str) -> str:
    """The unit a field's name states (``ttft_ms`` -> milliseconds), else its parent's
    (``ttft_ms.p50``), or ``-`` for a name, a flag or a text."""
    parts = [p for p in re.split(r"[.\[\]*]+", path) if p]
    for i, name in enumerate(reversed(parts)):
        if name in _NAMED_UNITS:
            return _NAMED_UNITS[name] if i == 0 else "-"
        for pattern, unit in _UNITS:
            if re.search(pattern, name):
                return unit
    return "-"


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in get_args(annotation))
    if origin in (list, tuple):
        args = get_args(annotation)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        args = get_args(annotation)
        return f"map of {_type_name(args[1])}" if args else "map"
    if annotation is type(None):
        return "null"
    if _is_record(annotation):
        return str(annotation.__name__)
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _is_record(annotation: Any) -> bool:
    return isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or hasattr(annotation, "__pydantic_fields__")
    )


def _nested_models(annotation: Any) -> list[type[Any]]:
    if _is_record(annotation):
        return [annotation]
    return [m for a in get_args(annotation) for m in _nested_models(a)]


def _fields(model: type[Any]) -> list[tuple[str, Any]]:
    """``(name in the file, type)`` of a model's fields, computed figures included."""
    out = []
    for name, info in model.__pydantic_fields__.items():
        out.append((info.serialization_alias or info.alias or name, info.annotation))
    computed = model.__pydantic_decorators__.computed_fields
    for name, dec in computed.items():
        out.append((dec.info.alias or name, dec.info.return_type))
    return out


def _rows(model: type[Any], prefix: str, seen: set[str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, annotation in _fields(model):
        path = f"{prefix}{name}"
        type_name = _type_name(annotation)
        unit = "-" if type_name in ("bool", "bool \\| null") else unit_of(path)
        rows.append((path, type_name, unit, ""))
        for nested in _nested_models(annotation):
            origin = get_origin(annotation)
            inner = (
                f"{path}[]." if origin is list else f"{path}.*." if origin is dict else f"{path}."
            )
            if nested.__name__ in seen:
                continue
            rows.extend(_rows(nested, inner, seen | {nested.__name__}))
    return rows


def _doc(model: type[Any]) -> str:
    return " ".join((model.__doc__ or "").split())


def field_reference(kind: str) -> str:
    """Markdown: every field of ``kind``'s file, its type and its unit, and what each
    nested record is."""
    model, where = MODELS[kind]
    lines = [
        f"## `{kind}` (schema_version {current_version(kind)})",
        "",
        f"Written by {where}. {_doc(model)}",
        "",
        "| field | type | unit |",
        "|---|---|---|",
    ]
    lines += [f"| `{p}` | {t} | {u} |" for p, t, u, _ in _rows(model, "", {model.__name__})]
    records: dict[str, type[Any]] = {}

    def collect(m: type[Any]) -> None:
        for _, annotation in _fields(m):
            for nested in _nested_models(annotation):
                if nested.__name__ not in records:
                    records[nested.__name__] = nested
                    collect(nested)

    collect(model)
    if records:
        lines += ["", "Records:", ""]
        lines += [f"- `{name}`: {_doc(m)}" for name, m in records.items()]
    return "\n".join(lines) + "\n"


def reference_page() -> str:
    """The whole field reference (``docs/results.md``)."""
    head = [
        "# Result files",
        "",
        "Every file localeval writes is JSON with `schema_version` and `kind`, validated on",
        "write and on read by one model per kind (`localeval/results/`). `localeval schema KIND`",
        "prints a kind's JSON Schema. An older `schema_version` is read through an explicit",
        "migration (`localeval/results/migrate.py`); a newer one is refused. Units are part of",
        "each figure's name (`_ms`, `_s`, `_j`, `_w`, `_tok_per_s`, `usd_`...).",
        "",
        "This page is generated: `localeval schema --reference > docs/results.md`.",
        "",
        "",
    ]
    body = "\n".join(field_reference(k) for k in MODELS)
    return "\n".join(head) + body
