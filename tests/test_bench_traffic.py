"""The workloads real traffic has, against the fake server with known latencies: lengths
drawn from a file, shared prefixes (with the prefix cache reset between points), multi-turn
conversations carrying the server's answers, trace replay (localeval's JSONL, Mooncake,
Azure) at its own timing or sped up; each with its parameters in result.json."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.bench.conversations import ConversationTally, merged_tally
from localeval.bench.records import RequestRecord
from localeval.bench.schedule import arrival_offsets, dealt_arrivals, run_conversations
from localeval.bench.traces import LengthPair, load_lengths, load_trace, sample_lengths
from localeval.cli import cli
from localeval.errors import ConfigError
from localeval.results.bench import BenchResult
from localeval.testing.fake_server import FakeBehavior, FakeOpenAIServer

DATA = Path(__file__).parent / "data" / "workloads"
ANSWER_8 = "".join(f" t{k}" for k in range(8))  # what the fake streams for 8 tokens


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=5.0, itl_ms=1.0)) as server:
        yield server


def bench(
    fake: FakeOpenAIServer, tmp_path: Path, *args: str, code: int = 0
) -> tuple[Any, dict[str, Any]]:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--endpoint",
            fake.base_url,
            "--model",
            "fake-model",
            "--output",
            str(out),
            "--warmup",
            "1",
            "--no-report",
            *args,
        ],
        catch_exceptions=code != 0,
    )
    assert result.exit_code == code, result.output
    data = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    if data:
        BenchResult.model_validate(data)  # the file stays a valid bench schema 3 result
    return result, data


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "run" / "requests.jsonl").open()]


def measured(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["messages"])


# -- lengths from a file ----------------------------------------------------------------


def test_lengths_file_readers_and_seeded_sampling() -> None:
    pairs = [LengthPair(12, 3), LengthPair(20, 5), LengthPair(31, 9)]
    assert load_lengths(DATA / "lengths.jsonl") == pairs
    assert load_lengths(DATA / "lengths.csv") == pairs
    a = sample_lengths(pairs, 50, random.Random("7:0:lengths"))
    b = sample_lengths(pairs, 50, random.Random("7:0:lengths"))
    assert a == b and set(a) == set(pairs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"input_tokens": 0, "output_tokens": 3}\n', "positive whole number"),
        ('{"input_tokens": 5}\n', "no output_tokens"),
        ("input_tokens,output_tokens\n", "no length pairs"),
        ('{"input_tokens": 4.5, "output_tokens": 3}\n', "positive whole number"),
    ],
)
def test_bad_lengths_files_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_lengths(path)


@pytest.mark.parametrize("name", ["lengths.jsonl", "lengths.csv"])
def test_lengths_file_workload(fake: FakeOpenAIServer, tmp_path: Path, name: str) -> None:
    result, data = bench(
        fake,
        tmp_path,
        "--lengths",
        str(DATA / name),
        "--concurrency",
        "2",
        "--num-requests",
        "30",
        "--seed",
        "3",
    )
    allowed = {(12, 3), (20, 5), (31, 9)}
    recs = records(tmp_path)
    drawn = [(r["prompt_tokens"], r["output_tokens"]) for r in recs]
    # every request's lengths are one of the file's pairs, and the draw is not one pair
    assert set(drawn) <= allowed and len(set(drawn)) > 1
    assert all(r["expected_prompt_tokens"] == r["prompt_tokens"] for r in recs)
    w = data["workload"]
    assert w["kind"] == "lengths_file" and w["lengths_file"] == str(DATA / name)
    assert w["lengths_pairs"] == 3 and w["input_tokens"] is None and w["output_tokens"] is None
    assert w["lengths_file_mean_input_tokens"] == pytest.approx(21.0)
    # no shared prefixes: no prefix-cache column, though the server counts hits
    assert data["points"][0]["workload"]["prefix_cache_hit_rate"] is not None
    assert "prefix" not in result.output
    point = data["points"][0]
    assert point["workload"]["measured_input_tokens"] == sum(i for i, _ in drawn)
    assert point["workload"]["measured_output_tokens"] == sum(o for _, o in drawn)
    # the same seed draws the same lengths
    again = tmp_path / "again"
    again.mkdir()
    bench(
        fake,
        again,
        "--lengths",
        str(DATA / name),
        "--concurrency",
        "2",
        "--num-requests",
        "30",
        "--seed",
        "3",
    )
    assert sorted(drawn) == sorted((r["prompt_tokens"], r["output_tokens"]) for r in records(again))


def test_lengths_file_with_a_spread_is_bad_usage(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, _ = bench(
        fake,
        tmp_path,
        "--lengths",
        str(DATA / "lengths.csv"),
        "--concurrency",
        "1",
        "--input-tokens-stdev",
        "4",
        code=2,
    )
    assert "--lengths" in result.output


# -- shared prefix --------------------------------------------------------------------------


def test_shared_prefix_groups_and_prefix_cache_reset(tmp_path: Path) -> None:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=5.0, itl_ms=1.0, prefix_cache_reset=True)) as fake:
        result, data = bench(
            fake,
            tmp_path,
            "--prefix-groups",
            "3",
            "--prefix-tokens",
            "32",
            "--input-tokens",
            "48",
            "--output-tokens",
            "4",
            "--concurrency",
            "1,3",
            "--num-requests",
            "12",
        )
        resets = fake.prefix_cache_resets
        bodies = fake.request_bodies[1:]  # the warmup's first
    assert resets == 2  # one before each point
    words = [b["prompt"].split() for b in bodies]
    # 48 tokens each: the BOS, a 32-token group prefix, 15 tokens of its own
    assert all(len(w) == 47 for w in words)
    for point in range(2):
        prompts = words[point * 12 : (point + 1) * 12]
        groups: dict[int, set[tuple[str, ...]]] = {}
        for i, w in enumerate(prompts):
            groups.setdefault(i % 3, set()).add(tuple(w[:32]))
        assert all(len(prefixes) == 1 for prefixes in groups.values())
        assert len({next(iter(p)) for p in groups.values()}) == 3  # the groups differ
        assert len({tuple(w[32:]) for w in prompts}) == 12  # the rest is each prompt's own
    assert all(r["prompt_tokens"] == 48 for r in records(tmp_path))
    w = data["workload"]
    assert w["kind"] == "shared_prefix" and w["prefix_groups"] == 3 and w["prefix_tokens"] == 32
    for point in data["points"]:
        pw = point["workload"]
        assert pw["prefix_cache_reset"] is True
        # 12 prompts of 48 tokens; the 9 after each group's first hit its 32-token prefix
        # in 16-token blocks (the BOS + 15 prefix tokens, then 16 more)
        assert pw["prefix_cache_queries_tokens"] == 12 * 48
        assert pw["prefix_cache_hits_tokens"] == 9 * 32
        assert pw["prefix_cache_hit_rate"] == pytest.approx(9 * 32 / (12 * 48))
        assert point["server_metrics"]["prefix_cache_hits_tokens"] == 9 * 32
    # the terminal table shows each point's hit rate
    assert "prefix" in result.output
    assert result.output.count("50.0%") == 2


def test_prefix_cache_reset_not_allowed_is_recorded(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(
        fake,
        tmp_path,
        "--prefix-groups",
        "2",
        "--prefix-tokens",
        "20",
        "--input-tokens",
        "30",
        "--output-tokens",
        "2",
        "--concurrency",
        "2",
        "--num-requests",
        "4",
    )
    assert data["points"][0]["workload"]["prefix_cache_reset"] == "not allowed by the server"


def test_prefix_longer_than_the_prompt_is_bad_usage(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, _ = bench(
        fake,
        tmp_path,
        "--prefix-groups",
        "2",
        "--prefix-tokens",
        "64",
        "--input-tokens",
        "32",
        "--concurrency",
        "1",
        code=2,
    )
    assert "--prefix-tokens" in result.output


# -- multi-turn conversations ---------------------------------------------------------------


def test_turns_carry_the_previous_answers(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(
        fake,
        tmp_path,
        "--api",
        "chat",
        "--turns",
        "3",
        "--think-time-ms",
        "20",
        "--input-tokens",
        "16",
        "--output-tokens",
        "8",
        "--concurrency",
        "2",
        "--num-requests",
        "12",
    )
    bodies = fake.request_bodies[1:]
    assert len(bodies) == 12
    by_turn: Counter[int] = Counter()
    for body in bodies:
        msgs = measured(body)
        answers = [m for m in msgs if m["role"] == "assistant"]
        turn = len(answers)
        by_turn[turn] += 1
        # turn k: k earlier user messages, each followed by the server's actual answer
        assert [m["role"] for m in msgs] == ["user", "assistant"] * turn + ["user"]
        assert all(m["content"] == ANSWER_8 for m in answers)
    assert by_turn == {0: 4, 1: 4, 2: 4}  # 4 conversations of 3 turns
    pw = data["points"][0]["workload"]
    assert pw["conversations"] == 4 and pw["turns"] == 3
    assert pw["turn_previous_answers"] == [0, 1, 2]
    growth = pw["turn_prompt_tokens_mean"]
    # each turn adds the previous user message (16 tokens less the fake's 4-token chat
    # template: 12 words) and the answer (8 tokens)
    assert growth[0] == 16
    assert growth[1] - growth[0] == pytest.approx(12 + 8)
    assert growth[2] - growth[1] == pytest.approx(12 + 8)
    w = data["workload"]
    assert w["kind"] == "multi_turn" and w["turns"] == 3 and w["think_time_ms"] == 20
    assert data["provenance"]["client_workers"] == 1
    recs = records(tmp_path)
    assert Counter(r["turn"] for r in recs) == {0: 4, 1: 4, 2: 4}
    assert {r["conversation"] for r in recs} == {0, 1, 2, 3}


def test_think_time_between_turns(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    bench(
        fake,
        tmp_path,
        "--api",
        "chat",
        "--turns",
        "2",
        "--think-time-ms",
        "60",
        "--input-tokens",
        "12",
        "--output-tokens",
        "2",
        "--concurrency",
        "1",
        "--num-requests",
        "2",
    )
    first, second = sorted(records(tmp_path), key=lambda r: r["index"])
    assert second["scheduled_s"] - (first["scheduled_s"] + first["e2e_ms"] / 1000) >= 0.059


def test_turns_need_the_chat_api(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, _ = bench(fake, tmp_path, "--turns", "2", "--concurrency", "1", code=2)
    assert "chat" in result.output


# -- trace replay ---------------------------------------------------------------------------


def test_trace_readers() -> None:
    own = load_trace(DATA / "trace.jsonl")
    assert own.format == "jsonl"
    assert [e.offset_s for e in own.entries] == [0.0, 0.1, 0.15, 0.4, 0.6, 0.8]
    assert own.summary()["trace_sessions"] == 3
    moon = load_trace(DATA / "mooncake_sample.jsonl")
    assert moon.format == "mooncake" and moon.block_tokens == 512
    assert moon.entries[1].hash_ids == (0, 1, 3) and moon.entries[3].offset_s == 0.5
    azure = load_trace(DATA / "azure_sample.csv")
    assert azure.format == "azure"
    assert [round(e.offset_s, 6) for e in azure.entries] == [0.0, 0.3, 0.5, 1.0]
    assert [(e.input_tokens, e.output_tokens) for e in azure.entries][:2] == [(24, 5), (40, 3)]
    with pytest.raises(ConfigError, match="TIMESTAMP"):
        load_trace(DATA / "lengths.csv")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_trace_replay_sped_up(fake: FakeOpenAIServer, tmp_path: Path, workers: str) -> None:
    _, data = bench(
        fake,
        tmp_path,
        "--trace",
        str(DATA / "trace.jsonl"),
        "--trace-speedup",
        "2",
        "--workers",
        workers,
    )
    trace = load_trace(DATA / "trace.jsonl")
    recs = sorted(records(tmp_path), key=lambda r: r["index"])
    assert len(recs) == 6
    for rec, entry in zip(recs, trace.entries, strict=True):
        assert rec["scheduled_s"] == pytest.approx(entry.offset_s / 2, abs=1e-3)
        assert rec["sent_s"] - entry.offset_s / 2 < 0.05  # sent on time
        assert (rec["prompt_tokens"], rec["output_tokens"]) == (
            entry.input_tokens,
            entry.output_tokens,
        )
    point = data["points"][0]
    assert point["mode"] == "rate" and point["arrival"] == "trace"
    assert point["rate_rps"] == pytest.approx(5 / 0.4)  # 5 gaps over 0.8 s / 2
    assert point["workload"]["trace_speedup"] == 2 and point["workload"]["trace_requests"] == 6
    w = data["workload"]
    assert w["kind"] == "trace" and w["trace_format"] == "jsonl" and w["trace_speedup"] == 2
    assert w["trace_requests"] == 6 and w["trace_span_s"] == pytest.approx(0.8)


def test_mooncake_trace_shares_its_prefix_blocks(tmp_path: Path) -> None:
    with FakeOpenAIServer(FakeBehavior(ttft_ms=5.0, itl_ms=1.0, prefix_cache_reset=True)) as fake:
        result, data = bench(fake, tmp_path, "--trace", str(DATA / "mooncake_sample.jsonl"))
        bodies = fake.request_bodies[1:]
        resets = fake.prefix_cache_resets
    trace = load_trace(DATA / "mooncake_sample.jsonl")
    assert resets == 1
    recs = sorted(records(tmp_path), key=lambda r: r["index"])
    assert [r["prompt_tokens"] for r in recs] == [e.input_tokens for e in trace.entries]
    prompts = {b["prompt"]: b for b in bodies}
    words = [p.split() for p in prompts]
    by_len = {len(w) + 1: w for w in words}  # + the BOS
    first, second, other, fourth = (by_len[e.input_tokens] for e in trace.entries)
    # hash ids 0 and 1 (2 blocks of 512 tokens) start the 1st, 2nd and 4th prompts
    assert first[:1024] == second[:1024] == fourth[:1024]
    assert first[1024:1050] != second[1024:1050]
    assert other[:512] != first[:512]
    point = data["points"][0]
    assert point["workload"]["prefix_cache_reset"] is True
    assert point["workload"]["prefix_cache_hits_tokens"] > 0
    rate = point["workload"]["prefix_cache_hit_rate"]
    assert f"{rate:.1%}" in result.output  # in the terminal table
    assert data["workload"]["trace_format"] == "mooncake"
    assert data["workload"]["trace_block_tokens"] == 512


def test_azure_trace_at_its_own_timing(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(fake, tmp_path, "--trace", str(DATA / "azure_sample.csv"))
    recs = sorted(records(tmp_path), key=lambda r: r["index"])
    assert [round(r["scheduled_s"], 3) for r in recs] == [0.0, 0.3, 0.5, 1.0]
    assert [r["prompt_tokens"] for r in recs] == [24, 40, 17, 33]
    assert data["workload"]["trace_format"] == "azure"
    assert data["points"][0]["workload"]["trace_speedup"] == 1


def test_trace_is_its_own_load_pattern(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    result, _ = bench(
        fake, tmp_path, "--trace", str(DATA / "trace.jsonl"), "--concurrency", "2", code=2
    )
    assert "one load pattern" in result.output


# -- the workload's own mix in cost -----------------------------------------------------------


def test_cost_per_token_uses_the_traces_measured_mix(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    """The cost model prices a trace replay at the mix its requests had (108 input and 29
    output tokens here), not at a configured --input-tokens/--output-tokens."""
    _, data = bench(fake, tmp_path, "--trace", str(DATA / "trace.jsonl"), "--gpus", "1")
    trace = load_trace(DATA / "trace.jsonl")
    n_in = sum(e.input_tokens for e in trace.entries)
    n_out = sum(e.output_tokens for e in trace.entries)
    assert (n_in, n_out) == (108, 29)
    pw = data["points"][0]["workload"]
    assert (pw["measured_input_tokens"], pw["measured_output_tokens"]) == (n_in, n_out)
    assert pw["measured_input_share"] == pytest.approx(n_in / (n_in + n_out))
    result = CliRunner().invoke(
        cli, ["cost", str(tmp_path / "run"), "--usd-per-hour", "3.6", "--json"]
    )
    assert result.exit_code == 0, result.output
    cost = json.loads(result.output)
    (point,) = cost["bench_points"]
    assert point["input_tok_per_s"] / point["output_tok_per_s"] == pytest.approx(n_in / n_out)
    (prices,) = point["by_option"]
    split = prices["prices"]
    # the server's prefill/decode split of the point's time, over its measured tokens
    usd_per_s = 3.6 / 3600
    share = split["prefill_share"]
    assert split["usd_per_m_input"] == pytest.approx(
        share * usd_per_s / point["input_tok_per_s"] * 1e6
    )
    assert split["usd_per_m_output"] == pytest.approx(
        (1 - share) * usd_per_s / point["output_tok_per_s"] * 1e6
    )
    assert cost["breakeven"]
    for row in cost["breakeven"]:
        assert row["input_share"] == pytest.approx(n_in / (n_in + n_out))


# -- the patterns alone ---------------------------------------------------------------------


def _record(index: int, t: float, ok: bool = True) -> RequestRecord:
    return RequestRecord(index=index, ok=ok, scheduled_t=t, sent_t=t, error_kind=None)


def test_conversations_keep_their_turns_in_order_and_a_failure_ends_one() -> None:
    sent: list[tuple[int, int, int]] = []

    async def send_turn(conv: int, turn: int, index: int, t: float) -> RequestRecord:
        sent.append((conv, turn, index))
        await asyncio.sleep(0.001)
        return _record(index, t, ok=(conv, turn) != (1, 1))  # conversation 1 fails at turn 1

    run = asyncio.run(
        run_conversations(send_turn, 2, 3, num_requests=10, duration_s=None, keep_records=True)
    )
    assert len(run.records) == 10
    turns: dict[int, list[int]] = {}
    for conv, turn, _ in sent:
        turns.setdefault(conv, []).append(turn)
    assert all(t == list(range(len(t))) for t in turns.values())  # in order, none skipped
    assert turns[1] == [0, 1]  # the failed turn ended its conversation
    assert turns[0] == [0, 1, 2]
    assert sorted(i for _, _, i in sent) == list(range(10))


def test_conversations_are_whole_whatever_the_concurrency() -> None:
    sent: list[tuple[int, int, int]] = []

    async def send_turn(conv: int, turn: int, index: int, t: float) -> RequestRecord:
        sent.append((conv, turn, index))
        await asyncio.sleep(0.001 * (1 + conv % 3))  # sessions finish out of step
        return _record(index, t)

    # 14 requests of 3 turns, 3 sessions: 4 whole conversations and one of the 2 turns
    # left, not a conversation begun by each session as the requests run out
    run = asyncio.run(
        run_conversations(
            send_turn,
            3,
            3,
            num_requests=14,
            duration_s=None,
            first_index=100,
            index_step=2,
            first_conversation=10,
            conversation_step=5,
        )
    )
    assert len(run.records) == 14
    turns: dict[int, list[int]] = {}
    for conv, turn, _ in sent:
        turns.setdefault(conv, []).append(turn)
    assert turns == {10: [0, 1, 2], 15: [0, 1, 2], 20: [0, 1, 2], 25: [0, 1, 2], 30: [0, 1]}
    assert sorted(i for _, _, i in sent) == list(range(100, 128, 2))


def test_conversation_tallies_merge_into_one() -> None:
    adds = [(0, 0, 20), (1, 1, 41), (2, 2, 63), (0, 0, 18), (1, 1, None), (0, 0, 25), (1, 1, 44)]
    whole = ConversationTally(3)
    parts = [ConversationTally(3), ConversationTally(3)]
    for k, (turn, answers, tokens) in enumerate(adds):
        whole.add(turn, answers, tokens)
        parts[k % 2].add(turn, answers, tokens)
    merged = merged_tally([parts[0], None, parts[1]])
    assert merged is not None and merged.summary() == whole.summary()
    assert whole.summary() == {
        "turns": 3,
        "conversations": 3,
        "turn_prompt_tokens_mean": [21.0, 42.5, 63.0],
        "turn_previous_answers": [0, 1, 2],
    }
    assert merged_tally([None]) is None
    with pytest.raises(ValueError, match="do not merge"):
        whole.merge(ConversationTally(2))


def test_trace_offsets_are_dealt_like_a_schedule() -> None:
    offsets = [0.0, 0.1, 0.1, 0.4, 0.9]
    dealt = [list(dealt_arrivals(0.0, "trace", 0, k, 2, offsets)) for k in range(2)]
    assert dealt == [[(0, 0.0), (2, 0.1), (4, 0.9)], [(1, 0.1), (3, 0.4)]]
    with pytest.raises(ValueError, match="trace"):
        next(arrival_offsets(1.0, "trace", 0))


def test_trace_bounded_by_num_requests_and_duration(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    _, data = bench(
        fake,
        tmp_path,
        "--trace",
        str(DATA / "trace.jsonl"),
        "--num-requests",
        "4",
        "--duration",
        "0.3",
    )
    # 4 requests at most, and none due at or after 0.3 s: 0, 0.1 and 0.15 s
    assert sorted(r["scheduled_s"] for r in records(tmp_path)) == pytest.approx(
        [0.0, 0.1, 0.15], abs=1e-3
    )
    assert data["points"][0]["completed"] == 3


def test_a_recipes_bench_section_carries_the_workloads() -> None:
    from localeval.bench.config import BenchConfig
    from localeval.recipes import load_recipe

    tiny = load_recipe("tiny-cpu")
    bench = type(tiny.bench).model_validate(
        {
            **tiny.bench.model_dump(),
            "api": "chat",
            "concurrency": None,
            "trace": str(DATA / "trace.jsonl"),
            "trace_speedup": 3,
        }
    )
    recipe = tiny.model_copy(update={"bench": bench})
    cfg = BenchConfig.from_recipe(recipe)
    assert cfg.trace == str(DATA / "trace.jsonl") and cfg.concurrency is None
    assert cfg.loads == [("trace", 3.0)]
    # a load pattern given on the command line replaces the recipe's trace
    over = BenchConfig.from_recipe(recipe, concurrency=[2], turns=2)
    assert over.trace is None and over.concurrency == [2] and over.turns == 2


def test_library_trace_progress_and_a_cut_trace_warns(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    from localeval.bench import BenchConfig, run_bench
    from localeval.endpoint import Endpoint

    started: list[tuple[str, int | None]] = []

    class Recorder:
        def point_started(self, label: str, total: int | None, duration_s: float | None) -> None:
            started.append((label, total))

        def request_done(self, ok: bool) -> None:
            pass

        def point_finished(self, point: Any) -> None:
            pass

        def note(self, message: str) -> None:
            pass

    config = BenchConfig(
        trace=str(DATA / "trace.jsonl"), trace_speedup=4, num_requests=5, warmup_requests=0,
        output_dir=tmp_path / "run",
    )  # fmt: skip
    result = run_bench(config, Endpoint(fake.base_url, "fake-model"), progress=Recorder())
    assert result.status == "complete" and result.points[0].completed == 5
    assert started == [("trace replay x4", 5)]
    assert any("holds 6 requests: only its first 5" in w for w in result.warnings)


def test_a_traces_sessions_carry_their_context(tmp_path: Path) -> None:
    """Without hash_ids, a request of a session starts with the session's previous prompt
    when it is long enough to hold it (trace.jsonl: sessions a, b, c)."""
    with FakeOpenAIServer(FakeBehavior(ttft_ms=5.0, itl_ms=1.0, prefix_cache_reset=True)) as fake:
        _, data = bench(fake, tmp_path, "--trace", str(DATA / "trace.jsonl"), "--warmup", "0")
        prompts = [b["prompt"] for b in fake.request_bodies]
    by_len = {len(p.split()) + 1: p for p in prompts}  # + the BOS
    a1, b1, a2, _c1, b2, a3 = (by_len[n] for n in (14, 18, 22, 16, 25, 13))
    assert a2.startswith(a1 + " ") and b2.startswith(b1 + " ")
    assert not a3.startswith(a2[:20])  # 13 tokens cannot hold a2's 22: a fresh prompt
    assert len(set(prompts)) == 6
    assert data["workload"]["trace_sessions"] == 3
    assert data["points"][0]["workload"]["prefix_cache_reset"] is True
