"""vLLM command building from recipes and start-up failure classification from logs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localeval.errors import ConfigError
from localeval.recipes import Recipe, load_recipe, load_recipe_file
from localeval.server.command import build_command, default_launcher
from localeval.server.logs import CAUSES, classify_log, tail


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_module_launcher_for_cpu_build() -> None:
    assert default_launcher("cpu") == "module"
    assert default_launcher(None) == "module"
    assert default_launcher("gpu") == "cli"
    recipe = load_recipe("llama-3.1-8b-instruct-h100")
    cmd = build_command(
        recipe, "meta-llama/Llama-3.1-8B-Instruct", host="127.0.0.1", port=8123, launcher="module"
    )
    assert cmd.argv[:5] == [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
    ]
    assert flag(cmd.argv, "--port") == "8123"
    assert flag(cmd.argv, "--host") == "127.0.0.1"
    assert flag(cmd.argv, "--served-model-name") == "llama-3.1-8b-instruct"
    assert flag(cmd.argv, "--dtype") == "bfloat16"
    assert flag(cmd.argv, "--max-model-len") == "8192"
    assert flag(cmd.argv, "--gpu-memory-utilization") == "0.9"
    assert "--tensor-parallel-size" not in cmd.argv  # vLLM's default (1) is left alone
    assert "HF_HUB_OFFLINE" not in cmd.env  # a hub id needs the hub


def test_cli_launcher_serve_positional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    script = fake_bin / "vllm"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_bin / "python"))
    recipe = load_recipe("llama-3.3-70b-instruct-2xh100")
    cmd = build_command(
        recipe, "meta-llama/Llama-3.3-70B-Instruct", host="127.0.0.1", port=9000, launcher="cli"
    )
    assert cmd.argv[:3] == [str(script), "serve", "meta-llama/Llama-3.3-70B-Instruct"]
    assert flag(cmd.argv, "--tensor-parallel-size") == "2"


def test_ray_recipe() -> None:
    recipe = next(r for r in (load_recipe(n) for n in ["llama-3.1-405b-instruct-fp8-2x8xh100-ray"]))
    cmd = build_command(recipe, recipe.model.id, host="127.0.0.1", port=8000, launcher="module")
    assert flag(cmd.argv, "--distributed-executor-backend") == "ray"
    assert flag(cmd.argv, "--tensor-parallel-size") == "8"
    assert flag(cmd.argv, "--pipeline-parallel-size") == "2"
    assert cmd.env["RAY_ADDRESS"] == "auto"


def make_recipe(tmp_path: Path, engine: str) -> Recipe:
    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\nmodel: {{id: m}}\nengine: {engine}\nhardware: {{profile: cpu}}\n")
    return load_recipe_file(path)


def test_extra_args_env_and_local_model(tmp_path: Path) -> None:
    recipe = make_recipe(
        tmp_path,
        "{load_format: dummy, enforce_eager: true, extra_args: ['--max-num-batched-tokens', '4096'], env: {VLLM_CPU_KVCACHE_SPACE: '2'}}",
    )
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    cmd = build_command(
        recipe, str(model_dir), host="127.0.0.1", port=1, launcher="module", api_key="k"
    )
    assert flag(cmd.argv, "--load-format") == "dummy"
    assert "--enforce-eager" in cmd.argv
    assert cmd.argv[-2:] == ["--max-num-batched-tokens", "4096"]
    assert cmd.env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert cmd.env["HF_HUB_OFFLINE"] == "1"
    assert cmd.env["VLLM_API_KEY"] == "k" and "k" not in cmd.argv
    assert cmd.redacted_env()["VLLM_API_KEY"] == "***"


def test_api_key_in_extra_args_refused(tmp_path: Path) -> None:
    recipe = make_recipe(tmp_path, "{extra_args: ['--api-key', 'leaky']}")
    with pytest.raises(ConfigError):
        build_command(recipe, "m", host="127.0.0.1", port=1, launcher="module")


# Log lines as vLLM and its dependencies print them.
SAMPLES = {
    "out_of_memory": [
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. GPU 0 has a total capacity of 79.10 GiB",
        "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.",
        "ValueError: To serve at least one request with the models's max seq len (131072), (16.00 GiB KV cache is needed, which is larger than the available KV cache memory (9.50 GiB).",
    ],
    "port_in_use": ["OSError: [Errno 98] Address already in use"],
    "model_not_found": [
        "huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error. (Request ID: Root=1-x)",
        "huggingface_hub.errors.GatedRepoError: 403 Client Error. Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/resolve/main/config.json.",
        "OSError: /nonexistent does not appear to have a file named config.json.",
    ],
    # vLLM's CPU build asked for the Ray executor (distributed_executor_backend ray)
    "ray_unsupported": [
        "(EngineCore pid=7) ValueError: current platform cpu does not support ray."
    ],
    "unsupported_configuration": [
        "api_server.py: error: unrecognized arguments: --no-such-flag",
        "api_server.py: error: argument --dtype: invalid choice: 'float13'",
        "RuntimeError: Unsupported CPU attention configuration: head_size=16",
        "ValueError: Total number of attention heads (2) must be divisible by tensor parallel size (4).",
    ],
}


@pytest.mark.parametrize(
    ("cause", "line"), [(c, line) for c, lines in SAMPLES.items() for line in lines]
)
def test_classify(cause: str, line: str) -> None:
    log = f"INFO 11-23 15:00:00 [api_server.py:1] vLLM API server version 0.32.0\n{line}\n"
    assert classify_log(log) == cause


def test_classify_other_and_causes() -> None:
    assert classify_log("Segmentation fault (core dumped)") == "other"
    assert set(SAMPLES) < set(CAUSES)


def test_tail(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3).splitlines() == ["line 97", "line 98", "line 99"]
    assert tail(tmp_path / "missing") == ""


def test_reasoning_recipe_starts_vllm_with_its_parser() -> None:
    repo = Path(__file__).resolve().parents[1] / "recipes"
    recipe = load_recipe_file(repo / "deepseek-r1-distill-qwen-32b-h200.yaml")
    cmd = build_command(recipe, recipe.model.id, host="127.0.0.1", port=8000, launcher="cli")
    assert flag(cmd.argv, "--reasoning-parser") == "deepseek_r1"
    plain = build_command(
        load_recipe("llama-3.1-8b-instruct-h100"), "m", host="h", port=1, launcher="cli"
    )
    assert "--reasoning-parser" not in plain.argv
