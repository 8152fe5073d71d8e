"""Break-even between a self-hosted deployment and an API.

The deployment has a fixed daily cost ``F`` (the rent for the day, or the amortized purchase
of owned GPUs) and a variable cost ``v`` per token (electricity of owned GPUs while they
work; nothing for a rental). The API costs ``p`` per token for the same traffic mix. Self
hosting wins above

    V* = F / (p - v)  tokens per day                     (never when p <= v)

and needs the deployment busy ``V* / capacity`` of the day, where capacity is the measured
maximum throughput under the SLO x 86,400 s. Above 1 the volume cannot be served by this
deployment: at full use it still costs more per token than the API.
"""

from __future__ import annotations

from localeval.cost.pricing import SECONDS_PER_HOUR, PricedHour
from localeval.errors import ConfigError
from localeval.results.cost import BreakEven as BreakEven

SECONDS_PER_DAY = 86_400.0


def api_usd_per_token_for_mix(
    input_usd_per_token: float, output_usd_per_token: float, input_share: float
) -> float:
    """The API's price per token of traffic whose tokens are ``input_share`` input, the
    rest output (USD per token)."""
    if not 0.0 <= input_share <= 1.0:
        raise ConfigError(f"input share must be between 0 and 1, got {input_share!r}")
    return input_share * input_usd_per_token + (1.0 - input_share) * output_usd_per_token


def break_even(
    *,
    fixed_usd_per_day: float,
    variable_usd_per_token: float,
    capacity_tok_per_s: float,
    api_usd_per_token: float,
) -> BreakEven:
    """Daily token volume above which self-hosting beats the API, and the utilization it
    needs (see the module doc)."""
    if capacity_tok_per_s <= 0:
        raise ConfigError("break-even needs a measured throughput above 0 tokens/s")
    capacity = capacity_tok_per_s * SECONDS_PER_DAY
    margin = api_usd_per_token - variable_usd_per_token
    if margin <= 0:
        return BreakEven(
            api_usd_per_token,
            fixed_usd_per_day,
            variable_usd_per_token,
            capacity,
            None,
            None,
            False,
        )
    volume = fixed_usd_per_day / margin
    utilization = volume / capacity
    return BreakEven(
        api_usd_per_token,
        fixed_usd_per_day,
        variable_usd_per_token,
        capacity,
        volume,
        utilization,
        utilization <= 1.0,
    )


def break_even_for_price(
    price: PricedHour,
    *,
    gpu_count: int,
    capacity_tok_per_s: float,
    api_usd_per_token: float,
) -> BreakEven:
    """:func:`break_even` for ``gpu_count`` GPUs priced by ``price``: the fixed cost is the
    full day of rent (rentals) or the amortized purchase (owned); the variable cost is the
    owned GPUs' electricity per token at the measured throughput."""
    fixed = price.fixed_usd_per_gpu_day * gpu_count
    variable_per_s = price.variable_usd_per_busy_gpu_hour * gpu_count / SECONDS_PER_HOUR
    variable = variable_per_s / capacity_tok_per_s if capacity_tok_per_s > 0 else 0.0
    return break_even(
        fixed_usd_per_day=fixed,
        variable_usd_per_token=variable,
        capacity_tok_per_s=capacity_tok_per_s,
        api_usd_per_token=api_usd_per_token,
    )
