"""Multi-turn conversations (``bench --turns``): each client process keeps the history of
its own conversations, and counts what their turns sent in a :class:`ConversationTally`
(sums and counts per turn, not means), so that the tallies of a point's processes merge
into exactly what one process would report.

Conversation ``c``'s turn ``t`` sends every earlier user message and the server's own
answers to them, then its new user message: the point's message ``c * turns + t``
(cycled), whichever process runs the conversation, so the workload is the same however
many processes share the point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from localeval.bench.client import StreamingClient
from localeval.bench.records import RequestRecord


@dataclass
class ConversationTally:
    """What conversations sent: the conversations started and, per turn, the prompt tokens
    the server counted (their sum over the turns it counted them for) and the most
    answers of earlier turns a turn carried."""

    turns: int
    conversations: int = 0
    turn_prompt_tokens_sum: list[int] = field(default_factory=list)
    turn_prompts_counted: list[int] = field(default_factory=list)
    turn_previous_answers_max: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.turns < 1:
            raise ValueError("a conversation has at least one turn")
        self.turn_prompt_tokens_sum = self.turn_prompt_tokens_sum or [0] * self.turns
        self.turn_prompts_counted = self.turn_prompts_counted or [0] * self.turns
        self.turn_previous_answers_max = self.turn_previous_answers_max or [None] * self.turns

    def add(self, turn: int, previous_answers: int, prompt_tokens: int | None) -> None:
        """One turn sent, carrying ``previous_answers`` answers; ``prompt_tokens`` as the
        server counted them (None: failed or not counted)."""
        if turn == 0:
            self.conversations += 1
        most = self.turn_previous_answers_max[turn]
        self.turn_previous_answers_max[turn] = (
            previous_answers if most is None else max(most, previous_answers)
        )
        if prompt_tokens is not None:
            self.turn_prompt_tokens_sum[turn] += prompt_tokens
            self.turn_prompts_counted[turn] += 1

    def merge(self, other: ConversationTally) -> None:
        """Add another process's tally of the same point."""
        if other.turns != self.turns:
            raise ValueError(f"tallies of {self.turns} and {other.turns} turns do not merge")
        self.conversations += other.conversations
        for t in range(self.turns):
            self.turn_prompt_tokens_sum[t] += other.turn_prompt_tokens_sum[t]
            self.turn_prompts_counted[t] += other.turn_prompts_counted[t]
            mine, theirs = self.turn_previous_answers_max[t], other.turn_previous_answers_max[t]
            if theirs is not None:
                self.turn_previous_answers_max[t] = theirs if mine is None else max(mine, theirs)

    def summary(self) -> dict[str, Any]:
        """The point's workload figures: the conversations sent, each turn's mean prompt
        tokens (the prompt's growth) and the answers each turn carried."""
        return {
            "turns": self.turns,
            "conversations": self.conversations,
            "turn_prompt_tokens_mean": [
                total / n if n else None
                for total, n in zip(
                    self.turn_prompt_tokens_sum, self.turn_prompts_counted, strict=True
                )
            ],
            "turn_previous_answers": list(self.turn_previous_answers_max),
        }


def merged_tally(tallies: Sequence[ConversationTally | None]) -> ConversationTally | None:
    """The tallies of a point's shares merged into a new one; None when there is none (a
    point of single requests)."""
    present = [t for t in tallies if t is not None]
    if not present:
        return None
    out = ConversationTally(present[0].turns)
    for tally in present:
        out.merge(tally)
    return out


class Conversations:
    """One client process's conversations of a point: the history of each conversation in
    progress (dropped when it ends) and the tally of what was sent. :meth:`send_turn` is
    the ``send_turn`` of :func:`~localeval.bench.schedule.run_conversations`."""

    def __init__(
        self,
        client: StreamingClient,
        turns: int,
        messages: Sequence[str],
        expected_prompt_tokens: Sequence[int | None],
        output_tokens: Sequence[int],
    ) -> None:
        if not messages or not len(messages) == len(expected_prompt_tokens) == len(output_tokens):
            raise ValueError("one expected prompt and output length per message, at least one")
        self.client = client
        self.turns = turns
        self.messages = messages
        self.expected_prompt_tokens = expected_prompt_tokens
        self.output_tokens = output_tokens
        self.history: dict[int, list[dict[str, Any]]] = {}
        self.tally = ConversationTally(turns)

    async def send_turn(self, conv: int, turn: int, index: int, t: float) -> RequestRecord:
        """Send conversation ``conv``'s turn ``turn`` as request ``index``, due at ``t``."""
        k = (conv * self.turns + turn) % len(self.messages)
        user = self.messages[k]
        history = self.history.setdefault(conv, [])
        messages = [*history, {"role": "user", "content": user}]
        out = self.output_tokens[k]
        record = await self.client.send(
            index,
            self.client.body(messages, out),
            scheduled_t=t,
            expected_prompt_tokens=self.expected_prompt_tokens[k] if turn == 0 else None,
            expected_output_tokens=out,
            keep_text=True,
        )
        answers = sum(m["role"] == "assistant" for m in history)
        self.tally.add(turn, answers, record.prompt_tokens if record.ok else None)
        if record.ok:
            history += [
                {"role": "user", "content": user},
                {"role": "assistant", "content": record.output_text or ""},
            ]
        if not record.ok or turn == self.turns - 1:
            self.history.pop(conv, None)
        return replace(record, output_text=None, conversation=conv, turn=turn)
