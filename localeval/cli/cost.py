"""`localeval cost`: price bench and eval results (or what-if inputs) on a hardware profile and
set them beside closed-API prices."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from localeval.cli._pricing import estimate_tiers, measured_tier, pricing_options
from localeval.cost.analyze import DEFAULT_COMPARE, CostOptions, analyze
from localeval.cost.api import tier_prices
from localeval.cost.catalog import load_catalog
from localeval.cost.compare import paired_self_hosted_usd
from localeval.cost.pricing import option_label
from localeval.cost.records import CostReport
from localeval.report.load import display_name
from localeval.results.bench import DEFAULT_SLO_ATTAINMENT
from localeval.results.common import to_json
from localeval.results.cost import API_PAIRS, STILL_RISING, MeasuredApiRun


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"${value:,.2f}"
    if value == 0:
        return "$0"
    return f"${value:#.4g}"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


class _Notes:
    """Numbered footnotes: each distinct assumption gets one number."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def refs(self, texts: Iterable[str]) -> str:
        numbers = []
        for text in texts:
            if text not in self.items:
                self.items[text] = len(self.items) + 1
            numbers.append(self.items[text])
        return ",".join(str(n) for n in sorted(set(numbers)))


def _console() -> Console:
    """A console as wide as the terminal ($COLUMNS; 80 columns when printing to a file or
    pipe): the tables below are laid out to fit 80."""
    return Console()


# Columns whose cells are never broken: a figure or a name split over two lines is misread.
_WHOLE = ("option", "point", "notes", "as of", "kind", "basis", "rank")


def _table(title: str, columns: Iterable[str], numeric: Iterable[str] = ()) -> Table:
    """A table that fits a narrow terminal: no outer edge, a rule under the header, text
    that wraps within its cell (a word too long for it folded onto the next line rather
    than cut). ``numeric`` columns, like the option and point labels, are right-aligned
    and never broken, so the text columns give way."""
    right = set(numeric)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        whole = col in right or col in _WHOLE
        table.add_column(
            col,
            justify="right" if col in right else "left",
            no_wrap=whole,
            overflow="ellipsis" if whole else "fold",
        )
    return table


def _split_list(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def _samples(values: Iterable[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for raw in values:
        if "=" in raw and not Path(raw).exists():
            task, file = raw.split("=", 1)
            out[task.strip()] = Path(file)
        else:
            out[""] = Path(raw)
    return out


def _print_report(report: CostReport, console: Console) -> None:
    notes = _Notes()
    for section in (
        _prices,
        _runs,
        _points,
        _saturation,
        _tasks,
        _holds,
        _api,
        _breakeven,
        _task_breakeven,
        _fixed,
    ):
        section(report, notes, console)
    console.print(f"API prices: {report.catalog_source}", highlight=False)
    for text in report.notes:
        console.print(f"note: {text}", highlight=False)
    if notes.items:
        console.print("Notes:")
        for text, number in notes.items.items():
            console.print(f"  [{number}] {text}", highlight=False, markup=False)


def _prices(report: CostReport, notes: _Notes, console: Console) -> None:
    prices = _table(
        "GPU price per hour of use",
        ("option", "$/GPU-h", "utilization", "detail", "source", "as of", "notes"),
        numeric=("$/GPU-h",),
    )
    for p in report.prices:
        prices.add_row(
            option_label(p.option),
            _usd(p.usd_per_gpu_hour),
            p.utilization_basis,
            p.formula(),
            p.source,
            p.as_of or "-",
            notes.refs(p.assumptions),
        )
    console.print(prices)


def _runs(report: CostReport, notes: _Notes, console: Console) -> None:
    runs = _table(
        "Measurements",
        ("result", "kind", "model", "measured on", "priced on", "basis", "notes"),
    )
    for r in report.runs:
        runs.add_row(
            display_name(r.path),
            r.kind,
            r.model,
            r.measured_on,
            r.priced_on,
            r.basis_text,
            notes.refs(r.assumptions),
        )
    console.print(runs)


def _points(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.points:
        # Two tables rather than one of twelve columns, so that each fits 80 columns: what
        # was measured at each point, then its price under each option.
        load = _table(
            "Load points",
            ("point", "SLO", "in tok/s", "out tok/s", "kWh/M tok"),
            numeric=("in tok/s", "out tok/s", "kWh/M tok"),
        )
        usd_cols = ("$/M in", "$/M out", "$/M blend\n3:1", "$/M out\nall-in")
        table = _table(
            "Self-hosted $ per million tokens at each load point",
            ("point", "option", *usd_cols, "notes"),
            numeric=usd_cols,
        )
        for pt in report.points:
            slo = "-" if pt.slo_met is None else ("met" if pt.slo_met else "missed")
            label = pt.point + (" (est.)" if pt.estimate else "")
            load.add_row(
                label,
                slo,
                _num(pt.input_tok_per_s),
                _num(pt.output_tok_per_s),
                _num(pt.kwh_per_m_tokens),
            )
            for o in pt.by_option:
                tp = o.prices
                table.add_row(
                    label,
                    option_label(o.option),
                    _usd(tp.usd_per_m_input if tp else None),
                    _usd(tp.usd_per_m_output if tp else None),
                    _usd(tp.usd_per_m_blended_3_1 if tp else None),
                    _usd(tp.usd_per_m_output_all_in if tp else None),
                    # How input and output shared the cost: a note, as in the report.
                    notes.refs([*pt.assumptions, *([f"$/M split: {tp.method}"] if tp else [])]),
                )
        console.print(load)
        console.print(table)


def _saturation(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.saturation:
        cols = ("out tok/s", "capacity\ntok/s", "last point\ngain")
        table = _table(
            "Saturation: the best point measured", ("result", "point", *cols, "verdict"), cols
        )
        for s in report.saturation:
            table.add_row(
                display_name(s.path),
                s.point,
                _num(s.output_tok_per_s),
                _num(s.capacity_tok_per_s),
                "-" if s.last_gain is None else f"{s.last_gain:+.1%}",
                STILL_RISING if s.still_rising else "saturated",
            )
        console.print(table)


def _holds(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.server_holds:
        money = ("as run", "server\nhold", "hold /\nas run")
        table = _table(
            "As run, and the whole time the server held the GPUs",
            ("recipe", "option", "held s", *money, "notes"),
            numeric=("held s", *money),
        )
        for h in report.server_holds:
            for o in h.by_option:
                ratio = f"{o.hold_usd / o.as_run_usd:.3g}x" if o.as_run_usd > 0 else "-"
                table.add_row(
                    h.recipe,
                    option_label(o.option),
                    _num(h.held_s),
                    _usd(o.as_run_usd),
                    _usd(o.hold_usd),
                    ratio,
                    notes.refs(h.assumptions),
                )
        console.print(table)


def _tasks(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.tasks:
        # What each task cost under each option, then what it used (the same under every
        # option): two tables that each fit 80 columns.
        money = ("as run", "at SLO\npoint", "at\nsaturation")
        table = _table(
            "Self-hosted cost of each task",
            ("task", "score", "option", *money, "notes"),
            numeric=money,
        )
        used_cols = ("tokens in", "tokens out", "GPU-s", "kWh", "energy $", "CO2 kg")
        used = _table("Work and energy of each task", ("task", *used_cols), numeric=used_cols)
        for t in report.tasks:
            score = "-" if t.score is None else f"{t.metric} {t.score:.4g}"
            task = t.task + (" (est.)" if t.estimate else "")
            e = t.energy
            for o in t.by_option:
                table.add_row(
                    task,
                    score,
                    option_label(o.option),
                    _usd(o.as_run_usd),
                    _usd(o.slo_point_usd),
                    _usd(o.saturation_usd),
                    notes.refs(
                        [
                            *t.assumptions,
                            f"at the SLO point: {o.slo_point_basis}",
                            f"at saturation: {o.saturation_basis}",
                        ]
                    ),
                )
            used.add_row(
                task,
                f"{t.prompt_tokens:,}",
                f"{t.generated_tokens:,}",
                _num(t.gpu_seconds),
                _num(e.kwh if e else None),
                _usd(e.cost_usd if e else None),
                _num(e.co2_kg if e else None),
            )
        console.print(table)
        console.print(used)
        if any(t.correct_answers for t in report.tasks):
            cols = ("as run", "at SLO\npoint", "at\nsaturation")
            per = _table(
                "Self-hosted cost per correct answer ($ / (accuracy x documents))",
                ("task", "correct / documents", "option", *cols),
                numeric=cols,
            )
            for t in report.tasks:
                if not t.correct_answers:
                    continue
                for o in t.by_option:
                    per.add_row(
                        t.task,
                        f"{t.correct_answers:,.0f} / {t.documents:,}",
                        option_label(o.option),
                        _usd(o.as_run_usd_per_correct),
                        _usd(o.slo_point_usd_per_correct),
                        _usd(o.saturation_usd_per_correct),
                    )
            console.print(per)


def _api(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.api:
        table = _table(
            "API cost of the same work: ESTIMATES (the open model's tokens at API prices)",
            (
                "task",
                "API model",
                "tier",
                "$/M\nin / out",
                "tokens\nin / out",
                "cost",
                "x paired\nself-hosted",
                "notes",
            ),
            numeric=("cost", "x paired\nself-hosted"),
        )
        for a in report.api:
            c = a.cost
            input_usd, _, output_usd = tier_prices(c.price, c.tier)
            own = [
                usd
                for t in report.tasks
                if t.task == a.task and (not a.path or t.path == a.path)
                for o in t.by_option
                if (usd := paired_self_hosted_usd(o, c.tier)) is not None and usd > 0
            ]
            ratio = f"{c.cost_usd / min(own):.3g}x" if own else "-"
            table.add_row(
                a.task,
                c.model,
                c.tier,
                f"{input_usd * 1e6:g} / {output_usd * 1e6:g}",
                f"{c.tokens.input_tokens:,.0f} / {c.tokens.output_tokens:,.0f}",
                _usd(c.cost_usd),
                ratio,
                notes.refs(
                    [
                        f"{c.model} ({c.price.key}): {c.price.source}, as of {c.price.as_of}",
                        f"token counts: {c.tokens.method}",
                        *c.assumptions,
                    ]
                ),
            )
        console.print(table)
        console.print(
            "pairs: "
            + "; ".join(f"API {tier} tier beside {what}" for tier, what in API_PAIRS.items())
            + ". x paired self-hosted: API cost / the cheapest self-hosted figure of its pair"
        )
    if report.api_unpriced:
        left = _table("Not priced on an API", ("task", "API model", "tier", "why"))
        for u in report.api_unpriced:
            left.add_row(u.task, u.model, u.tier, u.reason)
        console.print(left)


def _breakeven(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.breakeven:
        cols = (
            "capacity\ntok/s",
            "API $/M\n(mix)",
            "break-even\ntok/day",
            "utilization\nneeded",
        )
        table = _table(
            "Break-even: daily volume above which self-hosting beats the API",
            ("option", "API model", *cols, "notes"),
            numeric=cols,
        )
        for b in report.breakeven:
            r = b.result
            if r.tokens_per_day is None:
                volume, util = "never", "-"
            else:
                volume = _num(r.tokens_per_day)
                util = f"{r.utilization_needed:.1%}" if r.utilization_needed is not None else "-"
                if not r.reachable:
                    util += " (beyond capacity)"
            table.add_row(
                option_label(b.option),
                b.api_model,
                _num(b.capacity_tok_per_s),
                _usd(r.api_usd_per_token * 1e6),
                volume,
                util,
                notes.refs([f"throughput: {b.throughput_basis}", *b.assumptions]),
            )
        console.print(table)


def _task_breakeven(report: CostReport, notes: _Notes, console: Console) -> None:
    if report.task_breakeven:
        cols = ("in:out", "capacity\ntok/s", "API $/M\n(mix)", "break-even\ntok/day")
        table = _table(
            "Break-even of each task at its own input:output mix",
            ("task", "option", "API model", *cols, "notes"),
            numeric=cols,
        )
        for b in report.task_breakeven:
            r = b.result
            share = b.input_share
            mix = f"{share / (1 - share):.3g}:1" if share < 1 else "input only"
            table.add_row(
                b.task or "-",
                option_label(b.option),
                b.api_model,
                mix,
                _num(b.capacity_tok_per_s),
                _usd(r.api_usd_per_token * 1e6),
                "never" if r.tokens_per_day is None else _num(r.tokens_per_day),
                notes.refs([f"throughput: {b.throughput_basis}", *b.assumptions]),
            )
        console.print(table)


def _fixed(report: CostReport, notes: _Notes, console: Console) -> None:
    fp = report.fixed_performance
    if fp is not None:
        table = _table(
            f"Cheapest way to reach {fp.threshold:.0%} on {fp.task}",
            ("rank", "candidate", "score", "cost", "basis", "notes"),
            numeric=("score", "cost"),
        )
        for i, c in enumerate(fp.meeting, start=1):
            score = f"{c.score:.4g}" if c.score is not None else f">= {c.score_at_least:g}"
            table.add_row(
                str(i),
                c.label,
                score,
                _usd(c.cost_usd),
                c.basis,
                notes.refs([f"source: {c.source}, as of {c.as_of}", *c.assumptions]),
            )
        for c, why in fp.excluded:
            table.add_row(
                "-",
                c.label,
                "-" if c.score is None else f"{c.score:.4g}",
                _usd(c.cost_usd),
                f"excluded: {why}",
                "",
            )
        console.print(table)


def _print_models(as_json: bool, prices_file: Path | None, overrides: Path | None) -> None:
    catalog = load_catalog(prices_file, overrides)
    aliases: dict[str, list[str]] = {}
    for alias, key in catalog.aliases.items():
        aliases.setdefault(key, []).append(alias)
    models = catalog.models()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": catalog.source,
                    "as_of": catalog.as_of,
                    "models": [{**to_json(m), "aliases": aliases.get(m.key, [])} for m in models],
                },
                indent=2,
            )
        )
        return
    table = _table(
        f"API prices ({catalog.as_of})",
        ("name", "LiteLLM key", "provider", "$/M in", "$/M out", "as of"),
        numeric=("$/M in", "$/M out"),
    )
    for m in models:
        table.add_row(
            ", ".join(sorted(aliases.get(m.key, []))) or "-",
            m.key,
            m.provider,
            f"{m.input_usd_per_m:g}",
            f"{m.output_usd_per_m:g}",
            m.as_of or "-",
        )
    console = _console()
    console.print(table)
    console.print(f"source: {catalog.source}")


@click.command("cost")
@click.argument("results", nargs=-1, type=click.Path(path_type=Path))
@click.option("--profile", help="Hardware profile name (or a profile YAML file) to price on.")
@click.option("--profiles-dir", type=click.Path(path_type=Path), help="Folder of user profiles.")
@click.option(
    "--pricing",
    multiple=True,
    help="on-demand, spot, reserved or owned (repeat or comma-separate; default: all the profile has).",
)
@click.option("--usd-per-hour", type=float, help="Price per GPU-hour, replacing the profile's.")
@click.option("--host-overhead-w", type=float, help="Owned GPUs: host power per GPU, in watts.")
@click.option(
    "--compare",
    multiple=True,
    help=f"API models to compare (comma-separated; default: {','.join(DEFAULT_COMPARE)}).",
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(path_type=Path),
    help="A newer LiteLLM-format price file.",
)
@click.option(
    "--price-overrides", type=click.Path(path_type=Path), help="YAML file of API price overrides."
)
@click.option(
    "--token-ratio",
    type=float,
    help="API-model tokens per open-model token (default: 1, as measured).",
)
@click.option(
    "--samples",
    multiple=True,
    help="[TASK=]FILE of logged prompts/completions for tiktoken re-counts.",
)
@click.option(
    "--gke-ratio",
    type=float,
    default=4.0,
    show_default=True,
    help="GKE fallback: output/input cost ratio r.",
)
@click.option(
    "--slo-attainment",
    type=float,
    default=DEFAULT_SLO_ATTAINMENT,
    show_default=True,
    help="A load point meets the SLO when this share of its requests did.",
)
@click.option(
    "--usd-per-kwh", type=float, help="Electricity price for energy cost (default: the profile's)."
)
@click.option(
    "--pue",
    type=float,
    help="Facility PUE for energy cost and CO2 (default: the profile's, else 1.0).",
)
@click.option(
    "--grid-gco2-per-kwh", type=float, help="Grid carbon intensity; CO2 is reported when given."
)
@click.option("--task", help="Cost at fixed performance: the task (e.g. mmlu_pro).")
@click.option(
    "--min-accuracy", type=float, help="Cost at fixed performance: threshold (0.83 or 83)."
)
@click.option("--metric", help="Metric for the threshold and the score column (default: acc).")
@click.option("--gpu-seconds", type=float, help="What-if: GPU-seconds of work.")
@click.option("--input-tokens", type=float, help="What-if: input tokens.")
@click.option("--output-tokens", type=float, help="What-if: output tokens.")
@click.option(
    "--price-as", help="Measured API runs: the catalog model to price them at (default: the run's)."
)
@click.option("--list-models", is_flag=True, help="List the API models and prices, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@pricing_options
def command(
    results: tuple[Path, ...],
    profile: str | None,
    profiles_dir: Path | None,
    pricing: tuple[str, ...],
    usd_per_hour: float | None,
    utilization: float | None,
    gpus: int | None,
    host_overhead_w: float | None,
    compare: tuple[str, ...],
    prices_file: Path | None,
    price_overrides: Path | None,
    token_ratio: float | None,
    api_tier: str | None,
    api_output_multiplier: float | None,
    samples: tuple[str, ...],
    gke_ratio: float,
    slo_attainment: float,
    usd_per_kwh: float | None,
    pue: float | None,
    grid_gco2_per_kwh: float | None,
    task: str | None,
    min_accuracy: float | None,
    metric: str | None,
    gpu_seconds: float | None,
    input_tokens: float | None,
    output_tokens: float | None,
    price_as: str | None,
    list_models: bool,
    as_json: bool,
) -> None:
    """Price bench/eval RESULTS (or what-if inputs) and compare them with API prices.

    Re-pricing on the hardware a result was measured on is exact; pricing it on other
    hardware (--profile) is a roofline estimate and is labelled so. Every option is priced
    at one utilization (--utilization, default 1: fully busy). A result whose GPU count is
    unknown needs --gpus N; a CPU run, or a model that does not fit, is not re-priced on
    other hardware."""
    if list_models:
        _print_models(as_json, prices_file, price_overrides)
        return
    options = CostOptions(
        profile=profile,
        profiles_dir=profiles_dir,
        pricing=_split_list(pricing) or None,
        usd_per_hour=usd_per_hour,
        utilization=utilization,
        gpus=gpus,
        host_overhead_w=host_overhead_w,
        compare=_split_list(compare) or DEFAULT_COMPARE,
        prices_file=prices_file,
        overrides_file=price_overrides,
        token_ratio=token_ratio,
        api_tiers=estimate_tiers(api_tier),
        api_output_multiplier=api_output_multiplier,
        samples=_samples(samples),
        gke_ratio=gke_ratio,
        slo_attainment=slo_attainment,
        usd_per_kwh=usd_per_kwh,
        pue=pue,
        grid_gco2_per_kwh=grid_gco2_per_kwh,
        task=task,
        min_accuracy=min_accuracy,
        metric=metric,
        gpu_seconds=gpu_seconds,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        price_as=price_as,
        api_run_tier=measured_tier(api_tier),
    )
    report = analyze(results, options)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
        return
    console = _console()
    _print_report(report, console)
    for cost in report.api_runs:
        _print_api_run(cost, console)


def _print_api_run(cost: MeasuredApiRun, console: Console) -> None:
    """A measured API run: per task, the score, the billed tokens and their price. Tasks
    the API could not run are listed under the table, never priced."""
    cols = ("score", "tokens in\n(cached)", "tokens out\n(reasoning)", "cost", "$/M tok")
    table = _table(
        f"Measured API run: {cost.model} priced as {cost.price_name} ({cost.tier} tier)",
        ("task", *cols),
        numeric=cols,
    )
    for t in cost.tasks:
        reasoning = "-" if t.reasoning_tokens is None else f"{t.reasoning_tokens:,}"
        table.add_row(
            t.task + (" (partial)" if t.partial else ""),
            "-" if t.score is None else f"{t.score:.4g}",
            f"{t.prompt_tokens:,}\n({t.cached_prompt_tokens:,})",
            f"{t.generated_tokens:,}\n({reasoning})",
            _usd(t.cost_usd),
            _usd(t.usd_per_m_tokens),
        )
    console.print(table)
    for t in cost.tasks:
        console.print(
            f"{t.task}: {t.metric or '-'} over {t.n_samples or '-'} documents, "
            f"{t.requests:,} requests, {t.retries:,} retries",
            highlight=False,
        )
    for name, why in cost.not_priced.items():
        console.print(f"{name}: not priced ({why})", highlight=False)
    console.print(
        f"total {_usd(cost.total_usd)} (overhead {_usd(cost.overhead_usd)}); prices $/M: "
        f"input {cost.usd_per_m_input:g}, cached input {cost.usd_per_m_cached_input:g}, "
        f"output {cost.usd_per_m_output:g}; {cost.price_key}: {cost.source}, as of "
        f"{cost.as_of or '-'}",
        highlight=False,
    )
    for text in cost.notes:
        console.print(f"note: {text}", highlight=False)
