"""`localeval serve`: start vLLM's OpenAI-compatible server for a recipe and keep it up
until Ctrl-C (or, with --check, send one request and stop)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import httpx
from rich.console import Console

from localeval.cli._server import served
from localeval.errors import ServerError
from localeval.paths import new_run_dir
from localeval.recipes import load_recipe

CHECK_PROMPT = "Question: What is 3 + 5?\nAnswer:"


@click.command("serve")
@click.argument("recipe")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: a free one)."
)
@click.option(
    "--launcher",
    type=click.Choice(["module", "cli"]),
    default=None,
    help="'module' runs python -m vllm.entrypoints.openai.api_server (CPU build default); "
    "'cli' runs `vllm serve` (GPU build default).",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Run directory (server.log goes there).",
)
@click.option(
    "--startup-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds to wait for readiness (default grows with model size).",
)
@click.option("--check", is_flag=True, help="Send one completion, print it, and stop.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the server's address and details as JSON once ready.",
)
def command(
    recipe: str,
    host: str,
    port: int | None,
    launcher: str | None,
    output: Path | None,
    startup_timeout: float | None,
    check: bool,
    as_json: bool,
) -> None:
    """Serve RECIPE (a built-in name or a YAML file) with vLLM. Ctrl-C stops the server and
    every process it started. The API key for a non-loopback --host comes from
    $LOCALEVAL_API_KEY."""
    import os

    console = Console(stderr=True)
    spec = load_recipe(recipe)
    run_dir = output or new_run_dir(f"serve-{spec.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    api_key = os.environ.get("LOCALEVAL_API_KEY")
    try:
        with served(
            spec,
            run_dir,
            console,
            host=host,
            port=port,
            launcher=launcher,
            api_key=api_key,
            startup_timeout_s=startup_timeout,
        ) as server:
            info = {
                "base_url": server.base_url,
                "openai_base_url": f"{server.base_url}/v1",
                "model": server.served_model_name,
                "ready_after_s": server.ready_after_s,
                "pid": server.pid,
                "log": str(server.log_path),
            }
            if check:
                result = _one_request(
                    server.base_url, server.served_model_name, server.endpoint.headers()
                )
                result.update(info)
                if as_json:
                    click.echo(json.dumps(result))
                else:
                    console.print(
                        f"[green]ready[/] after {server.ready_after_s:.1f} s; "
                        f"{CHECK_PROMPT!r} -> {result['text']!r} "
                        f"({result['completion_tokens']} tokens in {result['latency_ms']:.0f} ms)"
                    )
                return
            if as_json:
                click.echo(json.dumps(info))
            else:
                console.print(
                    f"[green]ready[/] after {server.ready_after_s:.1f} s: "
                    f"{info['openai_base_url']} (model {server.served_model_name!r}); Ctrl-C stops it"
                )
            while True:
                time.sleep(0.5)
                if server.proc is None or server.proc.poll() is not None:
                    raise ServerError(
                        f"the vLLM server exited unexpectedly (see {server.log_path})"
                    )
    except KeyboardInterrupt:
        console.print("stopped: no server process left, port free")


def _one_request(base_url: str, model: str, headers: dict[str, str]) -> dict[str, object]:
    start = time.perf_counter()
    resp = httpx.post(
        f"{base_url}/v1/completions",
        json={"model": model, "prompt": CHECK_PROMPT, "max_tokens": 4, "temperature": 0},
        headers=headers,
        timeout=60,
    )
    latency_ms = (time.perf_counter() - start) * 1000
    resp.raise_for_status()
    body = resp.json()
    return {
        "prompt": CHECK_PROMPT,
        "text": body["choices"][0]["text"],
        "completion_tokens": body.get("usage", {}).get("completion_tokens"),
        "latency_ms": latency_ms,
    }
