"""An in-process fake of vLLM's OpenAI-compatible server for the evaluation tests: it answers
the sums questions of :mod:`localeval.tasks` like an oracle (optionally off by a fixed
``offset``, i.e. another "model"), supports ``echo`` + ``logprobs`` for lm-eval's
loglikelihood requests, serves a byte-level tokenizer over ``/tokenize``, ``/detokenize`` and
``/tokenizer_info`` (lm-eval's remote tokenizer), and a vLLM-style Prometheus ``/metrics``.

Given an answer key (``answer_key``: a text found in each question -> :class:`KeyedAnswer`),
it answers the questions of real task configs too: the keyed text found last in a prompt
(the question asked, after any few-shot examples) picks the answer. A generation gets the
key's ``right`` text, or its ``wrong`` one when ``wrong=True``; a loglikelihood request
whose prompt ends with the key's ``right`` continuation scores it best (worst when
``wrong=True``).

A reasoning model, settable while it runs: ``thinking`` (a text) makes every generation
``<think>THINKING</think>`` followed by the answer, and ``max_tokens`` then cuts the output
(``finish_reason`` ``length``), the thinking included, as a real server's does; the
counters count every token, the thinking's too. ``reasoning_parser`` serves chat answers as
vLLM's ``--reasoning-parser`` does: the thinking in ``message.reasoning`` and
``message.reasoning_content`` (``content`` the answer, None when the cut came inside the
thinking) and ``usage.completion_tokens_details.reasoning_tokens`` (the thinking's tokens,
tags excluded).

Faults, settable while it runs: no tokenizer endpoints (``tokenizer_endpoints``), drop
the prompt logprobs (as a server without echo support
would), stop answering (``hang``, or ``hang_after`` N completion requests: later ones hang
until the fake is closed), or fail every completion with HTTP 500 after a number of
successful ones (``fail_after``). It counts what it serves, so tests can
check what a client really sent.

    with FakeCompletionsServer(model="tiny-sums", root="/models/a") as fake:
        fake.base_url  # "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Byte-level tokenizer: token id = byte value + OFFSET; ids below OFFSET are special.
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
OFFSET = 3
EOS_TOKEN = "</s>"
_SUM = re.compile(r"What is (\d+) \+ (\d+)\?")


def encode(text: str) -> list[int]:
    """Token ids of ``text`` (one per UTF-8 byte; the EOS string alone is the EOS id)."""
    if text == EOS_TOKEN:
        return [EOS_ID]
    return [b + OFFSET for b in text.encode("utf-8")]


def decode(ids: list[int]) -> str:
    """Text of token ids (special ids are dropped)."""
    return bytes(i - OFFSET for i in ids if i >= OFFSET).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class KeyedAnswer:
    """The answers to one keyed question. ``right``: the text a right model generates, or
    for a loglikelihood task the right continuation as lm-eval sends it (with its leading
    delimiter). ``wrong``: the text a wrong model generates."""

    right: str
    wrong: str = ""


# Per-token logprobs of a keyed loglikelihood request: the right continuation's tokens, and
# every other token. A right model makes the right continuation the most likely choice, by
# total and per byte, for any choice under 100x its length; a wrong one the least likely.
_KEYED_LOGPROBS = {False: (-0.01, -1.0), True: (-50.0, -0.01)}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the crash test) is expected, not an error to print.
        pass


@dataclass
class Counters:
    """What the fake has served (successful completions only, like vLLM's counters)."""

    requests: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    prompts: list[str] = field(default_factory=list)
    failed: int = 0
    received: int = 0


class FakeCompletionsServer:
    """See the module docstring. ``offset`` is added to every true sum: 0 answers right,
    anything else answers wrong (another model)."""

    def __init__(
        self,
        *,
        model: str = "tiny-sums",
        root: str | None = None,
        offset: int = 0,
        max_model_len: int = 1024,
        chat_template: str | None = "{{ messages[-1]['content'] }}",
        delay_s: float = 0.0,
        answer_key: dict[str, KeyedAnswer] | None = None,
        wrong: bool = False,
    ) -> None:
        self.model = model
        self.answer_key = dict(answer_key or {})
        self.wrong = wrong
        # A root of its own by default, so that two fakes never share a cache namespace.
        self.root = root if root is not None else f"/models/{model}-{uuid.uuid4().hex[:8]}"
        self.offset = offset
        self.max_model_len = max_model_len
        self.chat_template = chat_template
        self.delay_s = delay_s
        self.drop_prompt_logprobs = False
        self.tokenizer_endpoints = True  # False: no /tokenizer_info, /tokenize, /detokenize
        self.hang = False
        self.hang_after: int | None = None
        self.fail_after: int | None = None
        self.thinking: str | None = None
        self.reasoning_parser = False
        self.counters = Counters()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeCompletionsServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response, sent at once (no 40 ms delayed-ACK stalls).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake._get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake._post(self, body)

        server = _QuietServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = Counters()

    # -- the "model" ---------------------------------------------------------------------
    def keyed(self, prompt: str) -> KeyedAnswer | None:
        """The key entry of the keyed question found last in ``prompt`` (None if none)."""
        best: tuple[int, KeyedAnswer] | None = None
        for text, entry in self.answer_key.items():
            at = prompt.rfind(text)
            if at >= 0 and (best is None or at > best[0]):
                best = (at, entry)
        return None if best is None else best[1]

    def generate(self, prompt: str) -> str:
        """The fake model's generation for ``prompt``: the keyed answer, else the sum."""
        entry = self.keyed(prompt)
        if entry is not None:
            return entry.wrong if self.wrong else entry.right
        answer = self.answer(prompt)
        return f" {answer}" if answer is not None else " ?"

    def think(self, out: str, max_tokens: Any) -> tuple[str, int, str]:
        """In thinking mode, ``out`` after its thinking, cut at ``max_tokens``: the text,
        the generated tokens (the stop token counts when not cut) and the finish reason."""
        if self.thinking is None:
            return out, len(encode(out)) + 1, "stop"
        ids = encode(f"<think>{self.thinking}</think>{out}")
        if isinstance(max_tokens, int) and len(ids) + 1 > max_tokens:
            return decode(ids[:max_tokens]), max_tokens, "length"
        return decode(ids), len(ids) + 1, "stop"

    def answer(self, prompt: str) -> str | None:
        """The fake model's answer to the last sums question in ``prompt`` (None if none)."""
        found = _SUM.findall(prompt)
        if not found:
            return None
        a, b = found[-1]
        return str(int(a) + int(b) + self.offset)

    def _echo_logprobs(self, ids: list[int]) -> dict[str, Any]:
        """Logprobs for every prompt token (first None) plus one generated token. Tokens
        after the last 'Answer:' score -0.1 each when they spell the model's answer, else
        -5; earlier tokens -1."""
        text = decode(ids)
        token_logprobs: list[float | None] = [None]
        entry = self.keyed(text)
        if entry is not None:
            right_lp, other_lp = _KEYED_LOGPROBS[self.wrong]
            start = len(ids) - len(encode(entry.right)) if text.endswith(entry.right) else len(ids)
            token_logprobs += [right_lp if i >= start else other_lp for i in range(1, len(ids))]
        else:
            cut = text.rfind("Answer:")
            answer_start = len(text[: cut + len("Answer:")].encode()) if cut >= 0 else len(ids)
            continuation = text[cut + len("Answer:") :].strip() if cut >= 0 else ""
            right = continuation == self.answer(text)
            for i in range(1, len(ids)):
                token_logprobs.append((-0.1 if right else -5.0) if i >= answer_start else -1.0)
        token_logprobs.append(-0.5)  # the generated token
        tokens = [decode([i]) for i in ids] + ["\n"]
        top: list[dict[str, float | None] | None] = [None]
        top += [{tok: lp} for tok, lp in zip(tokens[1:], token_logprobs[1:], strict=True)]
        if self.drop_prompt_logprobs:
            # What a server without prompt logprobs sends: the generated token only.
            return {
                "tokens": tokens[-1:],
                "token_logprobs": token_logprobs[-1:],
                "top_logprobs": top[-1:],
                "text_offset": [0],
            }
        return {
            "tokens": tokens,
            "token_logprobs": token_logprobs,
            "top_logprobs": top,
            "text_offset": list(range(len(tokens))),
        }

    # -- HTTP ----------------------------------------------------------------------------
    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, body: Any, text: bool = False) -> None:
        data = body.encode() if text else json.dumps(body).encode()
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "text/plain" if text else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        if path == "/tokenizer_info" and not self.tokenizer_endpoints:
            self._send(handler, 404, {"error": "not found"})
        elif path == "/health":
            self._send(handler, 200, {})
        elif path == "/v1/models":
            entry = {
                "id": self.model,
                "object": "model",
                "root": self.root,
                "max_model_len": self.max_model_len,
            }
            self._send(handler, 200, {"object": "list", "data": [entry]})
        elif path == "/tokenizer_info":
            info = {"eos_token": EOS_TOKEN, "bos_token": None, "pad_token": None}
            if self.chat_template:
                info["chat_template"] = self.chat_template
            self._send(handler, 200, info)
        elif path == "/metrics":
            self._send(handler, 200, self.metrics_text(), text=True)
        else:
            self._send(handler, 404, {"error": "not found"})

    def metrics_text(self) -> str:
        """The counters in vLLM's Prometheus names."""
        c = self.counters
        label = f'{{model_name="{self.model}",engine="0"}}'
        return "".join(
            [
                "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n",
                "# TYPE vllm:prompt_tokens_total counter\n",
                f"vllm:prompt_tokens_total{label} {float(c.prompt_tokens)}\n",
                "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n",
                "# TYPE vllm:generation_tokens_total counter\n",
                f"vllm:generation_tokens_total{label} {float(c.generation_tokens)}\n",
                "# HELP vllm:request_success_total Count of successfully processed requests.\n",
                "# TYPE vllm:request_success_total counter\n",
                f'vllm:request_success_total{{model_name="{self.model}",engine="0",'
                f'finished_reason="length"}} {float(c.requests)}\n',
                "# HELP vllm:num_requests_running Number of requests in model execution batches.\n",
                "# TYPE vllm:num_requests_running gauge\n",
                f"vllm:num_requests_running{label} 0.0\n",
            ]
        )

    def _post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        path = handler.path
        if path in ("/tokenize", "/detokenize") and not self.tokenizer_endpoints:
            self._send(handler, 404, {"error": "not found"})
            return
        if path == "/tokenize":
            self._send(handler, 200, {"tokens": encode(str(body.get("prompt", "")))})
            return
        if path == "/detokenize":
            self._send(handler, 200, {"prompt": decode(list(body.get("tokens", [])))})
            return
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self._send(handler, 404, {"error": "not found"})
            return
        with self._lock:
            self.counters.received += 1
            hang = self.hang or (
                self.hang_after is not None and self.counters.received > self.hang_after
            )
        if hang:
            self._closed.wait()
            return
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            if self.fail_after is not None and self.counters.requests >= self.fail_after:
                self.counters.failed += 1
                failing = True
            else:
                failing = False
        if failing:
            self._send(handler, 500, {"error": "injected failure"})
            return
        if body.get("model") != self.model:
            self._send(handler, 404, {"error": f"model {body.get('model')!r} not served"})
            return
        if path == "/v1/completions":
            self._complete(handler, body)
        else:
            self._chat(handler, body)

    def _record(self, prompt_text: str, prompt_tokens: int, generated: int) -> None:
        with self._lock:
            self.counters.requests += 1
            self.counters.prompt_tokens += prompt_tokens
            self.counters.generation_tokens += generated
            self.counters.prompts.append(prompt_text)

    def _complete(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        prompt = body.get("prompt")
        # A prompt is a string, a list of token ids, or a batch (list) of either.
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], (list, str)):
            batch = list(prompt)
        else:
            batch = [prompt]
        choices = []
        prompt_total = generated_total = 0
        for index, item in enumerate(batch):
            ids = list(item) if isinstance(item, list) else encode(str(item))
            text = decode(ids)
            if body.get("echo"):
                logprobs = self._echo_logprobs(ids) if body.get("logprobs") is not None else None
                choice = {"index": index, "text": text + "\n", "logprobs": logprobs}
                generated = 1
            else:
                out, generated, finish = self.think(self.generate(text), body.get("max_tokens"))
                # the stop token counts, as in vLLM
                choice = {"index": index, "text": out, "logprobs": None, "finish_reason": finish}
            self._record(text, len(ids), generated)
            choices.append(choice)
            prompt_total += len(ids)
            generated_total += generated
        usage = {"prompt_tokens": prompt_total, "completion_tokens": generated_total}
        self._send(handler, 200, {"object": "text_completion", "choices": choices, "usage": usage})

    def _chat(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        rendered = "".join(str(m.get("content", "")) for m in messages)
        ids = encode(rendered)
        out, generated, finish = self.think(self.generate(rendered), body.get("max_tokens"))
        self._record(rendered, len(ids), generated)
        message: dict[str, Any] = {"role": "assistant", "content": out}
        usage: dict[str, Any] = {"prompt_tokens": len(ids), "completion_tokens": generated}
        if self.reasoning_parser and out.startswith("<think>"):
            thought, closed, answer = out[len("<think>") :].partition("</think>")
            message = {
                "role": "assistant",
                "content": answer if closed else None,
                "reasoning": thought,
                "reasoning_content": thought,
            }
            usage["completion_tokens_details"] = {"reasoning_tokens": len(encode(thought))}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        self._send(handler, 200, {"object": "chat.completion", "choices": [choice], "usage": usage})


def write_byte_tokenizer(folder: str | Path, chat_template: str | None = None) -> Path:
    """Save a Hugging Face tokenizer that tokenizes exactly like the fake (one token per
    byte, id = byte + OFFSET; ``<pad>``, ``<s>``, ``</s>`` are 0, 1, 2), so lm-eval can use
    a local tokenizer against the fake."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    # ByteLevel maps each byte to a printable character; give each the fake's id.
    mapping = _bytes_to_unicode()
    vocab = {"<pad>": PAD_ID, "<s>": BOS_ID, EOS_TOKEN: EOS_ID}
    for b in range(256):
        vocab[mapping[b]] = b + OFFSET
    assert set(mapping.values()) == set(byte_chars)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token=EOS_TOKEN,
        pad_token="<pad>",
        chat_template=chat_template,
        clean_up_tokenization_spaces=False,
    )
    out = Path(folder)
    tok.save_pretrained(out)
    return out


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what ByteLevel uses)."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}
