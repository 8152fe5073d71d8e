"""``localeval plan``: size a deployment from a model's config.json and a hardware profile
(fit, roofline, fleet and cost), or set a bench run beside its roofline bounds."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import click
from pydantic import ValidationError

from localeval.cli._gpus import GpuCount
from localeval.errors import ConfigError
from localeval.paths import ENV_PROFILES_DIR
from localeval.plan.model_facts import SHIPPED_MODELS
from localeval.plan.planner import PlanRequest, report_to_dict, run_plan
from localeval.plan.render import render_plan
from localeval.yamlio import validation_problems

SLO_KEYS = ("tpot_ms", "ttft_ms", "e2e_ms", "itl_ms")


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def parse_slo(values: Iterable[str]) -> dict[str, float]:
    """``tpot_ms=50,ttft_ms=2000`` (repeatable) as a dict; ``itl_ms`` counts as ``tpot_ms``."""
    slo: dict[str, float] = {}
    for item in _split(values):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in SLO_KEYS:
            raise click.BadParameter(
                f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(SLO_KEYS)}",
                param_hint="--slo",
            )
        try:
            value = float(raw)
        except ValueError as exc:
            raise click.BadParameter(
                f"{item!r}: {raw!r} is not a number", param_hint="--slo"
            ) from exc
        slo["tpot_ms" if key == "itl_ms" else key] = value
    return slo


def _tensor_parallel(tensor_parallel: int | None, gpus: int | None) -> int | None:
    """The GPUs per replica from ``--tensor-parallel``/``--tp`` or ``--gpus``: one number, so
    both given must agree."""
    if tensor_parallel is not None and gpus is not None and tensor_parallel != gpus:
        raise click.UsageError(
            f"--tensor-parallel {tensor_parallel} and --gpus {gpus} disagree: a replica's "
            "GPUs are its tensor-parallel size here; give one of them"
        )
    return tensor_parallel if tensor_parallel is not None else gpus


_SHIPPED = ", ".join(m.alias for m in SHIPPED_MODELS)

# The plan's bound on GPUs per replica (PlanRequest.tensor_parallel): checked while parsing,
# so --help shows the range and the error names the flag the user typed.
MAX_GPUS_PER_REPLICA = 1024


class _ReplicaGpus(GpuCount):
    """``--gpus``: a count of GPUs per replica, 1 to :data:`MAX_GPUS_PER_REPLICA`."""

    def __init__(self) -> None:
        super().__init__(min=1, uuids_option=None, counts="the GPUs of one replica")
        self.max = MAX_GPUS_PER_REPLICA


@click.command("plan")
@click.option(
    "--model",
    "model",
    metavar="NAME|DIR",
    help=f"Shipped architecture ({_SHIPPED}), its Hugging Face id, a local model directory "
    "(or config.json), or another Hugging Face id (fetched when the hub is reachable).",
)
@click.option("--profile", metavar="NAME", help="Hardware profile (see `localeval hw list`).")
@click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=ENV_PROFILES_DIR,
    default=None,
    help="Folder of your own hardware profiles.",
)
@click.option(
    "--tensor-parallel",
    "--tp",
    "tensor_parallel",
    type=click.IntRange(1, MAX_GPUS_PER_REPLICA),
    metavar="N",
    help="GPUs per replica (vLLM's tensor_parallel_size); default: the bench run's with "
    "--compare, else the fewest that fit.",
)
@click.option(
    "--gpus",
    type=_ReplicaGpus(),
    metavar="N",
    help="How many GPUs one replica uses: the same number as --tensor-parallel (the plan "
    "models tensor parallelism only).",
)
@click.option(
    "--dtype",
    metavar="bf16|fp8|int4",
    help="Weight precision (also fp16, int8, awq, gptq); default: the checkpoint's.",
)
@click.option("--kv-dtype", default="auto", show_default=True, metavar="auto|bf16|fp8",
              help="KV-cache precision (auto = bf16).")  # fmt: skip
@click.option("--context", "context_tokens", type=click.IntRange(min=1),
              help="Context length (vLLM max_model_len); default: the model's maximum.")  # fmt: skip
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True),
              default=0.9, show_default=True)  # fmt: skip
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=256, show_default=True,
              help="vLLM's cap on concurrent sequences per replica.")  # fmt: skip
@click.option("--input-tokens", type=click.IntRange(min=1),
              help="Prompt tokens per request (default 1024).")  # fmt: skip
@click.option("--output-tokens", type=click.IntRange(min=1),
              help="Output tokens per request (default 256).")  # fmt: skip
@click.option("--requests-per-day", type=click.FloatRange(min=0, min_open=True),
              help="Fleet sizing: target requests per day.")  # fmt: skip
@click.option("--tokens-per-day", type=click.FloatRange(min=0, min_open=True),
              help="Fleet sizing: target input + output tokens per day.")  # fmt: skip
@click.option("--peak-factor", type=click.FloatRange(1, 100), default=1.0, show_default=True,
              help="Size for this multiple of the daily average rate.")  # fmt: skip
@click.option("--slo", "slo", multiple=True, metavar="KEY=VALUE",
              help="Latency objective, e.g. tpot_ms=50,ttft_ms=2000 (also e2e_ms).")  # fmt: skip
@click.option("--pricing", multiple=True, metavar="OPTIONS",
              help="Pricing options to cost (default: every option the profile has).")  # fmt: skip
@click.option(
    "--compare",
    "compare_run",
    type=click.Path(path_type=Path),
    metavar="RUN_DIR",
    help="A bench run directory or result file: measured throughput as % of the roofline.",
)
@click.option("--compare-api", multiple=True, metavar="MODELS",
              help="API models (comma-separated) to price the same monthly volume on.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with a boolean `fits`).")
def command(
    model: str | None,
    profile: str | None,
    profiles_dir: Path | None,
    tensor_parallel: int | None,
    gpus: int | None,
    dtype: str | None,
    kv_dtype: str,
    context_tokens: int | None,
    gpu_memory_utilization: float,
    max_num_seqs: int,
    input_tokens: int | None,
    output_tokens: int | None,
    requests_per_day: float | None,
    tokens_per_day: float | None,
    peak_factor: float,
    slo: tuple[str, ...],
    pricing: tuple[str, ...],
    compare_run: Path | None,
    compare_api: tuple[str, ...],
    as_json: bool,
) -> None:
    """Size a deployment from a model's config.json and a hardware profile.

    Shows parameters, weight and KV-cache bytes, whether the model fits, roofline decode and
    prefill throughput, and with --requests-per-day/--tokens-per-day the GPUs, replicas and
    $/month for each pricing option (and --compare-api the API cost of the same volume).
    Every figure is an estimate, printed with its formula. With --compare RUN_DIR, a bench
    run's measured throughput is shown as a percentage of its roofline bound.
    """
    if compare_run is None and (model is None or profile is None):
        raise click.UsageError("--model and --profile are required (unless --compare is given)")
    tp = _tensor_parallel(tensor_parallel, gpus)
    slo_ms = parse_slo(slo)
    try:
        request = PlanRequest(
            model=model,
            profile=profile,
            profiles_dir=profiles_dir,
            tensor_parallel=tp,
            dtype=dtype,
            kv_dtype=kv_dtype,
            context_tokens=context_tokens,
            gpu_memory_utilization=gpu_memory_utilization,
            max_num_seqs=max_num_seqs,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            requests_per_day=requests_per_day,
            tokens_per_day=tokens_per_day,
            peak_factor=peak_factor,
            tpot_ms=slo_ms.get("tpot_ms"),
            ttft_ms=slo_ms.get("ttft_ms"),
            e2e_ms=slo_ms.get("e2e_ms"),
            pricing=_split(pricing) or None,
            compare_run=compare_run,
            compare_api=_split(compare_api),
        )
    except ValidationError as exc:
        raise ConfigError(
            "invalid plan options", problems=validation_problems("options", exc)
        ) from exc
    report = run_plan(request)
    if as_json:
        click.echo(json.dumps(report_to_dict(report), indent=2))
    else:
        click.echo(render_plan(report))
