"""What the same work costs on a closed or hosted API: tokens x list prices.

Token counts measured on the open model are in its tokenizer; a closed model's tokenizer
cuts the same text differently. The counts used are therefore a :class:`TokenCount` that
says how they were obtained: re-counted with the API's own tokenizer (OpenAI models, see
:mod:`localeval.cost.recount`), scaled by a user-given ratio, or taken as measured.
"""

from __future__ import annotations

import math

from localeval.errors import ConfigError
from localeval.results.cost import ApiCost as ApiCost
from localeval.results.cost import ApiModelPrice as ApiModelPrice
from localeval.results.cost import ApiTier as ApiTier
from localeval.results.cost import TokenCount as TokenCount

COUNT_AS_MEASURED = "as measured (the open model's tokenizer; API tokenizer not applied)"


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


def tier_prices(price: ApiModelPrice, tier: ApiTier) -> tuple[float, float, float]:
    """USD per token of (uncached input, cached input, output) in ``tier``.

    Cached input is billed at the tier's cache-read price where the catalog lists one, and
    at the tier's input price otherwise (no discount is assumed). A batch tier the catalog
    does not list raises ConfigError: its price is never inferred from the standard one."""
    if tier == "standard":
        cached = price.cache_read_usd_per_token
        return (
            price.input_usd_per_token,
            price.input_usd_per_token if cached is None else cached,
            price.output_usd_per_token,
        )
    if price.input_usd_per_token_batch is None or price.output_usd_per_token_batch is None:
        raise ConfigError(
            f"the price catalog has no batch-tier price for {price.name}",
            hint="use the standard tier, or give batch_input_usd_per_m and "
            "batch_output_usd_per_m for it in a --price-overrides file (with their source)",
        )
    cached_batch = price.cache_read_usd_per_token_batch
    return (
        price.input_usd_per_token_batch,
        price.input_usd_per_token_batch if cached_batch is None else cached_batch,
        price.output_usd_per_token_batch,
    )


def usage_cost_usd(
    price: ApiModelPrice,
    *,
    prompt_tokens: float,
    cached_prompt_tokens: float,
    generated_tokens: float,
    tier: ApiTier = "standard",
) -> float:
    """USD an API bills for this usage in ``tier``: uncached prompt tokens at the input
    price, cached ones at the cache-read price, and every generated token (hidden reasoning
    included: APIs bill it as output) at the output price."""
    if min(prompt_tokens, cached_prompt_tokens, generated_tokens) < 0:
        raise ConfigError("token counts must be >= 0")
    if cached_prompt_tokens > prompt_tokens:
        raise ConfigError(
            f"cached prompt tokens ({cached_prompt_tokens:g}) exceed prompt tokens "
            f"({prompt_tokens:g})"
        )
    input_usd, cached_usd, output_usd = tier_prices(price, tier)
    return (
        (prompt_tokens - cached_prompt_tokens) * input_usd
        + cached_prompt_tokens * cached_usd
        + generated_tokens * output_usd
    )
