"""Workloads: the prompts a bench point sends, with the prompt length the server should
report for each.

Synthetic prompts have an exact input length: random words (seeded) are tokenized, cut to
the length wanted, decoded, and checked by counting the way the server will (its own
``/tokenize``, or the model's tokenizer with the same special tokens or chat template),
adjusting until the count matches. Prompt files: ShareGPT JSON (the first human turn of
each conversation) or JSONL (``{"prompt": ...}``, ``{"text": ...}``, ``{"messages":
[...]}`` or a bare JSON string per line). The output length is fixed and asked for with
``ignore_eos``. Lengths can spread: each prompt's input length (synthetic prompts) and
each request's output length drawn from a normal distribution around the mean, clipped
to three standard deviations (:func:`spread_lengths`), or given one by one (a lengths file
or a trace, :mod:`.traces`). Prompts can share a prefix: a group's prefix of an exact
token count (:func:`shared_prefix_prompts`), a trace's blocks (:func:`block_prompts`) or a
session's previous prompt (:func:`session_prompts`). Every random choice comes from the
seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from localeval.bench.client import Prompt
from localeval.endpoint import Endpoint
from localeval.errors import ConfigError, EndpointError
from localeval.results.bench import length_bounds

Api = Literal["completions", "chat"]

_WORD_TEXT = (
    "the of and to in is was for on that with as by at from his her an were are which "
    "this be or has had not but it they their one all new first two time after who more "
    "been also would other into can its over there some city when only year most state "
    "during under school world between river may while three such where well years war "
    "later family life she many these known made since about through both film until team "
    "then series early part name used season being high north de south played album found "
    "village before century around against including house second people same work several "
    "government county music each four those them group small west side number could down "
    "area well town water light stone garden market morning table window paper answer "
    "question number story energy signal engine model token bridge harbor valley winter "
    "summer silver orange purple simple careful quiet rapid gentle bright narrow"
)
_WORDS = tuple(_WORD_TEXT.split())


@dataclass(frozen=True)
class PromptItem:
    """One prompt and the prompt tokens the server should count for it (None: unknown);
    ``output_tokens``: the output length asked for with it (None: the run's own)."""

    prompt: Prompt
    expected_prompt_tokens: int | None
    output_tokens: int | None = None


def spread_lengths(
    mean: int, stdev: float, n: int, rng: random.Random, floor: int = 1
) -> list[int]:
    """``n`` lengths (tokens) around ``mean``: all ``mean`` when ``stdev`` is 0, else
    rounded draws of a normal distribution clipped to :func:`length_bounds`."""
    low, high = length_bounds(mean, stdev, floor)
    if low == high:
        return [low] * n
    return [min(high, max(low, round(rng.gauss(mean, stdev)))) for _ in range(n)]


class TokenCounter(Protocol):
    """Counts tokens the way the server will for a prompt of the given API."""

    def count(self, prompt: Prompt) -> int:
        """Prompt tokens the server will count, special tokens or chat template included."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text, without special tokens."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids."""
        ...


def _messages(prompt: Prompt) -> list[dict[str, Any]]:
    return prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


class ServerTokenizer:
    """Counts with the server's own ``/tokenize`` and ``/detokenize`` (vLLM has both)."""

    def __init__(self, endpoint: Endpoint, api: Api, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self.api = api
        self._http = httpx.Client(
            headers=endpoint.headers(),
            timeout=timeout_s,
            verify=endpoint.base_url.startswith("https://"),  # no CA bundle to load for http
        )

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.endpoint.base_url}{path}"
        try:
            resp = self._http.post(url, json={"model": self.endpoint.model, **body})
        except httpx.HTTPError as exc:
            raise EndpointError(f"cannot reach {url}: {exc}") from exc
        if resp.status_code != 200:
            raise EndpointError(
                f"{url} answered HTTP {resp.status_code}: {resp.text[:200]}",
                hint="pass --tokenizer PATH (the model's tokenizer) to build prompts locally",
            )
        data = resp.json()
        if not isinstance(data, dict):
            raise EndpointError(f"{url} answered something other than a JSON object")
        return data

    def count(self, prompt: Prompt) -> int:
        if self.api == "chat":
            data = self._post(
                "/tokenize", {"messages": _messages(prompt), "add_generation_prompt": True}
            )
        else:
            if not isinstance(prompt, str):
                raise ConfigError("the completions API takes text prompts, not chat messages")
            data = self._post("/tokenize", {"prompt": prompt})
        return int(data["count"])

    def encode(self, text: str) -> list[int]:
        data = self._post("/tokenize", {"prompt": text, "add_special_tokens": False})
        return [int(t) for t in data["tokens"]]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._post("/detokenize", {"tokens": list(ids)})["prompt"])


class HfTokenizer:
    """Counts with a local Hugging Face tokenizer (a directory or a cached id), with the
    special tokens a completions prompt gets or the chat template a chat prompt gets."""

    def __init__(self, name_or_path: str, api: Api) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:  # pragma: no cover - transformers is a dependency
            raise ConfigError("transformers is needed to load --tokenizer") from exc
        try:
            self._tok = AutoTokenizer.from_pretrained(name_or_path)
        except Exception as exc:
            raise ConfigError(
                f"cannot load the tokenizer {name_or_path!r}: {exc}",
                hint="pass a local tokenizer directory, or leave --tokenizer out to count "
                "with the server's /tokenize",
            ) from exc
        self.api = api

    def close(self) -> None:
        pass

    def count(self, prompt: Prompt) -> int:
        if self.api == "chat":
            out: Any = self._tok.apply_chat_template(
                _messages(prompt), add_generation_prompt=True, tokenize=True
            )
            if hasattr(out, "keys"):  # newer transformers return a BatchEncoding
                out = out["input_ids"]
            return len(out)
        if not isinstance(prompt, str):
            raise ConfigError("the completions API takes text prompts, not chat messages")
        return len(self._tok(prompt)["input_ids"])

    def encode(self, text: str) -> list[int]:
        return list(self._tok(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode(list(ids)))


def _random_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def exact_length_prompt(
    counter: TokenCounter,
    input_tokens: int,
    rng: random.Random,
    *,
    overhead: int | None = None,
    max_attempts: int = 12,
    prefix: str = "",
    prefix_tokens: int = 0,
) -> PromptItem:
    """A prompt of random words that the server counts as exactly ``input_tokens``
    tokens; when the tokenizer makes that impossible after ``max_attempts`` adjustments,
    the closest prompt found, with its true count. ``overhead`` is the count of an empty
    prompt (computed when not given). A ``prefix`` (text of ``prefix_tokens`` tokens, see
    :func:`exact_text`) starts the prompt; the random words follow it."""
    if overhead is None:
        overhead = counter.count("")
    target = input_tokens - overhead - prefix_tokens
    if target < 1:
        raise ConfigError(
            f"--input-tokens {input_tokens} leaves no room for text: the server adds "
            f"{overhead} tokens to every prompt (special tokens or chat template)"
            + (f" and the shared prefix takes {prefix_tokens}" if prefix_tokens else "")
        )
    lead = f"{prefix} " if prefix else ""
    words = max(8, target)
    ids = counter.encode(_random_text(rng, words))
    while len(ids) < target + 8:
        words *= 2
        ids = counter.encode(_random_text(rng, words))
    best: tuple[int, str, int] | None = None
    cut = target
    for _ in range(max_attempts):
        text = lead + counter.decode(ids[:cut])
        n = counter.count(text)
        if n == input_tokens:
            return PromptItem(text, n)
        if best is None or abs(n - input_tokens) < best[0]:
            best = (abs(n - input_tokens), text, n)
        step = input_tokens - n
        cut = max(1, min(len(ids), cut + (step if step else 1)))
    assert best is not None
    return PromptItem(best[1], best[2])


def synthetic_prompts(
    counter: TokenCounter,
    n: int,
    input_tokens: int,
    seed: int,
    stream: int = 0,
    input_tokens_stdev: float = 0.0,
    lengths: Sequence[int] | None = None,
) -> list[PromptItem]:
    """``n`` distinct prompts of ``input_tokens`` tokens each (or lengths spread around it,
    see :func:`spread_lengths`, or the given ``lengths``, one per prompt). ``stream``
    separates the prompts of different points (and of the warmup) made from one seed, so
    that no point reuses another's prompts and profits from the server's prefix cache."""
    rng = random.Random(f"{seed}:{stream}")
    overhead = counter.count("")
    if lengths is None:
        lengths = spread_lengths(
            input_tokens, input_tokens_stdev, n, random.Random(f"{seed}:{stream}:in"), overhead + 1
        )
    return [exact_length_prompt(counter, k, rng, overhead=overhead) for k in lengths[:n]]


def exact_text(counter: TokenCounter, n_tokens: int, rng: random.Random) -> str:
    """Plain text (random words from ``rng``) that encodes to exactly ``n_tokens`` tokens
    (no special tokens): cut from a longer text and adjusted until its count matches;
    ConfigError when the tokenizer makes that impossible."""
    words = max(8, n_tokens)
    ids = counter.encode(_random_text(rng, words))
    while len(ids) < n_tokens + 8:
        words *= 2
        ids = counter.encode(_random_text(rng, words))
    cut = n_tokens
    for _ in range(12):
        text = counter.decode(ids[:cut])
        got = len(counter.encode(text))
        if got == n_tokens:
            return text
        cut = max(1, min(len(ids), cut + (n_tokens - got or 1)))
    raise ConfigError(f"cannot make a text of exactly {n_tokens} tokens with this tokenizer")


def shared_prefix_prompts(
    counter: TokenCounter,
    lengths: Sequence[int],
    groups: int,
    prefix_tokens: int,
    seed: int,
    stream: int = 0,
) -> list[PromptItem]:
    """One prompt per length in ``lengths``: prompt ``i`` belongs to group ``i % groups``
    and starts with its group's prefix of exactly ``prefix_tokens`` tokens; the rest is
    its own random words, to the exact length. Each point (``stream``) has its own
    prefixes, so that no point profits from another's cache."""
    overhead = counter.count("")
    prefixes = [
        exact_text(counter, prefix_tokens, random.Random(f"{seed}:{stream}:prefix:{g}"))
        for g in range(groups)
    ]
    rng = random.Random(f"{seed}:{stream}")
    return [
        exact_length_prompt(
            counter,
            k,
            rng,
            overhead=overhead,
            prefix=prefixes[i % groups],
            prefix_tokens=prefix_tokens,
        )
        for i, k in enumerate(lengths)
    ]


def session_prompts(
    counter: TokenCounter,
    requests: Sequence[tuple[int, str | None]],
    seed: int,
    stream: int = 0,
) -> list[PromptItem]:
    """A prompt per ``(input_tokens, session_id)``, in order: a request of a session starts
    with the session's previous prompt (its context so far) when that leaves room, then its
    own random words to the exact length; a request without a session, or whose session's
    previous prompt is too long, is its own. Completions text only (a session's context is
    one text)."""
    overhead = counter.count("")
    rng = random.Random(f"{seed}:{stream}")
    last: dict[str, tuple[str, int]] = {}
    items = []
    for input_tokens, session in requests:
        prefix, prefix_tokens = last.get(session, ("", 0)) if session is not None else ("", 0)
        if input_tokens - overhead - prefix_tokens < 1:
            prefix, prefix_tokens = "", 0
        item = exact_length_prompt(
            counter,
            input_tokens,
            rng,
            overhead=overhead,
            prefix=prefix,
            prefix_tokens=prefix_tokens,
        )
        if session is not None and isinstance(item.prompt, str):
            last[session] = (item.prompt, len(counter.encode(item.prompt)))
        items.append(item)
    return items


def block_prompts(
    counter: TokenCounter,
    requests: Sequence[tuple[int, Sequence[int]]],
    block_tokens: int,
    seed: int,
    stream: int = 0,
) -> list[PromptItem]:
    """A prompt per ``(input_tokens, hash_ids)``: the text of each hash id (a block of
    ``block_tokens`` tokens, the same text wherever the id appears) for as many whole
    blocks as leave room for the rest, then its own random words to the exact length. Two
    requests whose ``hash_ids`` start alike share that prefix, as in a Mooncake trace."""
    overhead = counter.count("")
    blocks: dict[int, str] = {}
    rng = random.Random(f"{seed}:{stream}")
    items = []
    for input_tokens, hash_ids in requests:
        room = max(0, (input_tokens - overhead - 1) // block_tokens)
        ids = list(hash_ids)[:room]
        for h in ids:
            if h not in blocks:
                blocks[h] = exact_text(
                    counter, block_tokens, random.Random(f"{seed}:{stream}:block:{h}")
                )
        items.append(
            exact_length_prompt(
                counter,
                input_tokens,
                rng,
                overhead=overhead,
                prefix=" ".join(blocks[h] for h in ids),
                prefix_tokens=len(counter.encode(" ".join(blocks[h] for h in ids))),
            )
        )
    return items


def with_output_lengths(
    items: Sequence[PromptItem], output_tokens: int, stdev: float, seed: int, stream: int = 0
) -> list[PromptItem]:
    """``items`` each with its output length: ``output_tokens``, or spread around it."""
    if stdev <= 0:
        return list(items)
    lengths = spread_lengths(
        output_tokens, stdev, len(items), random.Random(f"{seed}:{stream}:out")
    )
    return [replace(it, output_tokens=k) for it, k in zip(items, lengths, strict=True)]


def _first_human_turn(entry: dict[str, Any]) -> str | None:
    for turn in entry.get("conversations", []):
        if isinstance(turn, dict) and turn.get("from") in ("human", "user"):
            value = turn.get("value")
            return value if isinstance(value, str) else None
    return None


def _prompt_of(entry: Any, where: str) -> Prompt:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        if "conversations" in entry:
            text = _first_human_turn(entry)
            if text is not None:
                return text
        for key in ("prompt", "text"):
            if isinstance(entry.get(key), str):
                return str(entry[key])
        messages = entry.get("messages")
        if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
            return messages
    raise ConfigError(
        f"{where}: not a prompt (expected a string, or an object with 'prompt', 'text', "
        "'messages' or ShareGPT 'conversations')"
    )


def load_prompt_file(path: Path) -> list[Prompt]:
    """Prompts from a ShareGPT JSON file or a JSONL file; entries without a usable prompt
    are errors naming the file and the entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"--dataset {path}: cannot read the prompt file: {exc.strerror or exc}",
            hint="give --dataset (a recipe's bench.dataset) a ShareGPT JSON or JSONL file",
        ) from exc
    prompts: list[Prompt] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        for i, entry in enumerate(data):
            if (
                isinstance(entry, dict)
                and "conversations" in entry
                and not _first_human_turn(entry)
            ):
                continue  # a ShareGPT conversation without a human turn
            prompts.append(_prompt_of(entry, f"{path}: entry {i}"))
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not valid JSON: {exc}") from exc
            prompts.append(_prompt_of(entry, f"{path}:{lineno}"))
    prompts = [p for p in prompts if p]
    if not prompts:
        raise ConfigError(f"{path}: no prompts found")
    return prompts


def dataset_prompts(
    prompts: Sequence[Prompt],
    n: int,
    seed: int,
    counter: TokenCounter | None,
    api: Api,
    stream: int = 0,
) -> list[PromptItem]:
    """``n`` prompts drawn from a prompt file's list: shuffled with the seed and cycled
    when the file has fewer. Chat messages need the chat API."""
    if api == "completions" and any(not isinstance(p, str) for p in prompts):
        raise ConfigError("the prompt file holds chat messages: use the chat API (--api chat)")
    rng = random.Random(f"{seed}:{stream}")
    order = list(range(len(prompts)))
    rng.shuffle(order)
    chosen = [prompts[order[i % len(order)]] for i in range(n)]
    counts: dict[int, int | None] = {}
    items = []
    for i in range(n):
        idx = order[i % len(order)]
        if idx not in counts:
            counts[idx] = counter.count(chosen[i]) if counter is not None else None
        items.append(PromptItem(chosen[i], counts[idx]))
    return items
