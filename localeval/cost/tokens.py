"""Dollars per million tokens at a measured load point, input and output priced apart.

A deployment costs ``usd_per_s`` (GPUs x $/GPU-s) while it serves ``input_tok_per_s`` and
``output_tok_per_s``. That cost is split between prefill (input) and decode (output):

* **server split** (preferred): the engine's own count of the time its requests spent in
  each phase, vLLM's ``vllm:request_prefill_time_seconds`` and
  ``vllm:request_decode_time_seconds`` histograms (their ``_sum`` over the point): the
  prefill share of GPU time is prefill s / (prefill s + decode s). It leaves out queueing
  and the client's own lag, which the client's TTFT / E2E latency would count as prefill
  (at c=16 that priced input above output, the reverse of every API's prices); the client's
  latencies are never used.
* **GKE ratio** (named fallback where the server exposes no such histogram, GKE Inference
  Quickstart): $ per output token = ``usd_per_s / (input_tok_per_s / r + output_tok_per_s)``,
  $ per input token = output price / r, with r = 4 by default.

Both splits charge exactly the deployment's cost to the tokens it served. The blended price
is (3 x input + output) / 4, the Artificial Analysis convention for list prices.
"""

from __future__ import annotations

import math

from localeval.errors import ConfigError
from localeval.results.cost import TOKENS_PER_MILLION as TOKENS_PER_MILLION
from localeval.results.cost import TokenPrices as TokenPrices

GKE_DEFAULT_RATIO = 4.0

METHOD_SERVER = (
    "server split (vLLM's request prefill/decode time histograms: prefill share = "
    "prefill s / (prefill + decode s))"
)
METHOD_GKE = "GKE ratio method (input $/token = output $/token / r)"


def blended_3_1(input_price: float | None, output_price: float | None) -> float | None:
    """(3 x input + output) / 4, in the unit of the prices given; None if one is missing."""
    if input_price is None or output_price is None:
        return None
    return (3.0 * input_price + output_price) / 4.0


def server_prefill_share(prefill_s: float, decode_s: float) -> float | None:
    """Prefill s / (prefill s + decode s): the share of requests' engine time spent in
    prefill; None when there is no time or a figure is not a finite number >= 0."""
    if not (math.isfinite(prefill_s) and math.isfinite(decode_s)):
        return None
    if prefill_s < 0 or decode_s < 0 or prefill_s + decode_s <= 0:
        return None
    return prefill_s / (prefill_s + decode_s)


def _per_m(usd_per_s: float, tok_per_s: float) -> float | None:
    return usd_per_s / tok_per_s * TOKENS_PER_MILLION if tok_per_s > 0 else None


def _check_rates(usd_per_s: float, input_tok_per_s: float, output_tok_per_s: float) -> None:
    for name, value in (
        ("cost per second", usd_per_s),
        ("input tokens/s", input_tok_per_s),
        ("output tokens/s", output_tok_per_s),
    ):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")


def token_prices_split(
    usd_per_s: float,
    input_tok_per_s: float,
    output_tok_per_s: float,
    prefill_share: float,
    method: str = METHOD_SERVER,
) -> TokenPrices:
    """Prices with ``prefill_share`` of the cost charged to input tokens, the rest to
    output tokens (USD per million tokens); ``method`` names where the share came from."""
    _check_rates(usd_per_s, input_tok_per_s, output_tok_per_s)
    if not 0.0 <= prefill_share <= 1.0:
        raise ConfigError(f"prefill share must be between 0 and 1, got {prefill_share!r}")
    usd_in = _per_m(prefill_share * usd_per_s, input_tok_per_s)
    usd_out = _per_m((1.0 - prefill_share) * usd_per_s, output_tok_per_s)
    return TokenPrices(
        usd_per_m_input=usd_in,
        usd_per_m_output=usd_out,
        usd_per_m_blended_3_1=blended_3_1(usd_in, usd_out),
        usd_per_m_output_all_in=_per_m(usd_per_s, output_tok_per_s),
        usd_per_m_total_tokens=_per_m(usd_per_s, input_tok_per_s + output_tok_per_s),
        prefill_share=prefill_share,
        method=method,
    )


def token_prices_gke(
    usd_per_s: float,
    input_tok_per_s: float,
    output_tok_per_s: float,
    ratio: float = GKE_DEFAULT_RATIO,
) -> TokenPrices:
    """Prices by GKE's ratio method: an input token costs 1/``ratio`` of an output token
    (USD per million tokens)."""
    _check_rates(usd_per_s, input_tok_per_s, output_tok_per_s)
    if not math.isfinite(ratio) or ratio <= 0:
        raise ConfigError(f"the GKE input/output cost ratio must be above 0, got {ratio!r}")
    denominator = input_tok_per_s / ratio + output_tok_per_s
    if denominator <= 0:
        usd_out = None
        usd_in = None
        share = 0.0
    else:
        usd_out_tok = usd_per_s / denominator
        usd_in_tok = usd_out_tok / ratio
        usd_out = usd_out_tok * TOKENS_PER_MILLION if output_tok_per_s > 0 else None
        usd_in = usd_in_tok * TOKENS_PER_MILLION if input_tok_per_s > 0 else None
        share = (input_tok_per_s / ratio) / denominator
    return TokenPrices(
        usd_per_m_input=usd_in,
        usd_per_m_output=usd_out,
        usd_per_m_blended_3_1=blended_3_1(usd_in, usd_out),
        usd_per_m_output_all_in=_per_m(usd_per_s, output_tok_per_s),
        usd_per_m_total_tokens=_per_m(usd_per_s, input_tok_per_s + output_tok_per_s),
        prefill_share=share,
        method=f"{METHOD_GKE}, r={ratio:g}",
    )


def token_prices(
    usd_per_s: float,
    input_tok_per_s: float,
    output_tok_per_s: float,
    *,
    prefill_share: float | None,
    gke_ratio: float = GKE_DEFAULT_RATIO,
) -> TokenPrices:
    """The server split when ``prefill_share`` (from the engine's histograms) is known, GKE's
    ratio method otherwise."""
    if prefill_share is not None:
        return token_prices_split(usd_per_s, input_tok_per_s, output_tok_per_s, prefill_share)
    return token_prices_gke(usd_per_s, input_tok_per_s, output_tok_per_s, gke_ratio)


def tokens_cost_usd(input_tokens: float, output_tokens: float, prices: TokenPrices) -> float | None:
    """USD for ``input_tokens`` and ``output_tokens`` at ``prices``; None when a price the
    count needs is missing."""
    total = 0.0
    for count, per_m in (
        (input_tokens, prices.usd_per_m_input),
        (output_tokens, prices.usd_per_m_output),
    ):
        if count > 0:
            if per_m is None:
                return None
            total += count * per_m / TOKENS_PER_MILLION
    return total
