"""The result contract: one pydantic model per kind of file localeval writes, their schema
versions and migrations, the atomic write, and one resolver from what a user typed to
result files. Every command that writes or reads a result imports it from here.

    common     status words, latency statistics, provenance (shared by bench and eval)
    bench      bench result.json            eval      eval result.json
    manifest   a run's manifest.json        cost      cost files (``cost --json``, run-cost)
    versions   the version of each kind     migrate   older versions brought up to date
    io         atomic writes, checked reads resolve   paths -> result files
    schema     JSON Schema and the field reference of each kind
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from localeval.errors import ResultFileError
from localeval.results.bench import BenchResult
from localeval.results.eval import EvalResult
from localeval.results.io import (
    load_result,
    load_result_model,
    validate,
    write_json_atomic,
    write_model,
    write_text_atomic,
)
from localeval.results.manifest import Manifest
from localeval.results.resolve import FoundResult, find_results
from localeval.results.versions import KINDS, current_version

Measurement = BenchResult | EvalResult
MEASUREMENT_KINDS = ("bench", "eval")

__all__ = [
    "KINDS",
    "MEASUREMENT_KINDS",
    "BenchResult",
    "EvalResult",
    "FoundResult",
    "Manifest",
    "Measurement",
    "current_version",
    "find_results",
    "load_result",
    "load_result_model",
    "read_measurement",
    "read_measurements",
    "validate",
    "write_json_atomic",
    "write_model",
    "write_text_atomic",
]


def read_measurement(path: Path | str) -> Measurement:
    """A bench or eval result file as its typed model (older versions migrated). Raises
    :class:`ResultFileError` for another kind, a newer version or an invalid file."""
    path = Path(path)
    data = load_result(path)
    if data["kind"] == "bench":
        return validate(BenchResult, data, str(path), "bench result")
    if data["kind"] == "eval":
        return validate(EvalResult, data, str(path), "eval result")
    raise ResultFileError(
        f"{path}: a {data['kind']!r} file; expected a 'bench' or 'eval' result",
        hint="pass the result.json written by `localeval bench` or `localeval eval`",
    )


def read_measurements(
    paths: Iterable[Path | str], kinds: Sequence[str] = MEASUREMENT_KINDS
) -> list[tuple[Path, Measurement]]:
    """Every bench and eval result that ``paths`` name (see :func:`find_results`), each
    with the path it was read from."""
    return [(f.path, read_measurement(f.path)) for f in find_results(paths, kinds)]
