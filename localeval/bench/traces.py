"""Workload files read by their documented columns: a file of (input, output) length pairs
to sample request lengths from (``bench --lengths``), and request traces to replay
(``bench --trace``).

A lengths file is JSONL (one object per line with ``input_tokens`` and ``output_tokens``;
``input``/``output`` and ``input_length``/``output_length`` are accepted too) or CSV with
a header naming the same two columns.

A trace is a list of timestamped arrivals with their input and output lengths:

- ``jsonl``: localeval's own, one object per line: ``timestamp_ms`` (or ``timestamp``, in
  milliseconds from the start), ``input_tokens``, ``output_tokens``, and optionally
  ``hash_ids`` (prefix blocks shared with other requests, as in Mooncake) and
  ``session_id`` (without ``hash_ids``, a session's request starts with its previous
  prompt: the conversation's context so far);
- ``mooncake``: the Mooncake traces (kvcache-ai/Mooncake ``FAST25-release/traces``): JSONL
  with ``timestamp`` (milliseconds since the first request), ``input_length``,
  ``output_length`` and ``hash_ids``, each id a block of :data:`MOONCAKE_BLOCK_TOKENS`
  prompt tokens; two requests whose ``hash_ids`` start with the same ids share that prefix;
- ``azure``: the Azure LLM inference traces (Azure/AzurePublicDataset,
  ``AzureLLMInferenceTrace_{code,conv}.csv``): CSV with ``TIMESTAMP`` (a wall-clock time,
  ``2023-11-16 18:15:46.6805900``), ``ContextTokens`` and ``GeneratedTokens``.

Every reader returns arrivals sorted by time, offsets from the first arrival, in seconds.
Problems are :class:`~localeval.errors.ConfigError` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from localeval.errors import ConfigError

TraceFormat = Literal["auto", "jsonl", "mooncake", "azure"]
TRACE_FORMATS: tuple[str, ...] = ("auto", "jsonl", "mooncake", "azure")
# Prompt tokens per ``hash_ids`` block in the Mooncake traces (its README: block size 512).
MOONCAKE_BLOCK_TOKENS = 512

_INPUT_KEYS = ("input_tokens", "input", "input_length")
_OUTPUT_KEYS = ("output_tokens", "output", "output_length")


@dataclass(frozen=True)
class LengthPair:
    """One request's prompt and output lengths (tokens)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class TraceEntry:
    """One arrival of a trace: ``offset_s`` after the first arrival, its lengths (tokens),
    the prefix blocks it shares (``hash_ids``, each ``block_tokens`` long) and its session."""

    offset_s: float
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()
    session_id: str | None = None


@dataclass(frozen=True)
class Trace:
    """A trace read from ``path`` in ``format``; ``block_tokens``: tokens per hash id."""

    path: str
    format: Literal["jsonl", "mooncake", "azure"]
    entries: tuple[TraceEntry, ...]
    block_tokens: int = MOONCAKE_BLOCK_TOKENS

    @property
    def span_s(self) -> float:
        """Seconds from the first arrival to the last."""
        return self.entries[-1].offset_s if self.entries else 0.0

    def summary(self) -> dict[str, Any]:
        """What the trace holds, for the result's workload."""
        n = len(self.entries)
        ins = [e.input_tokens for e in self.entries]
        outs = [e.output_tokens for e in self.entries]
        sessions = {e.session_id for e in self.entries if e.session_id is not None}
        return {
            "trace_file": self.path,
            "trace_format": self.format,
            "trace_requests": n,
            "trace_span_s": round(self.span_s, 6),
            "trace_mean_rate_rps": n / self.span_s if self.span_s > 0 else None,
            "trace_mean_input_tokens": sum(ins) / n if n else None,
            "trace_mean_output_tokens": sum(outs) / n if n else None,
            "trace_prefix_blocks": len({h for e in self.entries for h in e.hash_ids}),
            "trace_block_tokens": self.block_tokens
            if any(e.hash_ids for e in self.entries)
            else None,
            "trace_sessions": len(sessions) or None,
        }


def _read(path: Path, option: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read the file: {exc.strerror or exc}") from exc


def _positive_int(value: Any, where: str, what: str) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
        exact = float(value) == number
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"{where}: {what} must be a whole number of tokens, not {value!r}"
        ) from None
    if not exact or number < 1:
        raise ConfigError(f"{where}: {what} must be a positive whole number, not {value!r}")
    return number


def _pick(row: dict[str, Any], keys: Sequence[str], where: str) -> Any:
    for key in keys:
        if key in row and row[key] not in (None, ""):
            return row[key]
    raise ConfigError(f"{where}: no {' / '.join(keys)} column")


def _json_lines(text: str, path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: expected a JSON object per line")
        yield where, row


def _csv_rows(text: str, path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        yield f"{path}:{reader.line_num}", {k.strip(): v for k, v in row.items() if k}


def _is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def load_lengths(path: Path) -> list[LengthPair]:
    """The (input, output) pairs of a lengths file (JSONL or CSV with a header)."""
    path = Path(path)
    text = _read(path, "--lengths")
    rows = _json_lines(text, path) if _is_json(text) else _csv_rows(text, path)
    pairs = [
        LengthPair(
            _positive_int(_pick(row, _INPUT_KEYS, where), where, "the input length"),
            _positive_int(_pick(row, _OUTPUT_KEYS, where), where, "the output length"),
        )
        for where, row in rows
    ]
    if not pairs:
        raise ConfigError(
            f"--lengths {path}: no length pairs",
            hint='one line per request: JSONL {"input_tokens": 512, "output_tokens": 128}, '
            "or CSV with an input_tokens,output_tokens header",
        )
    return pairs


def sample_lengths(pairs: Sequence[LengthPair], n: int, rng: random.Random) -> list[LengthPair]:
    """``n`` pairs drawn from ``pairs`` with replacement (uniformly, from ``rng``)."""
    return [rng.choice(pairs) for _ in range(n)]


def detect_format(text: str, path: Path) -> Literal["jsonl", "mooncake", "azure"]:
    """The format of a trace file from its first record: a CSV header with ``TIMESTAMP`` is
    Azure; a JSON object with ``input_length`` is Mooncake, with ``input_tokens`` jsonl."""
    if not _is_json(text):
        header = text.lstrip().splitlines()[0] if text.strip() else ""
        if "TIMESTAMP" in [c.strip() for c in header.split(",")]:
            return "azure"
        raise ConfigError(
            f"--trace {path}: not a known trace format (neither JSONL nor an Azure CSV with "
            "TIMESTAMP,ContextTokens,GeneratedTokens)",
            hint="pass --trace-format jsonl|mooncake|azure",
        )
    first = json.loads(text.lstrip().splitlines()[0])
    return "mooncake" if isinstance(first, dict) and "input_length" in first else "jsonl"


def _azure_time(value: str, where: str) -> float:
    """Seconds since the epoch of an Azure ``TIMESTAMP`` (100 ns ticks: up to 7 digits)."""
    text = value.strip()
    head, dot, frac = text.partition(".")
    try:
        moment = datetime.fromisoformat(head)
    except ValueError as exc:
        raise ConfigError(f"{where}: TIMESTAMP {value!r} is not a date and time") from exc
    fraction = float(f"0.{frac}") if dot and frac.isdigit() else 0.0
    if dot and not frac.isdigit():
        raise ConfigError(f"{where}: TIMESTAMP {value!r} has a bad fraction of a second")
    return moment.timestamp() + fraction


def _ms(value: Any, where: str) -> float:
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: timestamp must be milliseconds, not {value!r}") from None
    if ms != ms or ms < 0 or ms == float("inf"):
        raise ConfigError(f"{where}: timestamp must be a non-negative number of milliseconds")
    return ms


def _hash_ids(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) for h in value
    ):
        raise ConfigError(f"{where}: hash_ids must be a list of integers")
    return tuple(value)


def load_trace(path: Path, fmt: TraceFormat = "auto") -> Trace:
    """Read a trace; arrivals sorted by time, offsets from the first one."""
    path = Path(path)
    text = _read(path, "--trace")
    if not text.strip():
        raise ConfigError(f"--trace {path}: the file is empty")
    kind = detect_format(text, path) if fmt == "auto" else fmt
    raw: list[tuple[float, int, int, tuple[int, ...], str | None]] = []
    if kind == "azure":
        for where, row in _csv_rows(text, path):
            raw.append(
                (
                    _azure_time(str(_pick(row, ("TIMESTAMP",), where)), where),
                    _positive_int(_pick(row, ("ContextTokens",), where), where, "ContextTokens"),
                    _positive_int(
                        _pick(row, ("GeneratedTokens",), where), where, "GeneratedTokens"
                    ),
                    (),
                    None,
                )
            )
    else:
        if not _is_json(text):
            raise ConfigError(f"--trace {path}: a {kind} trace is JSONL, one object per line")
        time_keys = ("timestamp",) if kind == "mooncake" else ("timestamp_ms", "timestamp")
        in_keys = ("input_length",) if kind == "mooncake" else _INPUT_KEYS
        out_keys = ("output_length",) if kind == "mooncake" else _OUTPUT_KEYS
        for where, row in _json_lines(text, path):
            session = row.get("session_id")
            raw.append(
                (
                    _ms(_pick(row, time_keys, where), where) / 1000.0,
                    _positive_int(_pick(row, in_keys, where), where, "the input length"),
                    _positive_int(_pick(row, out_keys, where), where, "the output length"),
                    _hash_ids(row.get("hash_ids"), where),
                    None if session is None else str(session),
                )
            )
    if not raw:
        raise ConfigError(f"--trace {path}: no requests in the trace")
    raw.sort(key=lambda r: r[0])
    t0 = raw[0][0]
    entries = tuple(TraceEntry(t - t0, i, o, h, s) for t, i, o, h, s in raw)
    return Trace(path=str(path), format=kind, entries=entries)
