"""The project's tiny test model: a 2-layer Llama trained in seconds on the CPU to answer the
single-digit sums of :mod:`localeval.tasks`, so the real stack (vLLM server + lm-eval) can be
exercised on a small machine with no model hub.

It is trained on the tasks' own 100 questions. Its high scores say nothing about what a
language model can do; they show that a pipeline carries the signal end to end, where a broken
one (wrong prompts, tokens, loglikelihoods or scoring) falls to chance.

Everything is built offline and deterministically from a seed: a byte-level BPE tokenizer
trained with ``tokenizers`` on the task text, a ``LlamaForCausalLM`` (head_dim 64, which the
vLLM CPU attention kernel accepts), a few hundred full-batch AdamW steps on one CPU thread.
The result is a Hugging Face model folder (safetensors, float32) with ``generation_config.json``,
a chat template, and a ``localeval_tiny.json`` marker holding the build parameters.

The recipe model id :data:`TINY_MODEL_ID` stands for this model; :func:`ensure_tiny_model`
returns its cached folder, building it once (under a file lock) when missing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localeval import __version__, paths
from localeval.results.io import write_json_atomic
from localeval.tasks import TASKS_VERSION, SumDoc, load_sum_docs

if TYPE_CHECKING:
    import torch
    from transformers import LlamaConfig, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

TINY_MODEL_ID = "builtin:tiny-sums"
"""Recipe model id that resolves to the cached tiny model folder (:func:`resolve_model_id`)."""

TINY_MODEL_VERSION = "1"
"""Bumped whenever the recipe below changes what gets built; names the cache folder."""

MARKER_FILE = "localeval_tiny.json"
MARKER_FORMAT = "localeval-tiny-model"

PAD_TOKEN = "<|pad|>"
BOS_TOKEN = "<|begin|>"
EOS_TOKEN = "<|end|>"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if message['content'].startswith('Question:') %}{{ message['content'] }}"
    "{% else %}Question: {{ message['content'] }}\nAnswer:{% endif %}"
    "{% elif message['role'] == 'assistant' %} {{ message['content'] }}\n"
    "{% else %}{{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
)
"""Renders a user message ``"What is 3 + 5?"`` as the task prompt
``"Question: What is 3 + 5?\\nAnswer:"`` (a message already in that form is kept as is), so
the chat endpoint asks the model exactly what the completions endpoint does; the reply is
e.g. ``" 8\\n"``. The prompt already ends where the answer starts, which is why
``add_generation_prompt`` adds nothing."""


@dataclass(frozen=True)
class TinyModelParams:
    """Everything that decides the built weights (with the task data and library versions)."""

    seed: int = 0
    train_steps: int = 120
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    initializer_range: float = 0.1
    """Wider than Llama's 0.02: with small initial weights training sits on a plateau
    (predicting the marginal of the sums) for hundreds of steps."""
    vocab_size: int = 320
    """Upper bound for the BPE vocabulary (special tokens included); the task text may
    exhaust its merges earlier, and the model's vocabulary is the tokenizer's actual size."""
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    intermediate_size: int = 256
    max_position_embeddings: int = 1024
    torch_threads: int = 1

    @property
    def head_dim(self) -> int:
        """Attention head width (64: the vLLM CPU attention kernel refuses 16)."""
        return self.hidden_size // self.num_attention_heads


def training_texts(docs: Sequence[SumDoc]) -> list[tuple[str, str]]:
    """(prompt, completion) pairs the model is trained on: the task prompt and
    ``" <sum>\\n"``. The chat template renders a question as the same prompt."""
    return [(doc.prompt, f" {doc.answer}\n") for doc in docs]


def build_tiny_model(
    out_dir: Path,
    seed: int = 0,
    train_steps: int | None = None,
    learning_rate: float | None = None,
) -> Path:
    """Build the tiny model into ``out_dir`` (created if needed) and return ``out_dir``.

    Deterministic for a given seed and steps on a given machine and library versions (one
    torch thread, deterministic algorithms). Takes seconds: the default 120 full-batch steps
    train in about 10 s on one core."""
    defaults = TinyModelParams()
    params = TinyModelParams(
        seed=seed,
        train_steps=defaults.train_steps if train_steps is None else train_steps,
        learning_rate=defaults.learning_rate if learning_rate is None else learning_rate,
    )
    return _build(Path(out_dir), params)


def _build(out_dir: Path, params: TinyModelParams) -> Path:
    import tokenizers
    import torch
    import transformers

    started = time.monotonic()
    docs = load_sum_docs()
    texts = training_texts(docs)
    tokenizer = _train_tokenizer([p + c for p, c in texts], params)
    config = _model_config(params, tokenizer)
    with _deterministic_torch(params.seed, params.torch_threads):
        model = transformers.LlamaForCausalLM(config)  # type: ignore[no-untyped-call]
        input_ids, labels, attention_mask = _training_batch(tokenizer, texts)
        final_loss = _train(model, input_ids, labels, attention_mask, params)
        accuracy = _answer_accuracy(model, input_ids, labels, attention_mask)
    model.generation_config = transformers.GenerationConfig(  # type: ignore[no-untyped-call]
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    # transformers draws a "Writing model shards" bar; the caller shows its own progress
    bars_on = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    finally:
        if bars_on:
            transformers.utils.logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    build_s = time.monotonic() - started
    marker = {
        "format": MARKER_FORMAT,
        "model_id": TINY_MODEL_ID,
        "version": TINY_MODEL_VERSION,
        "tasks_version": TASKS_VERSION,
        "params": asdict(params),
        "vocab_size": config.vocab_size,
        "head_dim": params.head_dim,
        "train_final_loss": round(final_loss, 6),
        "train_answer_token_accuracy": accuracy,
        "build_s": round(build_s, 2),
        "versions": {
            "localeval": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    write_json_atomic(out_dir / MARKER_FILE, marker)
    log.info(
        "built tiny model in %s: %.1f s, final loss %.4f, answer-token accuracy %.3f",
        out_dir,
        build_s,
        final_loss,
        accuracy,
    )
    return out_dir


def _train_tokenizer(texts: Sequence[str], params: TinyModelParams) -> PreTrainedTokenizerBase:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=params.vocab_size,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=params.max_position_embeddings,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def _model_config(params: TinyModelParams, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.intermediate_size,
        num_hidden_layers=params.num_hidden_layers,
        num_attention_heads=params.num_attention_heads,
        num_key_value_heads=params.num_key_value_heads,
        head_dim=params.head_dim,
        max_position_embeddings=params.max_position_embeddings,
        initializer_range=params.initializer_range,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )


@contextmanager
def _deterministic_torch(seed: int, threads: int) -> Iterator[None]:
    """Seed torch, force deterministic kernels and a fixed thread count; restore them after."""
    import torch

    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(old_deterministic)
            torch.set_num_threads(old_threads)


def _training_batch(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[tuple[str, str]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded token ids, labels (-100 except on the completion and the final EOS) and
    attention mask. No BOS: the tokenizer adds none, so neither vLLM nor lm-eval sends one."""
    import torch

    rows: list[tuple[list[int], list[int]]] = []
    for prompt, completion in texts:
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        full_ids = tokenizer.encode(prompt + completion, add_special_tokens=False)
        if full_ids[: len(prompt_ids)] != prompt_ids:
            raise RuntimeError(f"tokenizer merges across the prompt boundary: {prompt!r}")
        full_ids = [*full_ids, tokenizer.eos_token_id]
        labels = [-100] * len(prompt_ids) + full_ids[len(prompt_ids) :]
        rows.append((full_ids, labels))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows])
    labels_t = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows])
    return input_ids, labels_t, mask


def _train(
    model: Any,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor,
    params: TinyModelParams,
) -> float:
    """Full-batch AdamW with a short warmup and cosine decay; returns the final loss."""
    import math

    import torch

    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=params.learning_rate,
        betas=(0.9, 0.98),
        weight_decay=params.weight_decay,
    )
    warmup = max(1, params.train_steps // 20)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, params.train_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model.train()
    loss_value = float("nan")
    for _ in range(params.train_steps):
        optimizer.zero_grad(set_to_none=True)
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        loss_value = float(out.loss.detach())
    model.eval()
    return loss_value


def _answer_accuracy(
    model: Any, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor
) -> float:
    """Share of labelled tokens (answers, newline, EOS) the model predicts by argmax,
    teacher-forced: a quick check recorded in the marker, not an evaluation."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    predicted = logits[:, :-1].argmax(dim=-1)
    target = labels[:, 1:]
    scored = target != -100
    return round(float((predicted[scored] == target[scored]).float().mean()), 4)


def read_marker(model_dir: Path) -> dict[str, Any] | None:
    """The build marker of a tiny model folder, or None when absent or unreadable."""
    try:
        data = json.loads((Path(model_dir) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tiny_model_dir(cache_root: Path | None = None) -> Path:
    """Where the cached tiny model lives (it may not exist yet):
    ``<cache>/models/tiny-sums-<version>``."""
    root = Path(cache_root) if cache_root is not None else paths.cache_dir()
    return root / "models" / f"tiny-sums-{TINY_MODEL_VERSION}"


def _is_complete(model_dir: Path) -> bool:
    marker = read_marker(model_dir)
    return (
        marker is not None
        and marker.get("format") == MARKER_FORMAT
        and marker.get("version") == TINY_MODEL_VERSION
        and (model_dir / "model.safetensors").is_file()
    )


def ensure_tiny_model(cache_root: Path | None = None) -> Path:
    """Return the cached tiny model folder, building it first if it is missing.

    ``cache_root`` defaults to :func:`localeval.paths.cache_dir`. Safe under concurrency:
    builders serialize on a ``fcntl`` lock, build into a temporary folder beside the target and
    rename it into place, so a reader never sees a half-built model."""
    final = tiny_model_dir(cache_root)
    if _is_complete(final):
        return final
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    build_prefix = f".{final.name}.build-"
    with open(parent / f".{final.name}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if _is_complete(final):
                return final
            # Under the lock no other build is running: whatever is left is from a crash.
            for stale in parent.glob(f"{build_prefix}*"):
                shutil.rmtree(stale, ignore_errors=True)
            if final.exists():
                shutil.rmtree(final)
            tmp = Path(tempfile.mkdtemp(prefix=build_prefix, dir=parent))
            try:
                build_tiny_model(tmp)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return final


def resolve_model_id(model: str, cache_root: Path | None = None) -> str:
    """``model`` unchanged, unless it is :data:`TINY_MODEL_ID`: then the tiny model's folder
    (built if needed)."""
    if model == TINY_MODEL_ID:
        return str(ensure_tiny_model(cache_root))
    return model
