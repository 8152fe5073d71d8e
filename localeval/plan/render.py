"""Plain-text rendering of a :class:`~localeval.plan.planner.PlanReport`. Returns strings;
printing is the caller's. Every figure is shown as an estimate with its formula."""

from __future__ import annotations

from localeval.cost.pricing import option_label
from localeval.plan import fleet as fleet_mod
from localeval.plan import roofline as roofline_mod
from localeval.plan.compare import COMPARE_FORMULAS
from localeval.plan.planner import ESTIMATE_LABEL, PlanReport


def _gib(value: float) -> str:
    """Bytes in GiB: GPU memory is binary ("80GB" is 80 GiB), so every size is too."""
    return f"{value / 2**30:,.2f} GiB"


def _params(value: int) -> str:
    return f"{value / 1e9:,.2f} B ({value:,})"


def _usd(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    return f"${value:,.2f}" if value >= 1 else f"${value:.3g}"


def render_plan(report: PlanReport) -> str:
    """The report as text for a terminal."""
    m = report.model
    mem = report.memory
    roof = report.roofline
    spec = roof.spec
    lines = [f"localeval plan: ESTIMATES - {ESTIMATE_LABEL}", ""]
    attention = f"{m.attention.upper()}, {m.attention_heads} heads / {m.kv_heads} KV heads"
    lines.append(
        f"Model       {m.name} ({m.source}), {m.model_type}, {m.layers} layers, {attention}"
    )
    params = f"Parameters  {_params(m.params_total)} total"
    if m.moe is not None:
        params += (
            f"; {_params(m.params_active)} active per token "
            f"({m.moe['experts_per_token']} of {m.moe['num_experts']} experts)"
        )
    lines.append(params)
    by_format = ", ".join(f"{k} {_gib(v)}" for k, v in m.weight_bytes_by_format.items())
    lines.append(
        f"Weights     {_gib(m.weight_bytes)} in {m.weight_format} "
        f"(checkpoint: {m.checkpoint_format}; {by_format})"
    )
    kv_formula = (
        "layers x (kv_lora_rank + qk_rope_head_dim) x bytes"
        if m.attention == "mla"
        else "2 x layers x kv_heads x head_dim x bytes"
    )
    lines.append(f"KV cache    {m.kv_bytes_per_token:,} B/token in {m.kv_format} = {kv_formula}")
    lines.append(
        f"Hardware    {report.profile.name} ({report.profile.display_name}): "
        f"{mem.gpu_memory_bytes / 2**30:g} GiB, {spec.memory_bandwidth_bytes_per_s / 1e12:g} TB/s, "
        f"{spec.peak_flops / 1e12:g} TFLOPS ({spec.peak_flops_basis}); "
        f"{report.tensor_parallel} GPU(s), {report.gpus_chosen_by}"
    )
    lines.append("")
    verdict = "YES" if report.fits else "NO"
    lines.append(
        f"Fits: {verdict} - {report.tensor_parallel} x {report.profile.name} at a "
        f"{mem.context_tokens:,}-token context, gpu_memory_utilization {mem.gpu_memory_utilization:g}"
    )
    lines.append(
        f"  per GPU: budget {_gib(mem.budget_bytes)}; weights {_gib(mem.weight_bytes)} + "
        f"overhead {_gib(mem.overhead_bytes)} leave {_gib(mem.kv_budget_bytes)} for KV cache"
    )
    lines.append(
        f"  KV capacity {mem.kv_capacity_tokens:,} tokens = {mem.max_concurrent_sequences:,} "
        f"concurrent sequence(s) of {mem.context_tokens:,} tokens "
        f"({mem.kv_bytes_per_token:,} B/token per GPU)"
    )
    for problem in mem.problems:
        lines.append(f"  ! {problem}")
    lines.append("")

    lines.append(
        f"Decode roofline (estimate) at {roof.context_tokens:,.0f} tokens of context "
        f"(input {report.workload.input_tokens} + output {report.workload.output_tokens}/2):"
    )
    lines.append("   batch   step ms   tok/s per stream   tok/s total   bound")
    for p in roof.decode:
        lines.append(
            f"  {p.batch:>6} {p.step_s * 1e3:>9.2f} {p.per_stream_tok_per_s:>18,.1f} "
            f"{p.aggregate_tok_per_s:>13,.0f}   {p.bound}"
        )
    if roof.compute_bound_from_batch is None:
        lines.append(
            "  decode stays memory bound at every batch size (KV reads grow with the batch)"
        )
    else:
        lines.append(f"  decode turns compute bound from batch {roof.compute_bound_from_batch:,}")
    pf = roof.prefill
    lines.append(
        f"Prefill roofline (estimate): a {pf.prompt_tokens:,}-token prompt in "
        f"{pf.time_s * 1e3:,.1f} ms = {pf.tok_per_s:,.0f} tok/s ({pf.bound} bound)"
    )
    lines.append("")

    if report.fleet is not None:
        lines.extend(_render_fleet(report.fleet, report.profile.name))
        lines.append("")
    if report.compare is not None:
        c = report.compare
        lines.append(
            f"Measured vs roofline: {c.result_file} ({c.model} on {c.tensor_parallel} x {c.profile})"
        )
        lines.append(
            "  concurrency  measured tok/s  bound tok/s (decode / +prefill)  % of bound "
            "(decode / +prefill)"
        )
        for q in c.points:
            lines.append(
                f"  {q.concurrency:>11} {q.measured_output_tok_per_s:>15,.0f} "
                f"{q.decode_bound_tok_per_s:>15,.0f} / {q.bound_with_prefill_tok_per_s:<13,.0f} "
                f"{q.pct_of_decode_bound:>10.1f}% / {q.pct_of_bound_with_prefill:.1f}%"
            )
        lines.append("")

    lines.append("Formulas:")
    formulas = {
        **{k: v for k, v in mem.formulas().items() if k in ("overhead_bytes", "fits")},
        **{
            k: v
            for k, v in roofline_mod.FORMULAS.items()
            if k in ("t_memory_s", "t_compute_s", "t_comm_s", "step_s", "prefill_tok_per_s")
        },
    }
    if report.fleet is not None:
        formulas.update(fleet_mod.FORMULAS)
    if report.compare is not None:
        formulas.update(COMPARE_FORMULAS)
    for key, text in formulas.items():
        lines.append(f"  {key}: {text}")
    if report.notes:
        lines.append("Notes:")
        lines.extend(f"  - {note}" for note in report.notes)
    return "\n".join(lines)


def _render_fleet(fleet: fleet_mod.FleetPlan, profile: str) -> list[str]:
    load = fleet.load
    slo = ", ".join(
        f"{name} <= {value:g}"
        for name, value in (
            ("tpot_ms", fleet.slo.tpot_ms),
            ("ttft_ms", fleet.slo.ttft_ms),
            ("e2e_ms", fleet.slo.e2e_ms),
        )
        if value is not None
    )
    lines = [
        f"Fleet (estimate) for {load.requests_per_day:,.0f} requests/day of {load.input_tokens} "
        f"input + {load.output_tokens} output tokens, peak factor {load.peak_factor:g}, "
        f"SLO: {slo or 'none'}"
    ]
    for o in fleet.options:
        if not o.meets_slo:
            lines.append(f"  tp={o.tensor_parallel:<3} unusable: {o.reason}")
            continue
        lines.append(
            f"  tp={o.tensor_parallel:<3} batch {o.batch} ({o.limited_by}), tpot {o.tpot_ms:.1f} ms, "
            f"ttft {o.ttft_ms:.0f} ms, {o.requests_per_s:,.2f} req/s and "
            f"{o.output_tok_per_s:,.0f} output tok/s per replica -> {o.replicas} replica(s), "
            f"{o.gpus} GPU(s)"
        )
    if fleet.chosen is None:
        lines.append("  no replica layout meets the SLO on this hardware")
    else:
        c = fleet.chosen
        lines.append(
            f"  chosen: {c.replicas} replica(s) x {c.tensor_parallel} GPU(s) = {c.gpus} x {profile}"
        )
        for cost in fleet.costs:
            lines.append(
                f"  {option_label(cost.option):<10} {_usd(cost.usd_per_month)}/month "
                f"({cost.usd_per_gpu_hour:.3g} $/GPU-h x {c.gpus} x {fleet_mod.HOURS_PER_MONTH:.0f} h) "
                f"= {_usd(cost.usd_per_million_tokens)} per million tokens"
            )
    for api in fleet.api:
        lines.append(
            f"  API {api.model:<18} {_usd(api.usd_per_month)}/month at "
            f"{api.input_usd_per_million:g} / {api.output_usd_per_million:g} $ per M in/out "
            f"({api.source}, {api.as_of})"
        )
    lines.extend(f"  note: {n}" for n in fleet.notes)
    return lines
