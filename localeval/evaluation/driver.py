"""lm-evaluation-harness through its Python API: the API models, task loading, one
``simple_evaluate`` per task, and lm-eval's own files (results and the sample log).

The models are lm-eval's ``local-completions`` and ``local-chat-completions`` classes with
four methods wrapped: sending goes through the run's :class:`RequestWatch` (deadline and
stall limit, in-flight requests cancelled), and each parsed response is counted with the
token usage it reports. Everything else (payloads, tokenization, retries, scoring) is
lm-eval's own, so scores equal a plain ``lm_eval`` run with the same settings.

This module imports lm-eval (slow: about two seconds); import it only to run an evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import math
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lm_eval
import lm_eval.evaluator
from lm_eval.api.model import CacheHook
from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI
from lm_eval.tasks import TaskManager
from lm_eval.utils import handle_non_serializable, sanitize_list

from localeval.datasets.mirror import DatasetMirror
from localeval.endpoint import Endpoint
from localeval.errors import ConfigError
from localeval.evaluation.accounting import first_filter_rows
from localeval.evaluation.config import EvalConfig
from localeval.evaluation.preflight import (
    PREFLIGHT_TEXT,
    PreflightOutcome,
    prompt_length,
    send_preflight,
)
from localeval.evaluation.thinking import split_thinking
from localeval.evaluation.tokenizer import TokenizerChoice, tokenizer_hint
from localeval.evaluation.watch import RequestWatch
from localeval.results.io import write_text_atomic

logger = logging.getLogger(__name__)

Api = Literal["completions", "chat"]
LOGLIKELIHOOD_TYPES = frozenset({"multiple_choice", "loglikelihood", "loglikelihood_rolling"})
LM_EVAL_VERSION: str = getattr(lm_eval, "__version__", "unknown")


# -- the API models ------------------------------------------------------------------------
def _quiet_abandoned_requests(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """lm-eval gathers a task's requests; when one fails for good, the others are abandoned
    and asyncio would print each one's traceback ("Task exception was never retrieved") as
    it is collected, long after the task's error was recorded. Those go to the debug log."""
    if str(context.get("message", "")).startswith("Task exception was never retrieved"):
        logger.debug("an abandoned request failed: %r", context.get("exception"))
        return
    loop.default_exception_handler(context)


class _Watched:
    """Mixin over lm-eval's TemplateAPI: limits and counting through ``self.watch``."""

    watch: RequestWatch
    timeout: int

    async def get_batched_requests(self, *args: Any, **kwargs: Any) -> Any:
        asyncio.get_running_loop().set_exception_handler(_quiet_abandoned_requests)
        return await self.watch.guard(super().get_batched_requests(*args, **kwargs))  # type: ignore[misc]

    def model_call(self, *args: Any, **kwargs: Any) -> Any:
        # The sequential path (num_concurrent 1): a request may not outlive the limits.
        self.watch.check()
        saved = self.timeout
        self.timeout = max(1, math.ceil(self.watch.timeout_for(saved)))
        try:
            return super().model_call(*args, **kwargs)  # type: ignore[misc]
        finally:
            self.timeout = saved

    def _loglikelihood_tokens(self, *args: Any, **kwargs: Any) -> Any:
        self.watch.touch()
        return super()._loglikelihood_tokens(*args, **kwargs)  # type: ignore[misc]

    def generate_until(self, *args: Any, **kwargs: Any) -> Any:
        self.watch.touch()
        return super().generate_until(*args, **kwargs)  # type: ignore[misc]

    def parse_logprobs(
        self, outputs: Any, tokens: Any = None, ctxlens: Any = None, **kw: Any
    ) -> Any:
        self.watch.record(outputs)
        return super().parse_logprobs(outputs=outputs, tokens=tokens, ctxlens=ctxlens, **kw)  # type: ignore[misc]

    def parse_generations(self, outputs: Any, **kw: Any) -> Any:
        """lm-eval's answers with any thinking removed (``<think>...</think>`` in the text;
        a thinking never closed leaves an empty answer), so that the task's filters see the
        answer only; a reasoning parser's separate field is never among them."""
        self.watch.record(outputs)
        self.watch.record_generations(outputs)
        answers = super().parse_generations(outputs=outputs, **kw)  # type: ignore[misc]
        return [a if not isinstance(a, str) else split_thinking(a).answer for a in answers]


class WatchedCompletions(_Watched, LocalCompletionsAPI):  # type: ignore[misc]
    """lm-eval's ``local-completions`` under a :class:`RequestWatch`."""

    def __init__(self, watch: RequestWatch, **kwargs: Any) -> None:
        self.watch = watch
        super().__init__(**kwargs)


class WatchedChat(_Watched, LocalChatCompletion):  # type: ignore[misc]
    """lm-eval's ``local-chat-completions`` under a :class:`RequestWatch`."""

    def __init__(self, watch: RequestWatch, **kwargs: Any) -> None:
        self.watch = watch
        super().__init__(**kwargs)


class LmPool:
    """The run's two API models, built on first use and shared by its tasks."""

    def __init__(
        self,
        endpoint: Endpoint,
        config: EvalConfig,
        *,
        tokenizer: TokenizerChoice,
        max_length: int,
        watch: RequestWatch,
        lm_eval_retries: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        # A closed API's requests are retried by the forwarder, not again by lm-eval.
        self.lm_eval_retries = lm_eval_retries
        self.config = config
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.watch = watch
        self._completions: Any = None
        self._chat: Any = None

    def _common(self) -> dict[str, Any]:
        headers = self.endpoint.headers()
        return {
            "model": self.endpoint.model,
            "num_concurrent": self.config.num_concurrent,
            "max_retries": self.lm_eval_retries or self.config.max_retries,
            "timeout": max(1, math.ceil(self.config.request_timeout_s)),
            "max_length": self.max_length,
            "header": headers or None,
            "auth_token": self.endpoint.api_key,
        }

    def completions(self) -> Any:
        """The ``local-completions`` model (tokenized requests)."""
        if self._completions is None:
            if self.tokenizer.backend == "none":
                raise ConfigError(
                    "loglikelihood requests need a tokenizer, and a closed API offers none",
                    hint="pass --tokenizer DIR, a folder with the model's tokenizer files",
                )
            kwargs = self._common()
            kwargs["base_url"] = f"{self.endpoint.v1}/completions"
            kwargs["tokenizer_backend"] = self.tokenizer.backend
            if self.tokenizer.backend == "huggingface":
                kwargs["tokenizer"] = self.tokenizer.name
                kwargs["revision"] = self.config.revision or "main"
            self._completions = WatchedCompletions(self.watch, **kwargs)
        return self._completions

    def chat(self) -> Any:
        """The ``local-chat-completions`` model (the server applies the chat template)."""
        if self._chat is None:
            kwargs = self._common()
            kwargs["base_url"] = f"{self.endpoint.v1}/chat/completions"
            kwargs["tokenizer_backend"] = None
            kwargs["tokenized_requests"] = False
            self._chat = WatchedChat(self.watch, **kwargs)
        return self._chat

    def load_tokenizer(self) -> None:
        """Build the completions model now, which loads its tokenizer, so that a tokenizer
        that cannot be loaded fails once, before any task, with what to do. Raises
        ConfigError."""
        if self.tokenizer.backend == "none":
            return
        try:
            self.completions()
        except Exception as exc:
            name = self.tokenizer.name or "remote"
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(
                f"cannot load the tokenizer {name!r} ({self.tokenizer.source}): "
                f"{type(exc).__name__}{': ' + detail if detail else ''}",
                hint=self.tokenizer_hint(),
            ) from exc

    def tokenizer_hint(self) -> str:
        """What to pass instead of the tokenizer in use."""
        if self.tokenizer.backend in ("remote", "none"):
            return "pass --tokenizer DIR, a folder with the model's tokenizer files"
        return tokenizer_hint(self.endpoint)

    def has_chat_template(self) -> bool:
        """Whether the model's tokenizer carries a chat template."""
        tok = self.completions().tokenizer
        if self.tokenizer.backend == "remote":
            try:
                return bool(tok.tokenizer_info.get("chat_template"))
            except Exception:
                return False
        return bool(getattr(tok, "chat_template", None))

    def hf_tokenizer(self) -> Any | None:
        """The local Hugging Face tokenizer, or None with a remote one."""
        if self.tokenizer.backend != "huggingface":
            return None
        return self.completions().tokenizer

    def preflight(self) -> PreflightOutcome:
        """Ask once whether the server returns a logprob for every prompt token
        (:mod:`localeval.evaluation.preflight`): what the request used (it belongs to no
        task) and what is wrong, if anything. EndpointError when no answer came."""
        lm = self.completions()
        tokens = lm.tok_encode(PREFLIGHT_TEXT)
        payload = lm._create_payload(lm.create_message([tokens]), generate=False, seed=lm._seed)
        length = prompt_length(payload["prompt"]) or len(tokens)
        return send_preflight(
            lm.base_url,
            payload,
            length,
            headers=self.endpoint.headers(),
            timeout_s=self.watch.timeout_for(self.config.request_timeout_s),
        )


def choose_api(output_types: set[str], gen_api: str, has_chat_template: bool) -> tuple[Api, str]:
    """The API for a task and why: completions whenever the task has loglikelihood requests
    (only completions returns prompt logprobs); for generation only, ``gen_api``, where
    'auto' means chat when the model has a chat template."""
    if output_types & LOGLIKELIHOOD_TYPES:
        if gen_api == "chat" and "generate_until" in output_types:
            return "completions", "loglikelihood requests need completions (chat not used)"
        return "completions", "loglikelihood requests"
    if gen_api == "completions":
        return "completions", "requested"
    if gen_api == "chat":
        return "chat", "requested"
    if has_chat_template:
        return "chat", "the model has a chat template"
    return "completions", "the model has no chat template"


# -- tasks ---------------------------------------------------------------------------------
@dataclass
class LoadedTask:
    """A task, group or tag loaded by lm-eval, with its leaf tasks' output types."""

    name: str
    objects: list[Any]
    leaves: dict[str, Any]
    groups: list[str] = field(default_factory=list)

    @property
    def output_types(self) -> set[str]:
        return {str(t.OUTPUT_TYPE) for t in self.leaves.values()}


# Task names lm-eval's full index has held in this process: a process that runs several
# evaluations (the tests, a pipeline) answers an unknown name without indexing lm-eval's
# ~15,000 task files again (the names in the include paths come from the local index).
_KNOWN_TASKS: set[str] = set()


class TaskCatalog:
    """lm-eval's task index over the include paths, then over lm-eval's own tasks when a
    name is not among them (indexing lm-eval's ~15,000 task files takes ~20 s on a small
    machine, so it is done only when needed)."""

    def __init__(
        self,
        include_paths: Sequence[str],
        metadata: Mapping[str, Any] | None = None,
        *,
        mirror: DatasetMirror | None = None,
    ):
        self.include_paths = [str(p) for p in include_paths]
        self.metadata = dict(metadata or {})
        self.mirror = mirror  # the tasks' datasets come from this local mirror when set
        self._local: Any = None
        self._full: Any = None

    def _manager(self, full: bool) -> Any:
        if full:
            if self._full is None:
                self._full = TaskManager(
                    include_path=self.include_paths or None, metadata=self.metadata
                )
            return self._full
        if self._local is None:
            self._local = TaskManager(
                include_path=self.include_paths or None,
                include_defaults=False,
                metadata=self.metadata,
            )
        return self._local

    def manager_for(self, name: str) -> Any:
        """The task manager that knows ``name``; ConfigError (with close matches) if none."""
        local = self._manager(full=False)
        if name in local.all_tasks:
            return local
        is_yaml = Path(name).suffix in (".yaml", ".yml")
        if is_yaml and not Path(name).expanduser().is_file():
            raise ConfigError(f"task file {name}: no such file")
        if not _KNOWN_TASKS or name in _KNOWN_TASKS or is_yaml:
            full = self._manager(full=True)
            _KNOWN_TASKS.update(full.all_tasks)
            if name in full.all_tasks or is_yaml:
                return full
        known = sorted(_KNOWN_TASKS.union(local.all_tasks))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else None
        raise ConfigError(
            f"unknown task {name!r}: not an lm-eval task, group or tag, nor in the include "
            f"paths ({', '.join(self.include_paths) or 'none'})",
            hint=hint or "list tasks with `lm_eval ls tasks`; local YAMLs go in --include-path",
        )

    def load(self, name: str) -> tuple[LoadedTask, Any]:
        """Load ``name`` (its dataset included, from the mirror when there is one) and return
        it with its task manager. Raises ConfigError for an unknown name or a dataset the
        mirror lacks; whatever lm-eval or ``datasets`` raise when the data cannot be loaded
        passes through."""
        manager = self.manager_for(name)
        source: Any = contextlib.nullcontext()
        if self.mirror is not None:
            from localeval.datasets.lm_eval_hook import serve_from_mirror

            source = serve_from_mirror(self.mirror, name)
        with source:
            loaded = manager.load([name])
        tasks: dict[str, Any] = dict(loaded.get("tasks", {}))
        groups: dict[str, Any] = dict(loaded.get("groups", {}))
        if name in groups:
            objects = [groups[name]]
        elif name in tasks:
            objects = [tasks[name]]
        else:  # a tag (or a YAML path): its tasks
            objects = list(tasks.values())
        return LoadedTask(name, objects, tasks, sorted(groups)), manager


def evaluate_task(
    lm: Any,
    task: LoadedTask,
    manager: Any,
    config: EvalConfig,
    *,
    cache_prefix: Path | None,
    apply_chat_template: bool,
) -> dict[str, Any]:
    """One ``simple_evaluate`` call for one task; returns lm-eval's results dict (with
    ``samples`` when sample logging is on). The response cache is closed afterwards."""
    seeds: dict[str, int] = {}
    if config.seed is not None:
        seeds = {
            "random_seed": config.seed,
            "numpy_random_seed": config.seed,
            "torch_random_seed": config.seed,
            "fewshot_random_seed": config.seed,
        }
    try:
        with _env_info_once():
            results = lm_eval.evaluator.simple_evaluate(
                model=lm,
                tasks=list(task.objects),
                task_manager=manager,
                use_cache=str(cache_prefix) if cache_prefix is not None else None,
                limit=config.limit,
                num_fewshot=config.num_fewshot,
                log_samples=config.log_samples,
                apply_chat_template=apply_chat_template,
                fewshot_as_multiturn=apply_chat_template,
                gen_kwargs=dict(config.gen_kwargs) if config.gen_kwargs else None,
                bootstrap_iters=config.bootstrap_iters,
                **seeds,
            )
    finally:
        _close_cache(lm)
    if not isinstance(results, dict):
        raise RuntimeError("lm-eval returned no results")
    return results


_ENV_INFO: dict[str, Any] = {}
_ORIGINAL_ADD_ENV_INFO = lm_eval.evaluator.add_env_info


def _add_env_info_once(storage: dict[str, Any]) -> None:
    if not _ENV_INFO:
        probe: dict[str, Any] = {}
        _ORIGINAL_ADD_ENV_INFO(probe)
        _ENV_INFO.update(probe)
    storage.update(_ENV_INFO)


_GIT_HASH: list[str | None] = []


def _git_hash_quietly() -> str | None:
    """What lm-eval records as ``git_hash`` (``git describe --always`` in the working
    directory), asked once per process and without git's "fatal: not a git repository"
    on stderr, which lm-eval's own call prints at every task outside a repository."""
    if not _GIT_HASH:
        git_hash: str | None = None
        try:
            out = subprocess.run(
                ["git", "describe", "--always"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            git_hash = out.stdout.strip() or None if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            pass
        if git_hash is None:  # lm-eval's own fallback: read .git in the working directory
            from lm_eval.loggers.utils import get_commit_from_path

            git_hash = get_commit_from_path(os.getcwd())
        _GIT_HASH.append(git_hash)
    return _GIT_HASH[0]


@contextlib.contextmanager
def _env_info_once() -> Iterator[None]:
    """lm-eval describes the environment at every ``simple_evaluate`` (about a second of
    subprocesses); a run does it once, before its first task, and reuses the description.
    The same for the git hash it records."""
    saved = lm_eval.evaluator.add_env_info, lm_eval.evaluator.get_git_commit_hash
    lm_eval.evaluator.add_env_info = _add_env_info_once
    lm_eval.evaluator.get_git_commit_hash = _git_hash_quietly
    try:
        yield
    finally:
        lm_eval.evaluator.add_env_info, lm_eval.evaluator.get_git_commit_hash = saved


# -- quiet: localeval shows the progress ---------------------------------------------------
def _silent(cls: type) -> type:
    """A subclass of tqdm class ``cls`` whose bars are always disabled."""

    class Silent(cls):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    Silent.__name__ = Silent.__qualname__ = cls.__name__
    return Silent


_QUIET_LOGGERS = ("lm_eval", "datasets")
_API_LOGGER = "lm_eval.models.api_models"


class _NoRetryChatter(logging.Filter):
    """Drops lm-eval's two lines per failed attempt of a request ("API request failed!
    ... Retrying...", "Exception:..., retrying.", the latter at error level even when a retry
    follows): a request that fails for good fails its task, whose error says why."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().endswith(("Retrying...", "retrying."))


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """Within the block, lm-eval's and datasets' progress bars ("Requesting API", "Checking
    cached requests", "Generating test split", ...) are off and their loggers show warnings
    and errors only: localeval reports the progress of a run itself."""
    import sys

    import datasets.utils
    import tqdm
    import tqdm.asyncio
    import tqdm.auto
    import tqdm.std

    originals = {tqdm.std.tqdm, tqdm.asyncio.tqdm_asyncio, tqdm.auto.tqdm}
    silent = {cls: _silent(cls) for cls in originals}
    patched: list[tuple[Any, str, Any]] = []
    holders: list[Any] = [tqdm, tqdm.auto]
    holders += [m for n, m in list(sys.modules.items()) if n.startswith("lm_eval") and m]
    for module in holders:
        for attr in ("tqdm", "tqdm_asyncio"):
            value = getattr(module, attr, None)
            if isinstance(value, type) and value in silent:
                patched.append((module, attr, value))
                setattr(module, attr, silent[value])
    bars_were_on = not datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    chatter = _NoRetryChatter()
    logging.getLogger(_API_LOGGER).addFilter(chatter)
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logger_ = logging.getLogger(name)
        if logger_.getEffectiveLevel() < logging.WARNING:
            logger_.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for module, attr, value in reversed(patched):
            setattr(module, attr, value)
        if bars_were_on:
            datasets.utils.enable_progress_bars()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger(_API_LOGGER).removeFilter(chatter)


def prepare() -> None:
    """Do, before the first task's clock starts, what lm-eval would otherwise do inside it:
    import torch (for its seeds) and describe the environment."""
    from lm_eval.utils import is_torch_available

    if is_torch_available():
        import torch  # noqa: F401

    _add_env_info_once({})


def _close_cache(lm: Any) -> None:
    """Close the sqlite response cache lm-eval opened for this call (it never does)."""
    hook = getattr(lm, "cache_hook", None)
    dbdict = getattr(hook, "dbdict", None)
    if dbdict is not None:
        try:
            dbdict.commit()
            dbdict.close()
        except Exception as exc:  # a cache that cannot be closed loses nothing already committed
            logger.warning("closing the response cache failed: %s", exc)
    lm.set_cache_hook(CacheHook(None))


# -- counting prompt tokens from the sample log ---------------------------------------------
def _loglikelihood_tokens(lm: Any, context: str, continuation: str) -> int:
    """Tokens lm-eval sends for one loglikelihood request (TemplateLM.loglikelihood and
    TemplateAPI.batch_loglikelihood_requests)."""
    if context == "":
        cont = lm.tok_encode(continuation, add_special_tokens=False)
        # lm-eval conditions on the prefix token, unless the continuation starts with it
        n = len(cont) + (1 if lm.prefix_token_id != cont[0] else 0)
    else:
        ctx_enc, cont_enc = lm._encode_pair(context, continuation)
        n = len(ctx_enc) + len(cont_enc)
    return min(n, int(lm.max_length))


def _generation_tokens(lm: Any, context: str, gen_kwargs: Mapping[str, Any]) -> int:
    """Prompt tokens lm-eval sends for one completions generation request (left-truncated
    to leave room for ``max_gen_toks``)."""
    max_gen = int(gen_kwargs.get("max_gen_toks", lm._max_gen_toks))
    enc = lm.tok_encode(context, add_special_tokens=lm.add_bos_token)
    return min(len(enc), int(lm.max_length) - max_gen)


def _chat_tokens(tokenizer: Any, context: Any) -> int:
    """Prompt tokens of a chat request as vLLM renders it: the chat template with the
    generation prompt, tokenized without extra special tokens."""
    raw = getattr(context, "prompt", context)
    if isinstance(raw, (tuple, list)) and len(raw) == 1 and isinstance(raw[0], str):
        raw = raw[0]  # lm-eval's JsonChatStr, as the sample log holds it: (json,)
    messages = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"not a chat prompt: {context!r:.80}")
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def samples_prompt_tokens(
    rows: Sequence[Mapping[str, Any]],
    output_type: str,
    api: Api,
    pool: LmPool,
) -> tuple[int | None, str | None]:
    """Prompt tokens of the requests in one leaf task's sample rows, tokenized as lm-eval
    tokenized them; (None, reason) when that cannot be done here."""
    if output_type == "loglikelihood_rolling":
        return None, "rolling loglikelihood windows are not re-counted"
    tokenizer = pool.hf_tokenizer()
    if tokenizer is None and pool.tokenizer.backend == "none":
        return None, "no local tokenizer (a closed API): the counts are its billed usage"
    if tokenizer is None:
        return None, "remote tokenizer: the sample log is not re-tokenized"
    total = 0
    for row in first_filter_rows(rows):
        for args, resps in zip(row.get("arguments") or [], row.get("resps") or [], strict=False):
            repeats = len(resps) if isinstance(resps, (list, tuple)) else 1
            if output_type in ("multiple_choice", "loglikelihood"):
                n = _loglikelihood_tokens(pool.completions(), str(args[0]), str(args[1]))
            elif api == "chat":
                if not getattr(tokenizer, "chat_template", None):
                    return None, "no local chat template to render the chat prompts"
                n = _chat_tokens(tokenizer, args[0])
            else:
                n = _generation_tokens(pool.completions(), str(args[0]), dict(args[1] or {}))
            total += n * repeats
    return total, None


# -- lm-eval's files ---------------------------------------------------------------------------
def write_samples(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write sample rows as JSON lines in lm-eval's ``--log_samples`` shape (arguments as
    ``gen_args_N.arg_M``, responses as strings), atomically."""
    lines = []
    for row in rows:
        sample = dict(row)
        sample["arguments"] = {
            f"gen_args_{i}": {f"arg_{j}": a for j, a in enumerate(args)}
            for i, args in enumerate(row.get("arguments") or [])
        }
        sample["resps"] = sanitize_list(row.get("resps"))
        sample["filtered_resps"] = sanitize_list(row.get("filtered_resps"))
        sample["target"] = str(row.get("target"))
        lines.append(json.dumps(sample, default=handle_non_serializable, ensure_ascii=False))
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))


def write_lm_eval_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write lm-eval's results dict (without the samples) as JSON, atomically."""
    data = {k: v for k, v in results.items() if k != "samples"}
    write_text_atomic(
        path, json.dumps(data, indent=2, default=handle_non_serializable, ensure_ascii=False)
    )
