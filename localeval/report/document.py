"""The report laid out as a document: titled sections holding paragraphs, one figure and
tables of formatted cells. The text, Markdown and HTML renderers each walk this one
structure, so the three show the same content; CSV and JSON are built from the
:class:`~localeval.report.model.Report` itself, unformatted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from localeval import __version__
from localeval.cost.pricing import option_label
from localeval.report.load import display_name
from localeval.report.model import EvalRow, Report, RunSummary, TaskView
from localeval.results.cost import API_PAIRS, STILL_RISING

#: Figure keys, in the order they appear, with their titles (also the images' alt text).
FIGURES: dict[str, str] = {
    "throughput_latency": "Throughput against latency (p50 and p99 TTFT and TPOT) per run",
    "cost_energy": "Self-hosted $ per million tokens and energy per token against load",
    "accuracy_cost": "Accuracy against cost per task, with the Pareto frontier",
    "breakeven": "Break-even: daily cost of self-hosting against the API",
}


@dataclass(frozen=True)
class Table:
    """Formatted cells; ``numeric`` marks the columns to align right."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str | None = None
    numeric: tuple[bool, ...] = ()

    def is_numeric(self, index: int) -> bool:
        return index < len(self.numeric) and self.numeric[index]


@dataclass(frozen=True)
class Section:
    title: str
    level: int = 2
    paragraphs: tuple[str, ...] = ()
    figure: str | None = None
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class Document:
    title: str
    intro: tuple[str, ...]
    warnings: tuple[str, ...]
    sections: tuple[Section, ...]
    notes: tuple[str, ...]

    def figure_keys(self) -> list[str]:
        return [s.figure for s in self.sections if s.figure is not None]


# --------------------------------------------------------------------------- formatting


def usd(value: float | None) -> str:
    """``$1,234``, ``$12.35``, ``$0.0415`` or ``-``."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) >= 1000:
        return f"${value:,.0f}"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.3g}"


def num(value: float | None, digits: int = 4) -> str:
    """``12,000``, ``250``, ``0.1481`` or ``-``."""
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def metric_label(metric: str | None) -> str:
    """lm-eval's ``acc,none`` as ``acc``, ``exact_match,strict-match`` as
    ``exact_match (strict-match)``."""
    if not metric:
        return "score"
    base, _, filt = metric.partition(",")
    return base if filt in ("", "none") else f"{base} ({filt})"


def refs(numbers: Iterable[int]) -> str:
    """Note numbers with runs collapsed: ``1, 4-7, 9``."""
    parts: list[str] = []
    run: list[int] = []
    for n in sorted(set(numbers)):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [n]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(parts)


def _table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool] = (),
    title: str | None = None,
) -> Table:
    return Table(tuple(columns), tuple(tuple(r) for r in rows), title, tuple(numeric))


def _slo(value: bool | None) -> str:
    return "-" if value is None else ("met" if value else "missed")


# --------------------------------------------------------------------------- sections


def _runs_section(report: Report) -> Section:
    runs = report.runs

    def row(name: str, values: Iterable[str]) -> tuple[str, ...]:
        return (name, *values)

    def priced(r: RunSummary) -> str:
        if r.priced_on is None:
            return "not priced"
        return f"{r.priced_on} ({r.price_basis})"

    rows = [
        row("file", (display_name(r.path) for r in runs)),
        row("kind", (r.kind for r in runs)),
        row("model", (r.provenance.model for r in runs)),
        row("hardware", (r.provenance.hardware for r in runs)),
        row("profile", (r.provenance.profile or "-" for r in runs)),
        row("priced on", (priced(r) for r in runs)),
        row("GPU driver", (r.provenance.driver_version or "-" for r in runs)),
        row("engine", (r.engine or "-" for r in runs)),
        row("engine args", (r.engine_args or "-" for r in runs)),
        row("workload", (r.workload or "-" for r in runs)),
        row("localeval", (r.provenance.localeval_version or "-" for r in runs)),
        row("lm-eval", (r.lm_eval_version or "-" for r in runs)),
        row("created", (r.created_at or "-" for r in runs)),
        row("status", (r.status or "-" for r in runs)),
        row("notes", (refs(r.notes) for r in runs)),
    ]
    rows = [r for r in rows if any(cell != "-" and cell != "" for cell in r[1:])]
    columns = ("", *(f"{r.label} ({r.kind})" for r in runs))
    paths = ", ".join(f"`{r.path}`" for r in runs)
    return Section(
        "Runs and provenance",
        paragraphs=(f"Result files: {paths}.",),
        tables=(_table(columns, rows),),
    )


def _prices_section(report: Report) -> Section | None:
    tables = []
    if report.prices:
        tables.append(
            _table(
                ("profile", "option", "$/GPU-h", "utilization", "how", "source", "as of", "notes"),
                (
                    (
                        p.price.profile or "custom",
                        option_label(p.price.option),
                        usd(p.price.usd_per_gpu_hour),
                        p.price.utilization_basis,
                        p.price.formula(),
                        p.price.source,
                        p.price.as_of or "-",
                        refs(p.notes),
                    )
                    for p in report.prices
                ),
                (False, False, True),
                title="Self-hosted: price of one GPU-hour of use",
            )
        )
    if report.api_prices:
        tables.append(
            _table(
                ("API model", "price key", "$/M in", "$/M out", "$/M blended 3:1", "as of"),
                (
                    (
                        a.name,
                        a.key,
                        num(a.input_usd_per_m),
                        num(a.output_usd_per_m),
                        num(a.blended_usd_per_m),
                        a.as_of or "-",
                    )
                    for a in report.api_prices
                ),
                (False, False, True, True, True),
                title="API list prices (USD per million tokens)",
            )
        )
    if not tables:
        return None
    paragraphs = []
    if report.catalog_source:
        paragraphs.append(f"API prices: {report.catalog_source}.")
    return Section("Prices", paragraphs=tuple(paragraphs), tables=tuple(tables))


def _bench_sections(report: Report, plots: bool) -> list[Section]:
    rows = report.bench
    if not rows:
        return []
    curve = _table(
        (
            "run",
            "load",
            "SLO",
            "done / failed",
            "req/s",
            "out tok/s",
            "TTFT p50 ms",
            "TTFT p99 ms",
            "TPOT p50 ms",
            "TPOT p99 ms",
            "J / out tok",
            "kWh / M tok",
            "notes",
        ),
        (
            (
                b.run,
                b.point.label + (" (client-bound)" if b.point.client.client_bound else ""),
                _slo(b.slo_met),
                f"{b.point.completed:,} / {b.point.failed:,}",
                num(b.point.request_throughput_rps),
                num(b.point.output_tok_per_s),
                num(b.point.ttft_ms.p50),
                num(b.point.ttft_ms.p99),
                num(b.point.tpot_ms.p50),
                num(b.point.tpot_ms.p99),
                num(b.point.energy_per_output_token_j),
                num(b.kwh_per_m_tokens),
                refs(b.notes),
            )
            for b in rows
        ),
        (False, False, False, True, True, True, True, True, True, True, True, True),
    )
    first = Section(
        "Serving benchmark: throughput and latency",
        paragraphs=(
            "Each load point: output tokens per second against time to first token (TTFT) "
            "and time per output token (TPOT), median and 99th percentile. Energy is the "
            "measured GPU energy per output token, and per million tokens of both kinds.",
        ),
        figure="throughput_latency" if plots else None,
        tables=(curve,),
    )
    priced = [b for b in rows if b.prices]
    sections = [first]
    if priced:
        cost = _table(
            (
                "run",
                "load",
                "option",
                "$/M in",
                "$/M out",
                "$/M blended 3:1",
                "$/M out, all-in",
            ),
            (
                (
                    b.run + (" ESTIMATE" if b.estimate else ""),
                    b.point.label,
                    option_label(o.option),
                    usd(o.prices.usd_per_m_input if o.prices else None),
                    usd(o.prices.usd_per_m_output if o.prices else None),
                    usd(o.prices.usd_per_m_blended_3_1 if o.prices else None),
                    usd(o.prices.usd_per_m_output_all_in if o.prices else None),
                )
                for b in priced
                for o in b.prices
            ),
            (False, False, False, True, True, True, True),
        )
        sections.append(
            Section(
                "Serving cost: $ per million tokens",
                paragraphs=(
                    "The deployment's cost per second divided among the tokens it served at "
                    "each load point (input and output priced apart; see the notes for the "
                    "split). Blended 3:1 is (3 x input + output) / 4, comparable with the "
                    "APIs' blended list prices; all-in charges the whole cost to output "
                    "tokens.",
                ),
                figure="cost_energy" if plots else None,
                tables=(cost,),
            )
        )
    if report.roofline:
        sections.append(
            Section(
                "Measured throughput against the roofline bound",
                level=3,
                paragraphs=("The bound is an estimate from public specs, not a measurement.",),
                tables=(
                    _table(
                        (
                            "run",
                            "concurrency",
                            "measured out tok/s",
                            "bound out tok/s",
                            "% of bound",
                            "bound by",
                        ),
                        (
                            (
                                r.run,
                                str(r.concurrency),
                                num(r.measured_output_tok_per_s),
                                num(r.bound_output_tok_per_s),
                                f"{r.pct_of_bound:.1f}%",
                                r.bound,
                            )
                            for r in report.roofline
                        ),
                        (False, True, True, True, True),
                    ),
                ),
            )
        )
    return sections


def _eval_section(report: Report) -> list[Section]:
    rows = [r for r in report.eval if not r.is_api]
    sections = _side_by_side_section(report)
    if not rows:
        return sections
    opt = report.primary_option
    label = option_label(opt) if opt else "-"
    apis = report.api_models

    def own(row: EvalRow) -> tuple[str, str, str]:
        c = row.cost(opt) or (row.self_hosted[0] if row.self_hosted else None)
        if c is None:
            return "-", "-", "-"
        suffix = "" if c.option == opt else f" ({option_label(c.option)})"
        return (
            usd(c.as_run_usd) + suffix,
            usd(c.slo_point_usd) + suffix,
            usd(c.saturation_usd) + suffix,
        )

    def score(row: EvalRow) -> str:
        if row.score is None:
            return "-"
        text = f"{metric_label(row.metric)} {row.score:.4g}"
        return text + (f" ± {row.stderr:.2g}" if row.stderr is not None else "")

    tiers = report.options.api_tiers

    def api_cell(row: EvalRow, model: str) -> str:
        cells = []
        for tier in tiers:
            a = row.api_cost(model, tier)
            cells.append(usd(a.cost_usd) if a else "n/a")
        return " / ".join(cells)

    def per_correct(row: EvalRow) -> str:
        c = row.cost(opt) or (row.self_hosted[0] if row.self_hosted else None)
        if c is None or c.as_run_usd_per_correct is None:
            return "-"
        return " / ".join(
            usd(v) if v is not None else "-"
            for v in (
                c.as_run_usd_per_correct,
                c.slo_point_usd_per_correct,
                c.saturation_usd_per_correct,
            )
        )

    main = _table(
        (
            "run",
            "task",
            "score ± stderr",
            "requests",
            "tokens in / out",
            "GPU-s",
            "self-hosted as run",
            "self-hosted at the SLO point",
            "self-hosted at saturation",
            "$ per correct answer (as run / SLO point / saturation)",
            *(f"{m} API {' / '.join(tiers)} (ESTIMATE)" for m in apis),
            "notes",
        ),
        (
            (
                r.run + (" ESTIMATE" if r.estimate else ""),
                r.name,
                score(r),
                f"{r.task.requests:,}",
                f"{r.task.prompt_tokens:,} / {r.task.generated_tokens:,}",
                num(r.task.gpu_seconds if r.task.gpu_seconds else r.task.wall_s),
                *own(r),
                per_correct(r),
                *(api_cell(r, m) for m in apis),
                refs(r.notes),
            )
            for r in rows
        ),
        (False, False, True, True, True, True, True, True, True, True, *(True for _ in apis)),
    )
    tables = [main]
    if any(len(r.self_hosted) > 1 for r in rows):
        tables.append(
            _table(
                ("run", "task", "option", "as run", "at the SLO point", "at saturation"),
                (
                    (
                        r.run,
                        r.name,
                        option_label(c.option),
                        usd(c.as_run_usd),
                        usd(c.slo_point_usd),
                        usd(c.saturation_usd),
                    )
                    for r in rows
                    for c in r.self_hosted
                ),
                (False, False, False, True, True, True),
                title="Self-hosted cost of each task under every price option",
            )
        )
    return [
        Section(
            "Evaluation: accuracy, tokens and cost per task",
            paragraphs=(
                f"Self-hosted columns use the {label} price. "
                "Self-hosted cost as run is the run's GPU-seconds at the hourly price; at the "
                "SLO point it is the task's tokens at the bench run's $/token at its highest "
                "throughput meeting the SLO; at saturation, at the best point measured, "
                "whatever its latency. Cost per correct answer is that cost divided by "
                "accuracy x documents. API columns are ESTIMATES: the same token counts at "
                "each API's prices, in each tier shown; accuracy on the APIs is not measured "
                "here (a measured API run says what it billed). Pairs compared: "
                + "; ".join(
                    f"the API {tier} tier beside {API_PAIRS[tier]}"
                    for tier in report.options.api_tiers
                )
                + ". n/a: not priced, the notes say why (a task the API cannot run, a "
                "reasoning model whose hidden tokens are unknown, a tier not listed).",
            ),
            tables=tuple(tables),
        ),
        *sections,
    ]


def _side_by_side_section(report: Report) -> list[Section]:
    """Each task that a closed API was measured on, with the self-hosted runs of the same
    task: accuracy and cost measured on both sides."""
    measured = [r for r in report.eval if r.is_api]
    tasks = list(dict.fromkeys(r.name for r in measured))
    if not tasks:
        return []
    opt = report.primary_option
    basis = {row.price.option: row.price.utilization_basis for row in report.prices}
    table_rows = []
    for task in tasks:
        for r in (x for x in report.eval if x.name == task):
            score = "-" if r.score is None else f"{metric_label(r.metric)} {r.score:.4g}"
            if r.measured_api is not None and r.measured_api_run is not None:
                m, run = r.measured_api, r.measured_api_run
                table_rows.append(
                    (
                        task,
                        r.run,
                        f"closed API, measured ({run.tier} tier)",
                        score,
                        f"{m.prompt_tokens:,} ({m.cached_prompt_tokens:,} cached) / "
                        f"{m.generated_tokens:,}"
                        + (
                            f" ({m.reasoning_tokens:,} reasoning)"
                            if m.reasoning_tokens is not None
                            else ""
                        ),
                        usd(m.cost_usd) + " billed",
                        usd(m.usd_per_correct),
                        refs(r.notes),
                    )
                )
                continue
            c = r.cost(opt) or (r.self_hosted[0] if r.self_hosted else None)
            if c is None:
                continue
            table_rows.append(
                (
                    task,
                    r.run + (" ESTIMATE" if r.estimate else ""),
                    f"self-hosted, {option_label(c.option)}"
                    + (f", {basis[c.option]}" if c.option in basis else ""),
                    score,
                    f"{r.task.prompt_tokens:,} / {r.task.generated_tokens:,}",
                    f"{usd(c.as_run_usd)} / {usd(c.slo_point_usd)} / {usd(c.saturation_usd)}",
                    " / ".join(
                        usd(v) if v is not None else "-"
                        for v in (
                            c.as_run_usd_per_correct,
                            c.slo_point_usd_per_correct,
                            c.saturation_usd_per_correct,
                        )
                    ),
                    refs(r.notes),
                )
            )
    table = _table(
        (
            "task",
            "run",
            "measured on",
            "score",
            "tokens in / out",
            "cost (API: billed; self-hosted: as run / SLO point / saturation)",
            "$ per correct answer",
            "notes",
        ),
        table_rows,
        (False, False, False, True, True, True, True),
    )
    return [
        Section(
            "Measured side by side: closed APIs and self-hosted runs of the same task",
            paragraphs=(
                "Both sides measured with the same harness, task configuration, limit and "
                "few-shot: the API's score and billed usage (cached and reasoning tokens "
                "included) at its catalog prices in the tier shown, beside each self-hosted "
                "run's score and cost. Nothing in this table is an estimate unless marked.",
            ),
            tables=(table,),
        )
    ]


def _view_table(view: TaskView) -> Table:
    threshold = view.threshold
    columns = ["candidate", "kind", "score", "cost", "on frontier"]
    if threshold is not None:
        columns.append(f"reaches {threshold:.0%}")
    rows = []
    for p in view.points:
        if p.score is None:
            score = "not measured"
        else:
            score = (">= " if p.score_is_lower_bound else "") + f"{p.score:.4g}"
        row = [p.label, p.kind, score, usd(p.cost_usd), "yes" if p.on_frontier else ""]
        if threshold is not None:
            row.append("-" if p.meets_threshold is None else ("yes" if p.meets_threshold else "no"))
        rows.append(row)
    return _table(columns, rows, (False, False, True, True))


def _fixed_sections(report: Report, plots: bool) -> list[Section]:
    views = report.fixed_performance
    if not views:
        return []
    sections = [
        Section(
            "Cost at fixed performance",
            paragraphs=(
                "Accuracy against the cost of running each task once. A point is on the "
                "Pareto frontier when no other point is as cheap and at least as accurate. "
                "Published points are the cost of one full run of the benchmark as "
                "published (their score a lower bound where only a threshold is reported); "
                "'api' points are ESTIMATES that price this run's tokens at an API's prices "
                "(their accuracy is not measured); 'api measured' points are closed APIs "
                "evaluated on the same task, at what they billed, with their own accuracy. "
                "This is the headline chart of Chris Hayduk's essay \"Open Source LLMs Are "
                'Eating the World" (https://www.chrishayduk.com/p/open-source-llms-are-'
                "eating-the-world): the cost to reach an accuracy on a task; "
                "`localeval report --min-accuracy X` and `localeval cost --task T "
                "--min-accuracy X` set the threshold.",
            ),
            figure="accuracy_cost" if plots else None,
        )
    ]
    for view in views:
        paragraphs = []
        metric = f" ({metric_label(view.metric)})" if view.metric else ""
        if view.threshold is not None:
            best = view.cheapest_meeting
            if best is not None:
                paragraphs.append(
                    f"Cheapest to reach {view.threshold:.0%}: {best.label} at {usd(best.cost_usd)}."
                )
            else:
                paragraphs.append(f"Nothing here reaches {view.threshold:.0%}.")
        published = {p.basis for p in view.points if p.kind == "published" and p.basis}
        requests = sorted(
            {r.task.requests for r in report.eval if r.name == view.task and r.task.requests}
        )
        if published and requests:
            paragraphs.append(
                f"Self-hosted points cost this run's {', '.join(f'{n:,}' for n in requests)} "
                f"requests; published points cost {', '.join(sorted(published))}."
            )
        sections.append(
            Section(
                f"{view.task}{metric}",
                level=3,
                paragraphs=tuple(paragraphs),
                tables=(_view_table(view),),
            )
        )
    return sections


def _breakeven_section(report: Report, plots: bool) -> list[Section]:
    lines = report.breakeven
    if not lines:
        return []

    def volume(tokens: float | None) -> str:
        return "never" if tokens is None else num(tokens)

    def util(b_util: float | None, reachable: bool) -> str:
        if b_util is None:
            return "-"
        return pct(b_util) + ("" if reachable else " (beyond capacity)")

    table = _table(
        (
            "run",
            "option",
            "API model",
            "capacity tok/s",
            "$/day fixed",
            "API $/M (mix)",
            "break-even tok/day",
            "utilization needed",
            "notes",
        ),
        (
            (
                b.run,
                option_label(b.row.option),
                b.row.api_model,
                num(b.row.capacity_tok_per_s),
                usd(b.row.result.fixed_usd_per_day),
                usd(b.row.result.api_usd_per_token * 1e6),
                volume(b.row.result.tokens_per_day),
                util(b.row.result.utilization_needed, b.row.result.reachable),
                refs(b.notes),
            )
            for b in lines
        ),
        (False, False, False, True, True, True, True, True),
    )
    tables = [table]
    if report.saturation:
        tables.insert(
            0,
            _table(
                ("run", "point", "out tok/s", "capacity tok/s", "last point gain", "verdict"),
                (
                    (
                        s.run,
                        s.point.point,
                        num(s.point.output_tok_per_s),
                        num(s.point.capacity_tok_per_s),
                        "-" if s.point.last_gain is None else f"{s.point.last_gain:+.1%}",
                        STILL_RISING if s.point.still_rising else "saturated",
                    )
                    for s in report.saturation
                ),
                (False, False, True, True, True),
                title="Saturation: the best point measured",
            ),
        )
    if report.task_breakeven:
        tables.append(
            _table(
                (
                    "task",
                    "option",
                    "API model",
                    "input share",
                    "capacity tok/s",
                    "API $/M (mix)",
                    "break-even tok/day",
                    "utilization needed",
                    "notes",
                ),
                (
                    (
                        b.run,
                        option_label(b.row.option),
                        b.row.api_model,
                        pct(b.row.input_share),
                        num(b.row.capacity_tok_per_s),
                        usd(b.row.result.api_usd_per_token * 1e6),
                        volume(b.row.result.tokens_per_day),
                        util(b.row.result.utilization_needed, b.row.result.reachable),
                        refs(b.notes),
                    )
                    for b in report.task_breakeven
                ),
                (False, False, False, True, True, True, True, True),
                title="Break-even of each task at its own input:output mix",
            )
        )
    return [
        Section(
            "Break-even against the APIs",
            paragraphs=(
                "Self-hosting costs a fixed amount per day (the rent, or the amortized "
                "purchase) plus electricity per token for owned GPUs; an API costs its price "
                "per token for the measured input/output mix. Above the break-even volume "
                "self-hosting is cheaper; the utilization column is the share of the "
                "deployment's measured capacity that volume needs. Capacity is the "
                "saturation point, the best point measured: a sweep still gaining more than "
                "10% at its last point had not saturated the server (throughput still "
                "rising), and understates it.",
            ),
            figure="breakeven" if plots else None,
            tables=tuple(tables),
        )
    ]


def _holds_section(report: Report) -> list[Section]:
    if not report.server_holds:
        return []
    rows = []
    for line in report.server_holds:
        h = line.hold
        for o in h.by_option:
            rows.append(
                (
                    h.recipe,
                    option_label(o.option),
                    num(h.held_s),
                    num(h.ready_after_s),
                    num(h.measured_s),
                    num(h.idle_s),
                    usd(o.as_run_usd),
                    usd(o.hold_usd),
                    refs(line.notes),
                )
            )
    table = _table(
        (
            "recipe",
            "option",
            "held s",
            "start + load s",
            "measured s",
            "idle s",
            "as run",
            "server hold",
            "notes",
        ),
        rows,
        (False, False, True, True, True, True, True, True),
        title="As run, and the whole time the server held the GPUs",
    )
    return [
        Section(
            "Server hold time",
            paragraphs=(
                '"As run" prices the time the measurements took. The server held its GPUs '
                "longer: while it started and loaded the model, and idle between stages. A "
                "one-off run on a rental pays for all of it.",
            ),
            tables=(table,),
        )
    ]


def build_document(report: Report, *, plots: bool = True) -> Document:
    """The report as a :class:`Document`; with ``plots`` False no section names a figure."""
    kinds = [r.kind for r in report.runs]
    intro = [
        f"Generated by localeval {__version__} from {len(kinds)} result file(s): "
        f"{kinds.count('bench')} bench, {kinds.count('eval')} eval. It reads result files "
        "only; every price carries its source and date."
    ]
    if report.primary_option:
        intro.append(f"Figures plot the {option_label(report.primary_option)} price.")
    if any(r.price_basis and r.price_basis.startswith("ESTIMATE") for r in report.runs):
        intro.append(
            "Rows marked ESTIMATE were priced on hardware other than the one they were "
            "measured on (roofline scaling)."
        )
    sections: list[Section] = [_runs_section(report)]
    prices = _prices_section(report)
    if prices is not None:
        sections.append(prices)
    sections += _bench_sections(report, plots)
    sections += _eval_section(report)
    sections += _fixed_sections(report, plots)
    sections += _holds_section(report)
    sections += _breakeven_section(report, plots)
    return Document(
        title="localeval report",
        intro=tuple(intro),
        warnings=report.warnings,
        sections=tuple(sections),
        notes=report.notes,
    )
