"""What the same work costs on a closed or hosted API: tokens x list prices.

Token counts measured on the open model are in its tokenizer; a closed model's tokenizer
cuts the same text differently. The counts used are therefore a :class:`TokenCount` that
says how they were obtained: re-counted with the API's own tokenizer (OpenAI models, see
:mod:`localeval.cost.recount`), scaled by a user-given ratio, or taken as measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from localeval.errors import ConfigError

TOKENS_PER_MILLION = 1_000_000.0

COUNT_AS_MEASURED = "as measured (the open model's tokenizer; API tokenizer not applied)"


@dataclass(frozen=True)
class ApiModelPrice:
    """List prices of one API model, in USD per token, with their source and date.

    ``name`` is the name it was asked for (an alias or a LiteLLM key), ``key`` the LiteLLM
    key it resolved to. Tiered prices above 200k prompt tokens are kept but not applied:
    result files hold totals, not per-request prompt sizes."""

    name: str
    key: str
    provider: str
    mode: str
    input_usd_per_token: float
    output_usd_per_token: float
    source: str
    as_of: str | None
    cache_read_usd_per_token: float | None = None
    output_usd_per_reasoning_token: float | None = None
    input_usd_per_token_above_200k: float | None = None
    output_usd_per_token_above_200k: float | None = None
    max_input_tokens: int | None = None
    supports_reasoning: bool = False
    origin: str = "snapshot"

    @property
    def input_usd_per_m(self) -> float:
        """Input price, USD per million tokens."""
        return self.input_usd_per_token * TOKENS_PER_MILLION

    @property
    def output_usd_per_m(self) -> float:
        """Output price, USD per million tokens."""
        return self.output_usd_per_token * TOKENS_PER_MILLION

    @property
    def blended_usd_per_m(self) -> float:
        """(3 x input + output) / 4, USD per million tokens."""
        return (3.0 * self.input_usd_per_m + self.output_usd_per_m) / 4.0

    @property
    def is_openai(self) -> bool:
        """Whether the model is OpenAI's (its tokenizer is available through tiktoken)."""
        return self.provider in ("openai", "text-completion-openai")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_usd_per_m"] = self.input_usd_per_m
        data["output_usd_per_m"] = self.output_usd_per_m
        return data


@dataclass(frozen=True)
class TokenCount:
    """Input and output token counts for an API model, and how they were obtained."""

    input_tokens: float
    output_tokens: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_token_ratio(ratio: float) -> float:
    """``ratio`` if it is a plausible tokenizer ratio (0.2 to 5); raises ConfigError."""
    if not math.isfinite(ratio) or not 0.2 <= ratio <= 5.0:
        raise ConfigError(
            f"token ratio must be between 0.2 and 5, got {ratio!r}",
            hint="the ratio is API-model tokens per open-model token for the same text, e.g. 1.1",
        )
    return float(ratio)


def counts_by_ratio(input_tokens: float, output_tokens: float, ratio: float | None) -> TokenCount:
    """The open model's counts scaled by ``ratio`` (API tokens per open-model token); with
    no ratio, the counts as measured."""
    if ratio is None:
        return TokenCount(input_tokens, output_tokens, COUNT_AS_MEASURED)
    check_token_ratio(ratio)
    return TokenCount(
        input_tokens * ratio,
        output_tokens * ratio,
        f"open-model counts x {ratio:g} (user token ratio)",
    )


def api_cost_usd(price: ApiModelPrice, input_tokens: float, output_tokens: float) -> float:
    """USD to send ``input_tokens`` and receive ``output_tokens`` at ``price``'s list prices
    (no cache discount, no long-context tier)."""
    if input_tokens < 0 or output_tokens < 0:
        raise ConfigError(
            f"token counts must be >= 0, got {input_tokens!r} input, {output_tokens!r} output"
        )
    return input_tokens * price.input_usd_per_token + output_tokens * price.output_usd_per_token


@dataclass(frozen=True)
class ApiCost:
    """The cost of some work on one API model, with the price and count basis."""

    model: str
    cost_usd: float
    tokens: TokenCount
    price: ApiModelPrice
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "cost_usd": self.cost_usd,
            "tokens": self.tokens.to_dict(),
            "price": self.price.to_dict(),
            "assumptions": list(self.assumptions),
        }


def api_cost(price: ApiModelPrice, tokens: TokenCount) -> ApiCost:
    """:func:`api_cost_usd` as a record that says which prices and counts were used."""
    notes = []
    if price.supports_reasoning:
        notes.append(
            f"{price.name} is a reasoning model: with reasoning on it also bills hidden "
            "reasoning tokens, not counted here"
        )
    if price.input_usd_per_token_above_200k is not None:
        notes.append("prices above 200k prompt tokens not applied (per-request sizes unknown)")
    return ApiCost(
        model=price.name,
        cost_usd=api_cost_usd(price, tokens.input_tokens, tokens.output_tokens),
        tokens=tokens,
        price=price,
        assumptions=tuple(notes),
    )
