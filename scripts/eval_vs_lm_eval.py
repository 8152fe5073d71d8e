"""`localeval eval` against a plain `lm_eval run` with the same settings, on the same server.

Three arms run as commands from scratch (imports, task index, evaluation, files),
alternately, ``--rounds`` times each, against one vLLM server: ``lm_eval run`` (which
indexes all of lm-eval's ~15,000 task files first), lm-eval's Python API indexing only the
include path (as localeval does for local tasks), and ``localeval eval --endpoint``. The
server is the project's tiny model on the CPU build, started here from the ``tiny-cpu``
recipe (or ``--endpoint`` for one already running). The settings are the same: local-completions for both tasks, the model folder's tokenizer,
``max_length`` = the server's context length, ``num_concurrent``, lm-eval's default seeds,
every document. localeval starts each round with an empty response cache.

Reported: the scores of all three (they must be equal), the prompt tokens localeval reports
against the server's counters over its run (minus its one preflight request) and against
the counters over the lm_eval run (the same requests), and the median wall times.

    .venv/bin/python scripts/eval_vs_lm_eval.py [--rounds 3] [--endpoint URL] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

TASKS = ["localeval_sums_mc", "localeval_sums_gen"]
METRICS = {"localeval_sums_mc": ["acc", "acc_norm"], "localeval_sums_gen": ["exact_match"]}


def counters(base_url: str) -> dict[str, float]:
    """The server's prompt-token and request counters (summed over label sets)."""
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    wanted = {"vllm:prompt_tokens_total", "vllm:request_success_total"}
    out = dict.fromkeys(wanted, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                out[sample.name] += sample.value
    return out


def child_api(spec_json: str) -> None:
    """The plain-lm-eval arm through its Python API with the same task index as localeval
    (the include path only): simple_evaluate, then lm-eval's own tracker writes the results
    and the sample log, as its command does."""
    spec = json.loads(spec_json)
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    tracker = EvaluationTracker(output_path=spec["out"])
    manager = TaskManager(include_path=spec["include"], include_defaults=False)
    results = simple_evaluate(
        model="local-completions",
        model_args=spec["model_args"],
        tasks=TASKS,
        task_manager=manager,
        log_samples=True,
        evaluation_tracker=tracker,
    )
    assert results is not None
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])


def timed(argv: list[str], env: dict[str, str], log: Path) -> float:
    """Run a command to completion; returns its wall time in seconds (raises if it fails)."""
    started = time.perf_counter()
    with open(log, "w") as fh:
        code = subprocess.call(argv, stdout=fh, stderr=subprocess.STDOUT, env=env)
    wall_s = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{argv[0:4]} failed with code {code}; see {log}")
    return wall_s


def lm_eval_scores(out_dir: Path) -> dict[str, dict[str, float]]:
    files = sorted(out_dir.rglob("results_*.json"))
    data = json.loads(files[-1].read_text())
    return {task: {m: data["results"][task][f"{m},none"] for m in METRICS[task]} for task in TASKS}


@contextlib.contextmanager
def server(endpoint: str | None, work: Path) -> Iterator[tuple[str, str, str]]:
    """(base URL, served model name, model folder) of the server to measure."""
    if endpoint:
        models = httpx.get(f"{endpoint.rstrip('/')}/v1/models", timeout=30).json()["data"]
        yield endpoint.rstrip("/"), models[0]["id"], models[0]["root"]
        return
    from localeval.recipes import load_recipe
    from localeval.server.lifecycle import launch_server

    print("starting the vLLM CPU server for tiny-cpu ...", file=sys.stderr)
    with launch_server(load_recipe("tiny-cpu"), run_dir=work / "server") as srv:
        print(f"ready after {srv.ready_after_s} s", file=sys.stderr)
        yield srv.base_url, srv.served_model_name, srv.model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", help="a running vLLM server (default: start tiny-cpu)")
    parser.add_argument("--num-concurrent", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child-api", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_api:
        child_api(args.child_api)
        return

    from localeval.evaluation.preflight import PREFLIGHT_TEXT
    from localeval.tasks import local_tasks_dir

    work = Path(tempfile.mkdtemp(prefix="eval-vs-lm-eval-"))
    include = str(local_tasks_dir())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    bin_dir = Path(sys.executable).parent
    rows: list[dict[str, Any]] = []
    with server(args.endpoint, work) as (base_url, model, model_dir):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        preflight_tokens = len(tok(PREFLIGHT_TEXT, add_special_tokens=False)["input_ids"])
        max_len = httpx.get(f"{base_url}/v1/models", timeout=30).json()["data"][0]["max_model_len"]
        for n in range(args.rounds):
            # plain lm_eval
            out = work / f"lm_eval-{n}"
            model_args = (
                f"base_url={base_url}/v1/completions,model={model},tokenizer={model_dir},"
                f"tokenizer_backend=huggingface,num_concurrent={args.num_concurrent},"
                f"max_length={max_len}"
            )
            argv = [
                str(bin_dir / "lm_eval"), "run", "--model", "local-completions",
                "--model_args", model_args, "--tasks", ",".join(TASKS),
                "--include_path", include, "--log_samples", "--output_path", str(out),
            ]  # fmt: skip
            c0 = counters(base_url)
            lm_wall = timed(argv, env, work / f"lm_eval-{n}.log")
            c1 = counters(base_url)
            lm = {
                "wall_s": lm_wall,
                "scores": lm_eval_scores(out),
                "server_prompt_tokens": c1["vllm:prompt_tokens_total"]
                - c0["vllm:prompt_tokens_total"],
                "server_requests": c1["vllm:request_success_total"]
                - c0["vllm:request_success_total"],
            }
            # plain lm-eval through its Python API, indexing only the include path
            out = work / f"lm_eval_api-{n}"
            spec = {"model_args": model_args, "include": include, "out": str(out)}
            argv = [sys.executable, __file__, "--child-api", json.dumps(spec)]
            c0 = counters(base_url)
            api_wall = timed(argv, env, work / f"lm_eval_api-{n}.log")
            c1 = counters(base_url)
            api = {
                "wall_s": api_wall,
                "scores": lm_eval_scores(out),
                "server_prompt_tokens": c1["vllm:prompt_tokens_total"]
                - c0["vllm:prompt_tokens_total"],
            }
            # localeval, with an empty response cache
            out = work / f"localeval-{n}"
            argv = [
                str(bin_dir / "localeval"), "eval", "--endpoint", base_url, "--model", model,
                "--tasks", ",".join(TASKS), "--gen-api", "completions",
                "--num-concurrent", str(args.num_concurrent), "--output", str(out), "--json",
                "--cache-dir", str(work / f"cache-{n}"),
            ]  # fmt: skip
            c0 = counters(base_url)
            le_wall = timed(argv, env, work / f"localeval-{n}.log")
            c1 = counters(base_url)
            result = json.loads((out / "result.json").read_text())
            tasks = result["tasks"]
            le = {
                "wall_s": le_wall,
                "tasks_wall_s": sum(t["wall_s"] for t in tasks.values()),
                "timings": result["timings"],
                "scores": {
                    task: {m: tasks[task]["metrics"][m] for m in METRICS[task]} for task in TASKS
                },
                "prompt_tokens": {task: tasks[task]["prompt_tokens"] for task in TASKS},
                "server_prompt_tokens": c1["vllm:prompt_tokens_total"]
                - c0["vllm:prompt_tokens_total"]
                - preflight_tokens,
                "server_requests": c1["vllm:request_success_total"]
                - c0["vllm:request_success_total"]
                - 1,
                "samples_match": {
                    task: tasks[task]["check"]["prompt_tokens_match"] for task in TASKS
                },
            }
            rows.append({"round": n, "lm_eval": lm, "lm_eval_api": api, "localeval": le})
            print(
                f"round {n}: lm_eval {lm_wall:.1f} s, lm_eval API {api_wall:.1f} s, "
                f"localeval {le_wall:.1f} s (tasks {le['tasks_wall_s']:.1f} s)",
                file=sys.stderr,
            )
    lm_med = statistics.median(r["lm_eval"]["wall_s"] for r in rows)
    api_med = statistics.median(r["lm_eval_api"]["wall_s"] for r in rows)
    le_med = statistics.median(r["localeval"]["wall_s"] for r in rows)
    summary = {
        "rounds": rows,
        "lm_eval_median_wall_s": round(lm_med, 2),
        "lm_eval_api_median_wall_s": round(api_med, 2),
        "localeval_median_wall_s": round(le_med, 2),
        "wall_ratio_vs_lm_eval": round(le_med / lm_med, 3),
        "wall_ratio_vs_lm_eval_api": round(le_med / api_med, 3),
        "scores_equal": all(
            r["lm_eval"]["scores"] == r["localeval"]["scores"] == r["lm_eval_api"]["scores"]
            for r in rows
        ),
        "prompt_tokens_equal_counters": all(
            sum(r["localeval"]["prompt_tokens"].values()) == r["localeval"]["server_prompt_tokens"]
            for r in rows
        ),
        "prompt_tokens_equal_lm_eval_run": all(
            sum(r["localeval"]["prompt_tokens"].values()) == r["lm_eval"]["server_prompt_tokens"]
            for r in rows
        ),
        "work_dir": str(work),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
