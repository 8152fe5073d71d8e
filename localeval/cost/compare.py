"""Self-hosting set beside the alternatives: what each task would cost on the API models
compared (tokens re-counted from logged samples with an OpenAI model's own tokenizer when
``--samples`` names them), and the cheapest way to reach an accuracy on a task, among the
self-hosted runs and the published reference points (cost at fixed performance)."""

from __future__ import annotations

from collections.abc import Sequence

from localeval.cost.api import (
    ApiModelPrice,
    TokenCount,
    api_cost,
    api_refusal,
    with_output_multiplier,
)
from localeval.cost.api import counts_by_ratio as _counts_by_ratio
from localeval.cost.context import Context
from localeval.cost.fixed_performance import (
    Candidate,
    FixedPerformance,
    cheapest_meeting,
    normalize_threshold,
)
from localeval.cost.inputs import Samples, read_samples
from localeval.cost.pricing import option_label
from localeval.cost.records import ApiTaskCost, ApiUnpriced, TaskCost, TaskOptionCost
from localeval.cost.recount import RecountUnavailable, encoding_name_for, load_encoding, recount
from localeval.cost.reference import load_reference_points
from localeval.results.cost import API_PAIRS, ApiTier, MeasuredApiRun


def api_token_count(
    ctx: Context, price: ApiModelPrice, task: str, prompt_tokens: float, generated_tokens: float
) -> TokenCount:
    """The tokens ``price``'s model would bill for ``task``: for an OpenAI model with logged
    samples, re-counted with its tokenizer (once per file and encoding), else the open
    model's counts times the token ratio."""
    opts = ctx.opts
    samples_path = opts.samples.get(task) or opts.samples.get("")
    if price.is_openai and samples_path is not None:
        enc_name = encoding_name_for(price.key)
        key = (str(samples_path), enc_name)
        if key not in ctx.recounts:
            samples: Samples = read_samples(samples_path)
            enc = load_encoding(enc_name)
            ctx.recounts[key] = (
                enc
                if isinstance(enc, RecountUnavailable)
                else recount(samples.prompts, samples.completions, enc, enc_name)
            )
        counted = ctx.recounts[key]
        if isinstance(counted, TokenCount):
            return counted
        fallback = _counts_by_ratio(prompt_tokens, generated_tokens, opts.token_ratio)
        return TokenCount(
            fallback.input_tokens,
            fallback.output_tokens,
            f"{fallback.method}; tiktoken recount unavailable: {counted.reason}",
        )
    return _counts_by_ratio(prompt_tokens, generated_tokens, opts.token_ratio)


def paired_self_hosted_usd(cost: TaskOptionCost, tier: ApiTier) -> float | None:
    """The self-hosted figure an API tier is set beside (see ``API_PAIRS``): the batch tier
    beside saturation (the best point measured), the standard tier beside the SLO point."""
    return cost.saturation_usd if tier == "batch" else cost.slo_point_usd


def api_rows(
    ctx: Context, tasks: Sequence[TaskCost]
) -> tuple[list[ApiTaskCost], list[ApiUnpriced]]:
    """Each task's estimated cost on each compared API model in each asked-for tier, set
    beside the self-hosted figure of that tier's pair; and the (task, model, tier) left
    unpriced, with why (see :func:`localeval.cost.api.api_refusal`; a batch tier the catalog
    does not list)."""
    opts = ctx.opts
    rows: list[ApiTaskCost] = []
    unpriced: list[ApiUnpriced] = []
    for t in tasks:
        for price in ctx.compare:
            reason = api_refusal(price, t.output_types, opts.api_output_multiplier)
            if reason is not None:
                unpriced += [
                    ApiUnpriced(t.path, t.task, price.name, tier, reason) for tier in opts.api_tiers
                ]
                continue
            counts = api_token_count(ctx, price, t.task, t.prompt_tokens, t.generated_tokens)
            if price.reasoning_model:
                counts = with_output_multiplier(counts, opts.api_output_multiplier)
            for tier in opts.api_tiers:
                if tier == "batch" and not price.has_batch_tier:
                    unpriced.append(
                        ApiUnpriced(
                            t.path,
                            t.task,
                            price.name,
                            tier,
                            f"the price catalog lists no batch tier for {price.name}",
                        )
                    )
                    continue
                rows.append(
                    ApiTaskCost(
                        t.task,
                        api_cost(price, counts, tier),
                        path=t.path,
                        pairs_with=API_PAIRS[tier],
                    )
                )
    return rows, unpriced


def price_fixed_performance(
    ctx: Context, tasks: Sequence[TaskCost], api_runs: Sequence[MeasuredApiRun] = ()
) -> FixedPerformance | None:
    """The cheapest self-hosted run or published reference point reaching ``--min-accuracy``
    on ``--task``; None unless both were given."""
    opts = ctx.opts
    if opts.task is None or opts.min_accuracy is None:
        return None
    threshold = normalize_threshold(opts.min_accuracy)
    candidates: list[Candidate] = []
    for t in tasks:
        if t.task != opts.task:
            continue
        for oc in t.by_option:
            price = next(p for p in ctx.prices if p.option == oc.option)
            for how, usd in (("as run", oc.as_run_usd), ("at saturation", oc.saturation_usd)):
                candidates.append(
                    Candidate(
                        label=f"{t.model} self-hosted, {option_label(oc.option)} ({how})"
                        + (" ESTIMATE" if t.estimate else ""),
                        kind="self-hosted",
                        model=t.model,
                        cost_usd=usd,
                        score=t.score,
                        basis=f"{price.label()}; {'GPU-s x $/GPU-s' if how == 'as run' else oc.saturation_basis}",
                        source=price.source,
                        as_of=price.as_of,
                        assumptions=t.assumptions + price.assumptions,
                    )
                )
    for run in api_runs:
        for m in run.tasks:
            if m.task != opts.task:
                continue
            candidates.append(
                Candidate(
                    label=f"{run.model} API, measured ({run.tier} tier)",
                    kind="api measured",
                    model=run.model,
                    cost_usd=m.cost_usd,
                    score=m.score,
                    basis=f"billed usage at {run.price_key} {run.tier}-tier prices "
                    f"({run.usd_per_m_input:g}/{run.usd_per_m_output:g} $/M)",
                    source=run.source,
                    as_of=run.as_of,
                )
            )
    for ref in load_reference_points(opts.task):
        candidates.append(
            Candidate(
                label=f"{ref.model} (published)",
                kind="api reference",
                model=ref.model,
                cost_usd=ref.cost_usd,
                score=ref.score,
                score_at_least=ref.score_at_least,
                basis=(
                    f"{ref.benchmark}; API {ref.input_usd_per_m:g}/{ref.output_usd_per_m:g} $/M"
                    if ref.input_usd_per_m is not None and ref.output_usd_per_m is not None
                    else ref.benchmark
                ),
                source=ref.source,
                as_of=ref.as_of.isoformat(),
            )
        )
    if not candidates:
        ctx.notes.append(
            f"fixed performance: no eval result nor reference point for task {opts.task!r}"
        )
    return cheapest_meeting(opts.task, threshold, candidates)
