"""How a run relates to the hardware it is priced on: the same hardware, re-priced exactly,
or other hardware, a roofline estimate (:mod:`localeval.cost.scaling`); and the prices and
electricity tariff one analysis applies.

Limits: a result whose GPU count is unknown is not priced; a run measured on vLLM's CPU
build is not re-priced on a GPU; a model that the plan module's memory model says does
not fit the target is not re-priced there. When the model's config.json is not at hand,
the fit is not checked and the estimate says so (a labelled estimate rather than a refusal:
the roofline figure is an estimate either way, and the refusal would need a file that the
cost model never fetches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from localeval.cost import scaling
from localeval.cost.context import Context
from localeval.cost.inputs import BenchRun, EvalRun, ModelFacts
from localeval.cost.options import CostOptions
from localeval.cost.pricing import PricedHour, custom_price, gpu_usd_per_hour, parse_option
from localeval.cost.records import RunBasis
from localeval.errors import ConfigError, PricingRefused
from localeval.hardware import HardwareProfile, PricingOption, match_profile
from localeval.plan.memory import plan_memory
from localeval.plan.model_facts import count_parameters


def measured_profile(
    run: BenchRun | EvalRun, profiles: list[HardwareProfile]
) -> HardwareProfile | None:
    """The profile ``run`` was measured on: the one it names, else the first that matches one
    of its GPU names; None when no profile describes it."""
    hw = run.hardware
    if hw.profile:
        for p in profiles:
            if p.name == hw.profile:
                return p
        return None
    for name in hw.gpu_names:
        found = match_profile(name, profiles)
        if found is not None:
            return found
    return None


def measured_target(
    runs: Sequence[BenchRun | EvalRun], profiles: list[HardwareProfile], opts: CostOptions
) -> HardwareProfile | None:
    """The one profile the runs were measured on, when no ``--profile`` was given; None
    when they name none and a ``--usd-per-hour`` price was given."""
    measured = {m.name: m for r in runs if (m := measured_profile(r, profiles)) is not None}
    if len(measured) > 1:
        raise ConfigError(
            f"the results were measured on different hardware ({', '.join(sorted(measured))})",
            hint="pass --profile NAME to price them all on one",
        )
    target = next(iter(measured.values()), None)
    if target is None and opts.usd_per_hour is None:
        unknown = opts.gpus is None and any(
            r.hardware.gpu_count <= 0 and r.hardware.device not in ("cpu", "api") for r in runs
        )
        raise ConfigError(
            "no price: the results name no hardware profile and none was given"
            + ("; nor do they say how many GPUs served them" if unknown else ""),
            hint="pass --profile NAME (see `localeval hw list`) or --usd-per-hour X"
            + (", and --gpus N (the GPUs serving the endpoint)" if unknown else ""),
        )
    return target


def gpu_units(run: BenchRun | EvalRun, gpus: int | None) -> tuple[int, str, list[str]]:
    """The GPUs ``run`` is priced as, where that count comes from, and the notes that say
    so: ``gpus`` (``--gpus``) when given, else the count the result records; a CPU run is
    one host. Raises :class:`PricingRefused` for a result whose GPU count is unknown (an
    endpoint measured without ``--gpus``): pricing it as one GPU would understate an
    8-GPU deployment eightfold."""
    hw = run.hardware
    if gpus is not None:
        recorded = str(hw.gpu_count) if hw.gpu_count > 0 else "no count"
        return gpus, "--gpus", [f"priced as {gpus} GPU(s) (--gpus; the result records {recorded})"]
    if hw.gpu_count > 0:
        return hw.gpu_count, "result", []
    if hw.device in ("cpu", "api"):
        if hw.cpu_workers:
            # vLLM's CPU build runs TP x PP x DP as processes on one host's cores: the host
            # is what is rented, so more workers are not more device-hours.
            note = (
                f"CPU server with {hw.cpu_workers} engine workers on one host: priced as one "
                "device-hour (one VM-hour) of the profile per hour, not "
                f"{hw.cpu_workers}: the workers share the host's cores"
            )
        else:
            note = "no GPU in the run: priced as one device-hour of the profile per hour"
        return 1, "one host", [note]
    raise PricingRefused(
        f"{run.path}: the number of GPUs serving the measured endpoint is unknown (measured "
        "against --endpoint without --gpus), so it is not priced",
        hint="pass --gpus N (the GPUs serving it, on every node) and --profile NAME (their "
        "hardware) to `localeval cost`, `localeval report` or `localeval run`",
    )


def fit_on(facts: ModelFacts, target: HardwareProfile, units: int) -> tuple[bool | None, str]:
    """Whether the model fits ``units`` GPUs of ``target`` by the plan module's memory model
    (weights, runtime reserve and one full-context sequence of KV cache in 90% of the
    memory), and the text that says so; None when its architecture is not known."""
    if facts.arch is None:
        return None, (
            f"fit on {units} x {target.name} not checked: {facts.reason or 'no model facts'}"
        )
    arch = facts.arch
    context = min(
        facts.context_tokens or arch.max_position_embeddings, arch.max_position_embeddings
    )
    plan = plan_memory(
        arch,
        count_parameters(arch),
        memory_gb=target.memory_gb,
        tensor_parallel=units,
        context_tokens=context,
        weight_format=arch.checkpoint_format,
    )
    gib = 2**30
    need = plan.weight_bytes + plan.overhead_bytes + plan.kv_bytes_per_sequence
    text = (
        f"{arch.name} needs ~{need / gib:.1f} GiB per GPU on {units} x {target.name} "
        f"({plan.weight_format} weights {plan.weight_bytes / gib:.1f} GiB, runtime "
        f"{plan.overhead_bytes / gib:.1f} GiB, one {context}-token sequence of KV cache "
        f"{plan.kv_bytes_per_sequence / gib:.2f} GiB) of a {plan.budget_bytes / gib:.1f} GiB "
        "budget (plan module's memory model, an estimate)"
    )
    return need <= plan.budget_bytes, text


def run_basis(
    run: BenchRun | EvalRun,
    target: HardwareProfile | None,
    profiles: list[HardwareProfile],
    *,
    gpus: int | None = None,
    facts: ModelFacts | None = None,
) -> RunBasis:
    """How ``run`` is priced on ``target``: exactly when measured on it (or when a price is
    given and no profile), else a roofline estimate. Raises :class:`PricingRefused` for an
    unknown GPU count (see :func:`gpu_units`), and for a re-pricing on other hardware of a
    run measured on the CPU build or of a model that does not fit the target (``facts``);
    :class:`ConfigError` when the hardware it records has no profile to scale from."""
    kind = "bench" if isinstance(run, BenchRun) else "eval"
    hw = run.hardware
    units, source, notes = gpu_units(run, gpus)
    measured = measured_profile(run, profiles)
    if target is None:
        notes.append("price supplied for the hardware the run was measured on")
        return RunBasis(
            run.path,
            kind,
            run.model,
            hw.describe(),
            "custom price",
            units,
            True,
            None,
            tuple(notes),
            source,
        )
    cpu_run = hw.device == "cpu" or (measured is not None and measured.vendor == "cpu")
    if cpu_run and target.vendor != "cpu":
        raise PricingRefused(
            f"{run.path}: measured on vLLM's CPU build; its speed says nothing of "
            f"{target.display_name}, so it is not re-priced there",
            hint="measure on that hardware (`localeval run` on it), or price the CPU run on "
            "the profile it ran on (--profile cpu)",
        )
    if measured is None:
        if hw.profile or hw.gpu_names:
            what = hw.profile or ", ".join(sorted(set(hw.gpu_names)))
            if not any(target.matches(n) for n in hw.gpu_names):
                raise ConfigError(
                    f"{run.path}: measured on {what}, which no hardware profile describes; "
                    f"cannot scale it to {target.name}",
                    hint="add a profile for that hardware (--profiles-dir), or price it with "
                    "--usd-per-hour X and no --profile",
                )
            measured = target
        else:
            notes.append(
                f"the result does not record its hardware: assumed measured on {target.name}"
            )
            measured = target
    if measured.name == target.name:
        return RunBasis(
            run.path,
            kind,
            run.model,
            hw.describe(),
            target.name,
            units,
            True,
            None,
            tuple(notes),
            source,
        )
    fits, fit_text = fit_on(facts or ModelFacts(None, "no model facts given"), target, units)
    if fits is False:
        raise PricingRefused(
            f"{run.path}: {run.model} does not fit {units} x {target.display_name}: {fit_text}",
            hint="price it on hardware with more memory, or give the GPU count that would "
            "serve it (--gpus N)",
        )
    scale = scaling.roofline_scale(measured, target)
    notes.append(
        f"ESTIMATE: measured on {measured.name}, priced on {target.name} ({scale.method}; "
        f"prefill x{scale.prefill_speedup:.3g}, decode x{scale.decode_speedup:.3g})"
    )
    notes.append(f"ESTIMATE: {fit_text}" if fits is None else f"fits: {fit_text}")
    return RunBasis(
        run.path,
        kind,
        run.model,
        hw.describe(),
        target.name,
        units,
        False,
        scale,
        tuple(notes),
        source,
        fit_text,
    )


def measured_power_per_gpu_w(
    runs: Sequence[BenchRun | EvalRun], bases: Sequence[RunBasis]
) -> float | None:
    """Mean power per GPU over the runs priced exactly (measured energy / GPU-seconds), for
    the owned price's electricity; None when none of them measured energy."""
    energy = 0.0
    gpu_seconds = 0.0
    for run, basis in zip(runs, bases, strict=True):
        if not basis.exact:
            continue
        if isinstance(run, BenchRun):
            for p in run.points:
                if p.energy_j is not None and p.energy_j > 0:
                    energy += p.energy_j
                    gpu_seconds += p.duration_s * basis.units
        else:
            for t in run.tasks:
                if t.energy_j is not None and t.energy_j > 0 and t.wall_s > 0:
                    energy += t.energy_j
                    gpu_seconds += t.wall_s * basis.units
    if energy <= 0 or gpu_seconds <= 0:
        return None
    return energy / gpu_seconds


def build_prices(ctx: Context, measured_power_w: float | None) -> list[PricedHour]:
    """One priced hour per price option: the ``--usd-per-hour`` price, else the options asked
    for, else every option the target profile lists."""
    opts, target = ctx.opts, ctx.target
    if opts.usd_per_hour is not None:
        return [
            custom_price(
                opts.usd_per_hour,
                profile=target.name if target else None,
                utilization=opts.utilization,
            )
        ]
    if target is None:
        raise ConfigError(
            "no price: the results name no hardware profile and none was given",
            hint="pass --profile NAME (see `localeval hw list`) or --usd-per-hour X",
        )
    if opts.pricing:
        options: list[PricingOption] = [parse_option(o) for o in opts.pricing]
    else:
        options = target.pricing_options()
        if not options:
            raise ConfigError(
                f"hardware profile {target.name!r} has no prices",
                hint="give a price with --usd-per-hour X",
            )
    return [
        gpu_usd_per_hour(
            target,
            opt,
            measured_power_w=measured_power_w if opt == "owned" else None,
            utilization=opts.utilization,
            host_overhead_w=opts.host_overhead_w,
        )
        for opt in options
    ]


@dataclass(frozen=True)
class Electricity:
    """The electricity price and PUE for energy dollars, where the price came from, and what
    was assumed."""

    usd_per_kwh: float | None
    pue: float
    source: str | None
    assumptions: tuple[str, ...]


def electricity(opts: CostOptions, target: HardwareProfile | None) -> Electricity:
    """The electricity price and PUE: the options', else the target profile's owned pricing,
    else no price and PUE 1.0."""
    owned = target.pricing.owned if target is not None else None
    notes: list[str] = []
    if opts.usd_per_kwh is not None:
        usd, source = opts.usd_per_kwh, "user-supplied (--usd-per-kwh)"
    elif owned is not None:
        usd, source = owned.electricity_usd_per_kwh, owned.electricity_source
    else:
        usd, source = None, None
    if opts.pue is not None:
        pue = opts.pue
    elif owned is not None:
        pue = owned.pue
    else:
        pue = 1.0
        if usd is not None:
            notes.append("PUE 1.0 assumed (no facility overhead)")
    return Electricity(usd, pue, source, tuple(notes))


def same_hardware(a: BenchRun | EvalRun, b: BenchRun | EvalRun) -> bool:
    """Whether two runs were measured on the same hardware, by profile names when both record
    one, else by GPU names; runs that cannot be compared either way match."""
    ha, hb = a.hardware, b.hardware
    if ha.profile and hb.profile:
        return ha.profile == hb.profile
    if ha.gpu_names and hb.gpu_names:
        return set(ha.gpu_names) == set(hb.gpu_names)
    # One side does not record its hardware; its run basis says what was assumed.
    return True
