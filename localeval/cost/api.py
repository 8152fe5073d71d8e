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


LOGLIKELIHOOD_TYPES = frozenset({"loglikelihood", "multiple_choice", "loglikelihood_rolling"})
"""lm-eval output types scored from prompt logprobs (``/v1/completions`` with ``echo``)."""


def check_output_multiplier(multiplier: float) -> float:
    """``multiplier`` if it is a plausible ratio of an API's billed output tokens (hidden
    reasoning included) to the open model's output tokens (1 to 1000); raises ConfigError."""
    if not math.isfinite(multiplier) or not 1.0 <= multiplier <= 1000.0:
        raise ConfigError(
            f"API output multiplier must be between 1 and 1000, got {multiplier!r}",
            hint="it is the API's billed output tokens (reasoning included) per output token "
            "of the open model, e.g. 8 for a model that thinks 7 tokens per answer token",
        )
    return float(multiplier)


def api_refusal(
    price: ApiModelPrice, output_types: tuple[str, ...], output_multiplier: float | None
) -> str | None:
    """Why a task with ``output_types`` cannot be estimated on ``price``'s API from the open
    model's counts, or None. A loglikelihood task needs prompt logprobs, which a chat-only
    API does not return (and its counts repeat the context once per option); a reasoning
    model bills hidden reasoning that the open model's output counts do not hold, so it
    needs a measured API run or an explicit output multiplier."""
    scored = sorted(LOGLIKELIHOOD_TYPES.intersection(output_types))
    if scored and not price.supports_prompt_logprobs:
        return (
            f"a {'/'.join(scored)} task: {price.name}'s API is chat-only and returns no prompt "
            "logprobs, so it cannot run this task"
        )
    if price.reasoning_model and output_multiplier is None:
        return (
            f"{price.name} is a reasoning model: the hidden reasoning it bills is not in the "
            "open model's output counts; measure it (localeval eval --api) or give "
            "--api-output-multiplier"
        )
    return None


def with_output_multiplier(tokens: TokenCount, multiplier: float | None) -> TokenCount:
    """``tokens`` with the output scaled by the user's reasoning ``multiplier`` (None: as is)."""
    if multiplier is None:
        return tokens
    check_output_multiplier(multiplier)
    return TokenCount(
        tokens.input_tokens,
        tokens.output_tokens * multiplier,
        f"{tokens.method}; output x {multiplier:g} (user reasoning multiplier)",
    )


def api_cost_usd(
    price: ApiModelPrice, input_tokens: float, output_tokens: float, tier: ApiTier = "standard"
) -> float:
    """USD to send ``input_tokens`` and receive ``output_tokens`` at ``price``'s prices in
    ``tier`` (no cache discount: the counts say nothing of cache hits; no long-context tier)."""
    if input_tokens < 0 or output_tokens < 0:
        raise ConfigError(
            f"token counts must be >= 0, got {input_tokens!r} input, {output_tokens!r} output"
        )
    input_usd, _, output_usd = tier_prices(price, tier)
    return input_tokens * input_usd + output_tokens * output_usd


def api_cost(price: ApiModelPrice, tokens: TokenCount, tier: ApiTier = "standard") -> ApiCost:
    """:func:`api_cost_usd` as a record that says which prices, tier and counts were used:
    an estimate (the open model's counts, not what the API billed)."""
    notes = []
    if price.supports_reasoning and not price.reasoning_model:
        notes.append(
            f"{price.name} can also reason when asked; with reasoning on it bills hidden "
            "reasoning tokens, not counted here"
        )
    if price.input_usd_per_token_above_200k is not None:
        notes.append("prices above 200k prompt tokens not applied (per-request sizes unknown)")
    return ApiCost(
        model=price.name,
        cost_usd=api_cost_usd(price, tokens.input_tokens, tokens.output_tokens, tier),
        tokens=tokens,
        price=price,
        assumptions=tuple(notes),
        tier=tier,
        estimate=True,
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
