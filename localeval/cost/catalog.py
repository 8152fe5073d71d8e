"""The API price catalog: a dated snapshot in LiteLLM's JSON schema shipped with the package,
optionally a newer LiteLLM-format file (``--prices FILE``) and user overrides in YAML.

Lookup is by friendly alias (``o1``, ``claude-sonnet-4-5``, ``gemini-2.5-pro`` ...) or by
LiteLLM key, case-insensitively; an unknown name raises
:class:`~localeval.errors.UnknownNameError` with the closest known names.

User overrides (``--price-overrides FILE``)::

    models:
      gpt-4o:                     # an existing name or key: its prices are replaced
        input_usd_per_m: 2.0
        output_usd_per_m: 8.0
        source: "our negotiated rate"
        as_of: 2026-10-01
      my-hosted-llama:            # a new model
        input_usd_per_m: 0.5
        output_usd_per_m: 0.5
        provider: together_ai
        supports_prompt_logprobs: true   # its /v1/completions returns prompt logprobs
        source: "provider quote"
        as_of: 2026-10-01
    aliases:
      llama-70b: my-hosted-llama
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from localeval.cost.api import ApiModelPrice
from localeval.errors import ConfigError, UnknownNameError
from localeval.yamlio import load_yaml, validate_model

__all__ = ["ApiModelPrice", "Catalog", "load_catalog", "parse_litellm"]

DATA_PACKAGE = "localeval.cost.data"
PRICES_FILE = "api_prices.json"
META_FILE = "api_prices.meta.json"
ALIASES_FILE = "aliases.yaml"

# A per-token price above this ($10,000 per million tokens) is a mistake, not a price.
MAX_USD_PER_TOKEN = 0.01
# Keys of LiteLLM's file that are not models.
_NOT_MODELS = frozenset({"sample_spec"})
# Modes whose prices are per text token.
TEXT_MODES = frozenset({"chat", "completion", "responses"})


def _data_text(name: str) -> str:
    return importlib.resources.files(DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _check_price(key: str, field_name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key}: {field_name}: not a number (got {value!r})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key}: {field_name}: a price must be >= 0 (got {value!r})")
    if value > MAX_USD_PER_TOKEN:
        raise ValueError(
            f"{key}: {field_name}: {value!r} USD per token (${value * 1e6:,.0f} per million) "
            "is not a plausible price"
        )
    return float(value)


def _optional_price(key: str, entry: Mapping[str, Any], name: str) -> float | None:
    value = entry.get(name)
    return None if value is None else _check_price(key, name, value)


def _price_from_entry(
    key: str, entry: Mapping[str, Any], *, source: str, as_of: str | None, origin: str
) -> ApiModelPrice:
    max_input = entry.get("max_input_tokens")
    return ApiModelPrice(
        name=key,
        key=key,
        provider=str(entry.get("litellm_provider", "unknown")),
        mode=str(entry.get("mode", "chat")),
        input_usd_per_token=_check_price(
            key, "input_cost_per_token", entry["input_cost_per_token"]
        ),
        output_usd_per_token=_check_price(
            key, "output_cost_per_token", entry["output_cost_per_token"]
        ),
        source=source,
        as_of=as_of,
        cache_read_usd_per_token=_optional_price(key, entry, "cache_read_input_token_cost"),
        input_usd_per_token_batch=_optional_price(key, entry, "input_cost_per_token_batches"),
        output_usd_per_token_batch=_optional_price(key, entry, "output_cost_per_token_batches"),
        cache_read_usd_per_token_batch=_optional_price(
            key, entry, "cache_read_input_token_cost_batches"
        ),
        output_usd_per_reasoning_token=_optional_price(
            key, entry, "output_cost_per_reasoning_token"
        ),
        input_usd_per_token_above_200k=_optional_price(
            key, entry, "input_cost_per_token_above_200k_tokens"
        ),
        output_usd_per_token_above_200k=_optional_price(
            key, entry, "output_cost_per_token_above_200k_tokens"
        ),
        max_input_tokens=max_input if isinstance(max_input, int) else None,
        supports_reasoning=bool(entry.get("supports_reasoning", False)),
        supports_prompt_logprobs=bool(entry.get("supports_prompt_logprobs", False)),
        origin=origin,
    )


def parse_litellm(
    data: Any,
    *,
    source: str,
    as_of: str | None,
    origin: str,
    entry_meta: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[dict[str, ApiModelPrice], dict[str, str]]:
    """Text-token models of a LiteLLM-schema mapping: (prices by key, problems by key).

    Entries without per-token input and output prices (images, audio, rerank ...) are
    skipped; entries with bad prices are kept as problems, reported when asked for."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: not a LiteLLM price file (expected a JSON object of models)",
            hint="use model_prices_and_context_window.json from LiteLLM, or its schema",
        )
    prices: dict[str, ApiModelPrice] = {}
    problems: dict[str, str] = {}
    meta = entry_meta or {}
    for key, entry in data.items():
        if key in _NOT_MODELS or not isinstance(entry, dict):
            continue
        if "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
            continue
        if str(entry.get("mode", "chat")) not in TEXT_MODES:
            continue
        extra = meta.get(key, {})
        try:
            prices[key] = _price_from_entry(
                key,
                entry,
                source=extra.get("source", source),
                as_of=extra.get("as_of", as_of),
                origin=origin,
            )
        except ValueError as exc:
            problems[key] = str(exc)
    return prices, problems


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_usd_per_m: float = Field(ge=0, le=10_000)
    output_usd_per_m: float = Field(ge=0, le=10_000)
    cache_read_usd_per_m: float | None = Field(default=None, ge=0, le=10_000)
    batch_input_usd_per_m: float | None = Field(default=None, ge=0, le=10_000)
    batch_output_usd_per_m: float | None = Field(default=None, ge=0, le=10_000)
    batch_cache_read_usd_per_m: float | None = Field(default=None, ge=0, le=10_000)
    provider: str | None = None
    supports_reasoning: bool | None = None
    reasoning_model: bool | None = None
    supports_prompt_logprobs: bool | None = None
    source: str = Field(min_length=1)
    as_of: dt.date


class _Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, _Override] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)


@dataclass
class Catalog:
    """API model prices by LiteLLM key, with friendly aliases."""

    prices: dict[str, ApiModelPrice]
    aliases: dict[str, str]
    source: str
    as_of: str | None
    files: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    def _index(self) -> dict[str, str]:
        index = {key.lower(): key for key in self.prices}
        index.update({key.lower(): key for key in self.problems})
        for alias, key in self.aliases.items():
            index[alias.lower()] = key
        return index

    def resolve(self, name: str) -> str:
        """The LiteLLM key for ``name`` (an alias or a key). Raises UnknownNameError."""
        key = self._index().get(name.strip().lower())
        if key is None or (key not in self.prices and key not in self.problems):
            known = sorted(set(self.aliases) | set(self.prices))
            err = UnknownNameError("API model", name, known)
            # The full key list can run to thousands with a LiteLLM file: name the short ones.
            err.hint = (
                f"known API models: {', '.join(sorted(self.aliases))}; or any of the "
                f"{len(self.prices)} LiteLLM keys listed by `localeval cost --list-models`"
            )
            raise err
        return key

    def get(self, name: str) -> ApiModelPrice:
        """Prices for ``name`` (alias or LiteLLM key), named as asked. Raises
        :class:`UnknownNameError` for an unknown name and :class:`ConfigError` for an entry
        whose prices are not plausible."""
        key = self.resolve(name)
        if key in self.problems:
            raise ConfigError(
                f"API model {name!r} has an invalid price entry: {self.problems[key]}"
            )
        return replace(self.prices[key], name=name.strip())

    def names(self) -> list[str]:
        """The friendly aliases, sorted."""
        return sorted(self.aliases)

    def models(self) -> list[ApiModelPrice]:
        """Every priced model, by key."""
        return [self.prices[k] for k in sorted(self.prices)]


def _snapshot() -> tuple[dict[str, ApiModelPrice], dict[str, str], str, str | None]:
    meta = json.loads(_data_text(META_FILE))
    source = str(meta["source"])
    prices, problems = parse_litellm(
        json.loads(_data_text(PRICES_FILE)),
        source=source,
        as_of=meta["snapshot_date"],
        origin="snapshot",
        entry_meta=meta.get("entries", {}),
    )
    reasoning = set(meta.get("reasoning_models", {}).get("keys", []))
    logprobs = set(meta.get("prompt_logprobs", {}).get("keys", []))
    for key in reasoning | logprobs:
        if key in prices:
            prices[key] = replace(
                prices[key],
                reasoning_model=key in reasoning,
                supports_prompt_logprobs=key in logprobs,
            )
    return prices, problems, source, meta["snapshot_date"]


def _aliases() -> dict[str, str]:
    import yaml

    data = yaml.safe_load(_data_text(ALIASES_FILE))
    return {str(k): str(v) for k, v in data.items()}


def _read_prices_file(path: Path) -> tuple[dict[str, ApiModelPrice], dict[str, str], str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such price file") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON price file: {exc}") from exc
    as_of = dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    source = f"LiteLLM-format price file {path} (dated by its modification time)"
    prices, problems = parse_litellm(data, source=source, as_of=as_of, origin="prices file")
    if not prices and not problems:
        raise ConfigError(
            f"{path}: no model with input_cost_per_token and output_cost_per_token",
            hint="use model_prices_and_context_window.json from LiteLLM, or its schema",
        )
    return prices, problems, source, as_of


def _per_token(usd_per_m: float | None) -> float | None:
    return None if usd_per_m is None else usd_per_m / 1e6


def _apply_overrides(catalog: Catalog, path: Path) -> None:
    overrides = validate_model(_Overrides, load_yaml(path), str(path), "price overrides file")
    for name, ov in overrides.models.items():
        key = catalog._index().get(name.lower(), name)
        base = catalog.prices.get(key)
        catalog.problems.pop(key, None)
        catalog.prices[key] = ApiModelPrice(
            name=key,
            key=key,
            provider=ov.provider or (base.provider if base else "user"),
            mode=base.mode if base else "chat",
            input_usd_per_token=ov.input_usd_per_m / 1e6,
            output_usd_per_token=ov.output_usd_per_m / 1e6,
            source=f"{ov.source} (override in {path})",
            as_of=ov.as_of.isoformat(),
            cache_read_usd_per_token=_per_token(ov.cache_read_usd_per_m),
            input_usd_per_token_batch=_per_token(ov.batch_input_usd_per_m),
            output_usd_per_token_batch=_per_token(ov.batch_output_usd_per_m),
            cache_read_usd_per_token_batch=_per_token(ov.batch_cache_read_usd_per_m),
            max_input_tokens=base.max_input_tokens if base else None,
            supports_reasoning=(
                ov.supports_reasoning
                if ov.supports_reasoning is not None
                else (base.supports_reasoning if base else False)
            ),
            reasoning_model=(
                ov.reasoning_model
                if ov.reasoning_model is not None
                else (base.reasoning_model if base else False)
            ),
            supports_prompt_logprobs=(
                ov.supports_prompt_logprobs
                if ov.supports_prompt_logprobs is not None
                else (base.supports_prompt_logprobs if base else False)
            ),
            origin="override",
        )
    for alias, target in overrides.aliases.items():
        target_key = catalog._index().get(target.lower())
        if target_key is None:
            raise ConfigError(
                f"invalid price overrides file {path}",
                problems=[f"{path}: aliases.{alias}: {target!r} is not a known model"],
            )
        catalog.aliases[alias] = target_key
    catalog.files.append(str(path))


def load_catalog(
    prices_file: Path | str | None = None, overrides_file: Path | str | None = None
) -> Catalog:
    """The shipped snapshot, updated by ``prices_file`` (a LiteLLM-format JSON file whose
    entries replace the snapshot's) and ``overrides_file`` (YAML, see the module doc)."""
    prices, problems, source, as_of = _snapshot()
    catalog = Catalog(
        prices=prices, aliases=_aliases(), source=source, as_of=as_of, problems=problems
    )
    if prices_file is not None:
        path = Path(prices_file)
        new_prices, new_problems, new_source, new_as_of = _read_prices_file(path)
        for key, new in new_prices.items():
            catalog.problems.pop(key, None)
            old = catalog.prices.get(key)
            if old is not None:  # what localeval knows of the model, not in LiteLLM's schema
                new_prices[key] = replace(
                    new,
                    reasoning_model=old.reasoning_model,
                    supports_prompt_logprobs=old.supports_prompt_logprobs,
                )
        catalog.prices.update(new_prices)
        catalog.problems.update(new_problems)
        catalog.source = f"{new_source}; models it lacks from {source}"
        catalog.as_of = new_as_of
        catalog.files.append(str(path))
    if overrides_file is not None:
        _apply_overrides(catalog, Path(overrides_file))
    return catalog
