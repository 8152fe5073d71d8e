"""The sums tasks: the shipped data is right, and the materialized YAMLs load in lm-eval
offline, from any working directory, and build the requests and scores we expect."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from localeval import tasks


def _raw_docs() -> list[dict[str, Any]]:
    path = Path(tasks.__file__).parent / "sums" / "sums.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_shipped_data_has_every_pair_once_with_true_sums() -> None:
    docs = _raw_docs()
    assert len(docs) == 100
    pairs = {(d["a"], d["b"]) for d in docs}
    assert pairs == {(a, b) for a in range(10) for b in range(10)}
    assert len({d["question"] for d in docs}) == 100
    for d in docs:
        a, b = d["a"], d["b"]
        assert d["question"] == f"What is {a} + {b}?"
        assert d["answer"] == str(a + b)
        choices = d["choices"]
        assert len(choices) == 4
        assert len(set(choices)) == 4
        assert choices.count(str(a + b)) == 1
        assert choices[d["label"]] == str(a + b)
        assert all(c == str(int(c)) and 0 <= int(c) <= 18 for c in choices)


def test_right_answer_position_is_spread() -> None:
    # A pipeline that always picks the same position must score near chance, not near 1.
    positions = Counter(d["label"] for d in _raw_docs())
    assert set(positions) == {0, 1, 2, 3}
    assert max(positions.values()) <= 40


def test_load_sum_docs_matches_the_file_and_the_generator() -> None:
    raw = _raw_docs()
    loaded = tasks.load_sum_docs()
    assert [d.to_json() for d in loaded] == raw
    assert [d.to_json() for d in tasks.generate_sum_docs(tasks.DATA_SEED)] == raw
    assert [d.to_json() for d in tasks.generate_sum_docs(tasks.DATA_SEED + 1)] != raw
    assert loaded[35].prompt == "Question: What is 3 + 5?\nAnswer:"


def test_materialize_writes_absolute_data_paths(tmp_path: Path) -> None:
    out = tasks.materialize_tasks(tmp_path / "t")
    assert out == (tmp_path / "t").resolve()
    assert sorted(p.name for p in out.iterdir()) == [
        "localeval_sums_gen.yaml",
        "localeval_sums_mc.yaml",
        "sums.jsonl",
    ]
    assert (out / "sums.jsonl").read_text() == tasks.data_file().read_text()
    for name in tasks.LOCAL_TASKS:
        config = yaml.safe_load((out / f"{name}.yaml").read_text())
        assert config["task"] == name
        data = Path(config["dataset_kwargs"]["data_files"]["test"])
        assert data.is_absolute()
        assert data == out / "sums.jsonl"
        assert config["doc_to_text"] == "Question: {{question}}\nAnswer:"


def test_materialize_is_idempotent_and_repairs(tmp_path: Path) -> None:
    out = tasks.materialize_tasks(tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    os.utime(out / "sums.jsonl", ns=(1, 1))
    (out / "localeval_sums_mc.yaml").write_text("broken: [")
    tasks.materialize_tasks(tmp_path)
    assert (out / "sums.jsonl").stat().st_mtime_ns == 1  # unchanged content is not rewritten
    assert yaml.safe_load((out / "localeval_sums_mc.yaml").read_text())["task"] == (
        "localeval_sums_mc"
    )
    assert (out / "localeval_sums_gen.yaml").stat().st_mtime_ns == mtimes["localeval_sums_gen.yaml"]


def test_default_folder_is_under_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALEVAL_CACHE_DIR", str(tmp_path / "cache"))
    expected = (tmp_path / "cache" / "tasks" / tasks.TASKS_VERSION).resolve()
    assert tasks.local_tasks_dir() == expected
    assert (expected / "localeval_sums_mc.yaml").is_file()


@pytest.fixture(scope="module")
def lm_eval_tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The two tasks as lm-eval builds them, offline, from a working directory that holds
    nothing (a relative data path would not resolve)."""
    from lm_eval.tasks import TaskManager

    base = tmp_path_factory.mktemp("lm_eval")
    include = tasks.materialize_tasks(base / "tasks")
    elsewhere = base / "cwd"
    elsewhere.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_CACHE", str(base / "hf-datasets"))
        mp.chdir(elsewhere)
        loaded = TaskManager(include_path=str(include)).load(list(tasks.LOCAL_TASKS))
        built = loaded["tasks"]
        for task in built.values():
            task.test_docs()  # load the data while offline and in the empty folder
    return dict(built)


def test_lm_eval_loads_both_tasks_with_100_docs(lm_eval_tasks: dict[str, Any]) -> None:
    assert set(lm_eval_tasks) == set(tasks.LOCAL_TASKS)
    for task in lm_eval_tasks.values():
        assert len(list(task.test_docs())) == 100


def test_lm_eval_multiple_choice_requests_and_scoring(lm_eval_tasks: dict[str, Any]) -> None:
    task = lm_eval_tasks["localeval_sums_mc"]
    assert task.OUTPUT_TYPE == "multiple_choice"
    for doc in task.test_docs():
        a, b = doc["a"], doc["b"]
        ctx = task.doc_to_text(doc)
        assert ctx == f"Question: What is {a} + {b}?\nAnswer:"
        requests = task.construct_requests(doc=doc, ctx=ctx, metadata=("t", 0, 1))
        continuations = [r.arguments[1] for r in requests]
        assert all(r.arguments[0] == ctx for r in requests)
        assert f" {a + b}" in continuations
        assert len(set(continuations)) == 4
        right = continuations.index(f" {a + b}")
        assert task.doc_to_target(doc) == right
        # Loglikelihoods where the right choice wins score 1; where another wins, 0.
        lls = [(-5.0, False)] * 4
        lls[right] = (-0.1, True)
        assert task.process_results(doc, lls)["acc"] == 1.0
        lls[(right + 1) % 4] = (-0.01, True)
        assert task.process_results(doc, lls)["acc"] == 0.0


def test_lm_eval_generation_requests_and_scoring(lm_eval_tasks: dict[str, Any]) -> None:
    task = lm_eval_tasks["localeval_sums_gen"]
    assert task.OUTPUT_TYPE == "generate_until"
    doc = next(d for d in task.test_docs() if (d["a"], d["b"]) == (9, 8))
    ctx = task.doc_to_text(doc)
    assert ctx == "Question: What is 9 + 8?\nAnswer:"
    request = task.construct_requests(doc=doc, ctx=ctx, metadata=("t", 0, 1))
    prompt, gen_kwargs = request.arguments
    assert prompt == ctx
    assert gen_kwargs["until"] == ["\n"]
    assert gen_kwargs["max_gen_toks"] <= 4
    assert task.doc_to_target(doc) == "17"
    assert task.process_results(doc, [" 17"])["exact_match"] == 1.0
    assert task.process_results(doc, ["17 "])["exact_match"] == 1.0
    assert task.process_results(doc, [" 7"])["exact_match"] == 0.0
    assert task.process_results(doc, [" 171"])["exact_match"] == 0.0
