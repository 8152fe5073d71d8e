"""Workloads: exact-length synthetic prompts (with a tokenizer whose cuts do not round-trip,
with the server's /tokenize, with a local Hugging Face tokenizer), prompt files, seeds."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from localeval.bench.workloads import (
    _WORDS,
    ServerTokenizer,
    dataset_prompts,
    exact_length_prompt,
    load_prompt_file,
    spread_lengths,
    synthetic_prompts,
    with_output_lengths,
)
from localeval.endpoint import Endpoint
from localeval.errors import ConfigError
from localeval.results.bench import length_bounds
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer


class SplitWordCounter:
    """Words of up to 4 letters are one token, longer words two (first 4 letters, rest);
    one BOS token. Cutting a long word in half and decoding gives a short word, which
    re-tokenizes differently: the adjusting loop has to cope."""

    def __init__(self) -> None:
        self.vocab: list[str] = []

    def _pieces(self, text: str) -> list[str]:
        out: list[str] = []
        for word in text.split():
            out += [word] if len(word) <= 4 else [word[:4], "##" + word[4:]]
        return out

    def count(self, prompt: object) -> int:
        assert isinstance(prompt, str)
        return 1 + len(self._pieces(prompt))

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self._pieces(text):
            if piece not in self.vocab:
                self.vocab.append(piece)
            ids.append(self.vocab.index(piece))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        text = ""
        for i in ids:
            piece = self.vocab[i]
            text += piece[2:] if piece.startswith("##") else " " + piece
        return text.strip()


@pytest.mark.parametrize("n_tokens", [2, 5, 17, 64, 300])
def test_exact_length_with_a_tokenizer_that_does_not_round_trip(n_tokens: int) -> None:
    counter = SplitWordCounter()
    rng = random.Random(7)
    for _ in range(10):
        item = exact_length_prompt(counter, n_tokens, rng)
        assert counter.count(item.prompt) == n_tokens
        assert item.expected_prompt_tokens == n_tokens


def test_input_shorter_than_the_special_tokens_is_an_error() -> None:
    with pytest.raises(ConfigError, match="leaves no room"):
        exact_length_prompt(SplitWordCounter(), 1, random.Random(0))


def test_synthetic_prompts_are_seeded_distinct_and_separate_per_stream() -> None:
    a = synthetic_prompts(SplitWordCounter(), 5, 20, seed=1, stream=0)
    b = synthetic_prompts(SplitWordCounter(), 5, 20, seed=1, stream=0)
    c = synthetic_prompts(SplitWordCounter(), 5, 20, seed=1, stream=1)
    d = synthetic_prompts(SplitWordCounter(), 5, 20, seed=2, stream=0)
    assert [i.prompt for i in a] == [i.prompt for i in b]
    assert len({i.prompt for i in a}) == 5
    assert not {i.prompt for i in a} & {i.prompt for i in c}
    assert [i.prompt for i in a] != [i.prompt for i in d]


def test_spread_lengths_are_seeded_and_clipped_to_three_deviations() -> None:
    assert spread_lengths(100, 0.0, 4, random.Random(0)) == [100] * 4
    assert length_bounds(100, 10.0) == (70, 130)
    assert length_bounds(10, 10.0) == (1, 40)  # never below one token
    assert length_bounds(10, 10.0, floor=5) == (5, 40)
    draws = spread_lengths(100, 10.0, 2000, random.Random(7))
    assert draws == spread_lengths(100, 10.0, 2000, random.Random(7))
    assert min(draws) >= 70 and max(draws) <= 130
    assert len(set(draws)) > 20  # spread, not one length
    wide = spread_lengths(10, 10.0, 2000, random.Random(7))
    assert min(wide) == 1  # the clip is reached, and holds


def test_synthetic_prompts_spread_their_exact_lengths() -> None:
    counter = SplitWordCounter()
    items = synthetic_prompts(counter, 30, 40, seed=3, input_tokens_stdev=8.0)
    lengths = [i.expected_prompt_tokens for i in items]
    assert lengths == [counter.count(i.prompt) for i in items]  # each one exact
    assert all(n is not None and 16 <= n <= 64 for n in lengths)
    assert len(set(lengths)) > 5
    same = synthetic_prompts(SplitWordCounter(), 30, 40, seed=3, input_tokens_stdev=8.0)
    assert [i.expected_prompt_tokens for i in same] == lengths


def test_output_lengths_spread_per_request() -> None:
    items = synthetic_prompts(SplitWordCounter(), 20, 10, seed=1)
    assert with_output_lengths(items, 32, 0.0, seed=1) == items
    spread = with_output_lengths(items, 32, 4.0, seed=1)
    outs = [i.output_tokens for i in spread]
    assert all(o is not None and 20 <= o <= 44 for o in outs) and len(set(outs)) > 3
    assert [i.prompt for i in spread] == [i.prompt for i in items]
    assert outs != [i.output_tokens for i in with_output_lengths(items, 32, 4.0, seed=1, stream=1)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(chat_template_tokens=6)) as server:
        yield server


@pytest.mark.parametrize(("api", "overhead"), [("completions", 1), ("chat", 6)])
def test_server_tokenizer_counts_like_the_server(
    fake: FakeOpenAIServer, api: str, overhead: int
) -> None:
    counter = ServerTokenizer(Endpoint(fake.base_url, "fake-model"), api)  # type: ignore[arg-type]
    try:
        assert counter.count("") == overhead
        assert counter.count("a b c") == 3 + overhead
        items = synthetic_prompts(counter, 3, 40, seed=0)
        for item in items:
            assert item.expected_prompt_tokens == 40
            assert isinstance(item.prompt, str)
            assert len(item.prompt.split()) == 40 - overhead  # the fake: one token a word
    finally:
        counter.close()


def test_hf_tokenizer_counts_special_tokens_and_chat_template(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from localeval.bench.workloads import HfTokenizer

    # w0..w2 for exact checks, then the words synthetic prompts are made of
    words = [f"w{i}" for i in range(3)] + [w for w in dict.fromkeys(_WORDS)]
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(
        {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", *words])}, unk_token="<unk>"
    ))  # fmt: skip
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 1)]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = (
        "{% for m in messages %}<s> {{ m['content'] }} </s>{% endfor %}"
        "{% if add_generation_prompt %} <s>{% endif %}"
    )
    fast.save_pretrained(tmp_path / "tok")
    completions = HfTokenizer(str(tmp_path / "tok"), "completions")
    assert completions.count("w0 w1 w2") == 4  # BOS + 3
    assert completions.encode("w0 w1") == [3, 4]  # after <unk> <s> </s>
    chat = HfTokenizer(str(tmp_path / "tok"), "chat")
    assert chat.count("w0 w1 w2") == 3 + 3  # <s> ... </s> <s>
    item = synthetic_prompts(completions, 1, 12, seed=0)[0]
    assert completions.count(item.prompt) == 12
    with pytest.raises(ConfigError, match="cannot load the tokenizer"):
        HfTokenizer(str(tmp_path / "missing"), "completions")


def test_sharegpt_and_jsonl_prompt_files(tmp_path: Path) -> None:
    sharegpt = tmp_path / "sg.json"
    sharegpt.write_text(
        json.dumps(
            [
                {
                    "conversations": [
                        {"from": "human", "value": "hi"},
                        {"from": "gpt", "value": "x"},
                    ]
                },
                {"conversations": [{"from": "gpt", "value": "no human turn"}]},
                {
                    "conversations": [
                        {"from": "system", "value": "s"},
                        {"from": "human", "value": "yo"},
                    ]
                },
            ]
        )
    )
    assert load_prompt_file(sharegpt) == ["hi", "yo"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        '{"prompt": "a"}\n\n"b"\n{"text": "c"}\n{"messages": [{"role": "user", "content": "d"}]}\n'
    )
    assert load_prompt_file(jsonl) == ["a", "b", "c", [{"role": "user", "content": "d"}]]


def test_bad_prompt_files_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{"nope": 1}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2"):
        load_prompt_file(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": \n')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_prompt_file(broken)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="no prompts"):
        load_prompt_file(empty)
    with pytest.raises(ConfigError, match="cannot read"):
        load_prompt_file(tmp_path / "missing.jsonl")


def test_dataset_prompts_cycle_seeded_and_counted() -> None:
    prompts = ["one", "two of", "six of the"]  # short words: one token each
    counter = SplitWordCounter()
    a = dataset_prompts(prompts, 7, seed=5, counter=counter, api="completions")
    b = dataset_prompts(prompts, 7, seed=5, counter=counter, api="completions")
    assert [i.prompt for i in a] == [i.prompt for i in b]
    assert {i.prompt for i in a[:3]} == set(prompts)  # every prompt before any repeat
    assert [i.prompt for i in a[3:6]] == [i.prompt for i in a[:3]]
    for item in a:
        assert item.expected_prompt_tokens == 1 + len(str(item.prompt).split())
    unknown = dataset_prompts(prompts, 2, seed=5, counter=None, api="completions")
    assert all(i.expected_prompt_tokens is None for i in unknown)
    with pytest.raises(ConfigError, match="chat messages"):
        dataset_prompts([[{"role": "user", "content": "x"}]], 1, 0, None, "completions")
