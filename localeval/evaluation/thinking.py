"""A reasoning model's answer apart from its thinking, as pure functions over what the server
returned.

A reasoning model writes its thinking before its answer. Served with vLLM's
``--reasoning-parser``, a chat response carries the thinking in ``message.reasoning``
(``reasoning_content`` before vLLM 0.11) and the answer alone in ``message.content``.
Without a parser (and always on ``/v1/completions``), the thinking sits inside the text,
between ``<think>`` and ``</think>``; a chat template that opens the ``<think>`` itself (the
R1 distills do) leaves only the closing tag in the output. Scoring must see the answer only:
lm-eval's filters (the last number, the first letter, ...) would otherwise pick a figure out
of the thinking.

A thinking that ``max_gen_toks`` cut off has no closing tag: its answer is empty, and the
request's ``finish_reason`` is ``length``. Without the opening tag (the template opened it)
such an output cannot be told from a plain answer; it is counted as truncated all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
REASONING_FIELDS = ("reasoning", "reasoning_content")
"""Where vLLM's reasoning parser puts the thinking of a chat answer (newest name first)."""


@dataclass(frozen=True)
class Split:
    """One generation: ``answer`` (what scoring sees), ``thinking`` (the reasoning text,
    without its tags), ``truncated_thinking`` (an opening tag never closed)."""

    answer: str
    thinking: str
    truncated_thinking: bool = False


def split_thinking(text: str) -> Split:
    """The answer and the thinking of ``text``. The answer follows the last ``</think>``
    (leading whitespace dropped, as lm-eval's own ``think_end_token`` does); a ``<think>``
    never closed is a thinking cut off, whose answer is what came before it (nothing, for a
    model that starts with its thinking); a text without tags is all answer."""
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        thinking = text[:close]
        opened = thinking.find(THINK_OPEN)
        if opened >= 0:
            thinking = thinking[opened + len(THINK_OPEN) :]
        return Split(text[close + len(THINK_CLOSE) :].lstrip(), thinking.strip())
    opened = text.find(THINK_OPEN)
    if opened >= 0:
        return Split(text[:opened].rstrip(), text[opened + len(THINK_OPEN) :].strip(), True)
    return Split(text, "")


def strip_thinking(text: str) -> tuple[str, int]:
    """``text`` without its thinking, and the thinking's length in characters (0: none)."""
    split = split_thinking(text)
    return split.answer, len(split.thinking)


@dataclass(frozen=True)
class Generation:
    """What one choice of a generation response holds for the accounting: the thinking
    (from the parser's field or the tags), whether ``max_gen_toks`` cut it off
    (``finish_reason`` ``length``)."""

    thinking: str
    truncated: bool


def choice_generation(choice: Mapping[str, Any]) -> Generation:
    """The thinking and the cut-off of one response choice, chat (``message``) or
    completions (``text``)."""
    message = choice.get("message")
    thinking = ""
    if isinstance(message, Mapping):
        for name in REASONING_FIELDS:
            value = message.get(name)
            if isinstance(value, str) and value:
                thinking = value.strip()
                break
        content = message.get("content")
        text = content if isinstance(content, str) else ""
    else:
        raw = choice.get("text")
        text = raw if isinstance(raw, str) else ""
    inline = split_thinking(text).thinking
    if inline:
        thinking = f"{thinking}\n{inline}" if thinking else inline
    return Generation(thinking, choice.get("finish_reason") == "length")


def usage_reasoning_tokens(usage: Any) -> int | None:
    """``usage.completion_tokens_details.reasoning_tokens`` when the server gave it."""
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("completion_tokens_details")
    if not isinstance(details, Mapping):
        return None
    value = details.get("reasoning_tokens")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
