"""The tiny test model: its files, its tokenizer and chat template, that it answers the sums
(scored here with plain torch, independently of lm-eval and vLLM) while an untrained twin
scores near chance, that builds are deterministic, and that the cache builds it once."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from localeval import tinymodel
from localeval.tasks import data_file

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model built once per session through the cache, in an isolated cache root."""
    return tinymodel.ensure_tiny_model(cache_root=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tokenizer(model_dir: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def trained(model_dir: Path) -> Any:
    return transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()


def _questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in data_file().read_text().splitlines()]


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _mc_accuracy(model: Any, tokenizer: Any) -> float:
    """4-way multiple choice by summed loglikelihood of " <choice>" after the prompt, all
    400 (question, choice) sequences in one right-padded batch."""
    rows = []  # (token ids, number of context tokens, question, choice)
    for q in _questions():
        context = f"Question: What is {q['a']} + {q['b']}?\nAnswer:"
        ctx_ids = _encode(tokenizer, context)
        for choice in q["choices"]:
            ids = _encode(tokenizer, f"{context} {choice}")
            assert ids[: len(ctx_ids)] == ctx_ids
            rows.append((ids, len(ctx_ids), q, choice))
    width = max(len(r[0]) for r in rows)
    batch = torch.tensor([r[0] + [0] * (width - len(r[0])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    with torch.no_grad():
        logprobs = model(input_ids=batch, attention_mask=mask).logits.log_softmax(-1)
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for row, (ids, n_ctx, q, choice) in enumerate(rows):
        score = sum(float(logprobs[row, i - 1, ids[i]]) for i in range(n_ctx, len(ids)))
        key = (q["a"], q["b"])
        if key not in best or score > best[key][0]:
            best[key] = (score, choice)
    assert len(best) == 100
    return sum(int(choice) == a + b for (a, b), (_, choice) in best.items()) / 100


def _greedy_accuracy(model: Any, tokenizer: Any, max_new_tokens: int = 4) -> float:
    """Greedy decoding (an argmax loop, not generate()) cut at the first newline or EOS,
    compared with the true sum after stripping spaces."""
    prompts = [
        _encode(tokenizer, f"Question: What is {a} + {b}?\nAnswer:")
        for a in range(10)
        for b in range(10)
    ]
    assert len({len(p) for p in prompts}) == 1  # equal lengths: one batch, no padding
    ids = torch.tensor(prompts)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            nxt = model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    correct = 0
    for k, row in enumerate(ids[:, len(prompts[0]) :].tolist()):
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        text = tokenizer.decode(row).split("\n")[0].strip()
        correct += text == str(k // 10 + k % 10)
    return correct / 100


def test_model_folder_and_config(model_dir: Path) -> None:
    assert model_dir.name == f"tiny-sums-{tinymodel.TINY_MODEL_VERSION}"
    for name in (
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        tinymodel.MARKER_FILE,
    ):
        assert (model_dir / name).is_file(), name
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["num_hidden_layers"] == 2
    assert config["hidden_size"] == 128
    assert config["num_attention_heads"] == 2
    assert config["num_key_value_heads"] == 1
    assert config["hidden_size"] // config["num_attention_heads"] == 64
    assert config.get("head_dim", 64) == 64
    assert config["max_position_embeddings"] == 1024
    marker = tinymodel.read_marker(model_dir)
    assert marker is not None
    assert marker["version"] == tinymodel.TINY_MODEL_VERSION
    assert marker["model_id"] == tinymodel.TINY_MODEL_ID
    assert marker["params"]["seed"] == 0


def test_weights_are_float32_safetensors(model_dir: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as fh:
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys()}  # noqa: SIM118
    assert dtypes == {torch.float32}


def test_tokenizer_and_generation_config(model_dir: Path, tokenizer: Any, trained: Any) -> None:
    assert len(tokenizer) == trained.config.vocab_size <= 320
    assert tokenizer.bos_token_id is not None
    assert tokenizer.pad_token_id is not None
    ids = _encode(tokenizer, "Question: What is 3 + 5?")
    assert tokenizer("Question: What is 3 + 5?")["input_ids"] == ids  # no BOS added
    assert tokenizer.decode(ids) == "Question: What is 3 + 5?"
    text = "any bytes: héllo wörld ✓ 0123456789"
    assert tokenizer.decode(_encode(tokenizer, text)) == text
    gen = json.loads((model_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] == tokenizer.eos_token_id
    assert tokenizer.model_max_length == 1024


def test_chat_template_renders_the_task_prompt(tokenizer: Any) -> None:
    def render(messages: list[dict[str, str]]) -> str:
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )

    assert render([{"role": "user", "content": "What is 3 + 5?"}]) == (
        "Question: What is 3 + 5?\nAnswer:"
    )
    assert render([{"role": "user", "content": "Question: What is 3 + 5?\nAnswer:"}]) == (
        "Question: What is 3 + 5?\nAnswer:"
    )
    assert (
        render(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 1 + 2?"},
                {"role": "assistant", "content": "3"},
                {"role": "user", "content": "What is 4 + 4?"},
            ]
        )
        == "Be brief.\nQuestion: What is 1 + 2?\nAnswer: 3\nQuestion: What is 4 + 4?\nAnswer:"
    )


def test_trained_model_answers_the_sums(tokenizer: Any, trained: Any) -> None:
    assert _mc_accuracy(trained, tokenizer) >= 0.9
    assert _greedy_accuracy(trained, tokenizer) >= 0.9


def test_the_gpu_recipes_dtype_keeps_the_answers(model_dir: Path, tokenizer: Any) -> None:
    # tiny-gpu serves the float32 weights in its own dtype (bfloat16): the rounding must not
    # cost the signal the tiny model exists to carry.
    from localeval.recipes import load_recipe

    dtype = load_recipe("tiny-gpu").engine.dtype
    assert dtype == "bfloat16"
    model = transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=getattr(torch, dtype)
    ).eval()
    assert next(model.parameters()).dtype == torch.bfloat16
    assert _mc_accuracy(model, tokenizer) >= 0.9
    assert _greedy_accuracy(model, tokenizer) >= 0.9


def test_trained_model_stops_after_the_answer(tokenizer: Any, trained: Any) -> None:
    ids = _encode(tokenizer, "Question: What is 7 + 6?\nAnswer:")
    out = trained.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False, pad_token_id=0)
    new = out[0, len(ids) :].tolist()
    assert tokenizer.decode(new, skip_special_tokens=True) == " 13\n"
    assert new[-1] == tokenizer.eos_token_id


def test_untrained_twin_scores_near_chance(tokenizer: Any, trained: Any) -> None:
    # The same evaluation on random weights must fail: it would catch a scorer that always
    # says "right" or a pipeline that leaks the answer.
    torch.manual_seed(1234)
    untrained = transformers.LlamaForCausalLM(trained.config).eval()
    assert _mc_accuracy(untrained, tokenizer) < 0.5
    assert _greedy_accuracy(untrained, tokenizer) < 0.5


def _weights_digest(model_dir: Path) -> str:
    from safetensors.numpy import load_file

    tensors = load_file(str(model_dir / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].tobytes())
    return digest.hexdigest()


def test_build_is_deterministic(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    first = tinymodel.build_tiny_model(tmp_path / "a", seed=3, train_steps=4)
    second = tinymodel.build_tiny_model(tmp_path / "b", seed=3, train_steps=4)
    # no progress bar of transformers' beside the caller's own progress
    assert "Writing model shards" not in capfd.readouterr().err
    other = tinymodel.build_tiny_model(tmp_path / "c", seed=4, train_steps=4)
    assert _weights_digest(first) == _weights_digest(second)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    assert _weights_digest(first) != _weights_digest(other)


def test_build_restores_torch_settings(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(99)
    expected_next = torch.rand(1)
    torch.manual_seed(99)
    tinymodel.build_tiny_model(tmp_path / "m", seed=0, train_steps=1)
    assert torch.rand(1) == expected_next  # the caller's RNG stream is untouched
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


# --- the cache, with a fake builder (fast) ---------------------------------------------


class FakeBuilder:
    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.calls: list[Path] = []
        self.delay_s = delay_s
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, out_dir: Path, seed: int = 0, **_: object) -> Path:
        with self._lock:
            self.calls.append(Path(out_dir))
        time.sleep(self.delay_s)
        if self.fail:
            (Path(out_dir) / "partial").write_text("x")
            raise RuntimeError("build failed")
        (Path(out_dir) / "model.safetensors").write_bytes(b"weights")
        marker = {"format": tinymodel.MARKER_FORMAT, "version": tinymodel.TINY_MODEL_VERSION}
        (Path(out_dir) / tinymodel.MARKER_FILE).write_text(json.dumps(marker))
        return Path(out_dir)


def _leftovers(cache_root: Path) -> list[str]:
    return sorted(p.name for p in (cache_root / "models").iterdir() if "build" in p.name)


def test_ensure_builds_once_under_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeBuilder(delay_s=0.3)
    monkeypatch.setattr(tinymodel, "build_tiny_model", fake)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(tinymodel.ensure_tiny_model(tmp_path)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = tmp_path / "models" / f"tiny-sums-{tinymodel.TINY_MODEL_VERSION}"
    assert results == [expected] * 4
    assert len(fake.calls) == 1
    assert fake.calls[0] != expected  # built elsewhere, then renamed into place
    assert (expected / "model.safetensors").read_bytes() == b"weights"
    assert _leftovers(tmp_path) == []


def test_ensure_reuses_a_complete_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBuilder()
    monkeypatch.setattr(tinymodel, "build_tiny_model", fake)
    first = tinymodel.ensure_tiny_model(tmp_path)
    second = tinymodel.ensure_tiny_model(tmp_path)
    assert first == second
    assert len(fake.calls) == 1


def test_ensure_uses_the_cache_dir_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tinymodel, "build_tiny_model", FakeBuilder())
    monkeypatch.setenv("LOCALEVAL_CACHE_DIR", str(tmp_path / "c"))
    assert tinymodel.ensure_tiny_model() == tmp_path / "c" / "models" / "tiny-sums-1"


def test_ensure_replaces_an_incomplete_folder_and_stale_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeBuilder()
    monkeypatch.setattr(tinymodel, "build_tiny_model", fake)
    final = tinymodel.tiny_model_dir(tmp_path)
    final.mkdir(parents=True)
    (final / "config.json").write_text("{}")  # no marker: not a finished build
    stale = final.parent / f".{final.name}.build-crashed"
    stale.mkdir()
    assert tinymodel.ensure_tiny_model(tmp_path) == final
    assert len(fake.calls) == 1
    assert not (final / "config.json").exists()
    assert tinymodel.read_marker(final) is not None
    assert not stale.exists()


def test_ensure_rebuilds_an_older_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBuilder()
    monkeypatch.setattr(tinymodel, "build_tiny_model", fake)
    final = tinymodel.ensure_tiny_model(tmp_path)
    marker = json.loads((final / tinymodel.MARKER_FILE).read_text())
    marker["version"] = "0"
    (final / tinymodel.MARKER_FILE).write_text(json.dumps(marker))
    tinymodel.ensure_tiny_model(tmp_path)
    assert len(fake.calls) == 2


def test_failed_build_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tinymodel, "build_tiny_model", FakeBuilder(fail=True))
    with pytest.raises(RuntimeError, match="build failed"):
        tinymodel.ensure_tiny_model(tmp_path)
    assert not tinymodel.tiny_model_dir(tmp_path).exists()
    assert _leftovers(tmp_path) == []


def test_resolve_model_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tinymodel, "build_tiny_model", FakeBuilder())
    assert tinymodel.resolve_model_id("Qwen/Qwen2.5-0.5B", tmp_path) == "Qwen/Qwen2.5-0.5B"
    assert tinymodel.resolve_model_id(tinymodel.TINY_MODEL_ID, tmp_path) == str(
        tinymodel.tiny_model_dir(tmp_path)
    )
