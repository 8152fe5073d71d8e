"""lm-eval's own installed ``mmlu_pro``, ``gsm8k``, ``arc_challenge`` and ``hellaswag``
configs, offline: `datasets pull` writes a mirror of schema-true local copies of their
datasets (tests/fakes/task_datasets.py, through the pull's own code with the hub fetch
replaced), then `eval --datasets-dir` runs the configs on it against the fake server
answering right (every score 1.0 through the configs' own filters) or wrong (0), with the
token accounting checked as for the project's own tasks. A task the mirror lacks fails at
once, naming the pull to run, and the others run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.datasets.lm_eval_hook import Fetched
from localeval.datasets.manifest import load_manifest_file, read_manifest
from localeval.datasets.mirror import DatasetMirror, MirrorWriter
from localeval.datasets.pull import pull_datasets
from localeval.endpoint import Endpoint
from localeval.evaluation import EvalConfig, EvalResult, run_eval
from localeval.evaluation.preflight import PREFLIGHT_TEXT
from tests.fakes import task_datasets
from tests.fakes.fake_completions import FakeCompletionsServer, KeyedAnswer, write_byte_tokenizer
from tests.fakes.task_datasets import TaskData

CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
TASKS = ["mmlu_pro", "gsm8k", "arc_challenge", "hellaswag"]
MMLU_PRO_SUBTASKS = {f"mmlu_pro_{c.replace(' ', '_')}" for c in task_datasets.MMLU_PRO_CATEGORIES}


class HubCopy:
    """The fetch a pull uses, over the local copies; counts what was fetched."""

    def __init__(self, data: dict[str, TaskData]) -> None:
        self.by_id = {(d.path, d.name): d for d in data.values()}
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, path: str, name: str | None, kwargs: dict[str, Any]) -> Fetched:
        self.calls.append((path, name))
        found = self.by_id.get((path, name))
        if found is None:
            raise ConnectionError(f"{path} ({name}) is not on this fake hub")
        return Fetched(found.dataset_dict(), revision=f"rev-{path.split('/')[0].lower()}")


@pytest.fixture(scope="module")
def data() -> dict[str, TaskData]:
    return task_datasets.all_task_data()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, data: dict[str, TaskData]) -> Path:
    folder = tmp_path_factory.mktemp("mirror")
    report = pull_datasets(TASKS, folder, fetch=HubCopy(data))
    assert not report.failed, [n.error for n in report.failed]
    return folder


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_byte_tokenizer(tmp_path_factory.mktemp("tok"), CHAT_TEMPLATE)


def _key(data: dict[str, TaskData]) -> dict[str, KeyedAnswer]:
    key: dict[str, KeyedAnswer] = {}
    for task in data.values():
        key.update(task.key)
    return key


@pytest.fixture
def no_hub_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fails any ``datasets.load_dataset`` call (lm-eval's own loading): with a mirror, the
    data must come from it. Yields, for each dataset read from the mirror, whether
    ``datasets`` was in offline mode then (it starts online here)."""
    import datasets.config

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"load_dataset called: {args} {kwargs}")

    offline_at_load: list[Any] = []
    original = DatasetMirror.load

    def load(self: DatasetMirror, key: str) -> Any:
        offline_at_load.append(datasets.config.HF_HUB_OFFLINE)
        return original(self, key)

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(DatasetMirror, "load", load)
    yield offline_at_load
    assert datasets.config.HF_HUB_OFFLINE is False  # restored after the run


def _evaluate(
    fake: FakeCompletionsServer, tmp_path: Path, tasks: list[str], mirror: Path, tok: Path
) -> EvalResult:
    config = EvalConfig.build(
        tasks=tasks,
        tokenizer=str(tok),
        num_concurrent=4,
        use_cache=False,
        datasets_dir=str(mirror),
        output_dir=str(tmp_path / "run"),
    )
    return run_eval(config, Endpoint.from_url(fake.base_url, fake.model))


# -- pull ----------------------------------------------------------------------------------
def test_pull_saves_each_dataset_once_with_the_splits_the_configs_use(
    tmp_path: Path, data: dict[str, TaskData]
) -> None:
    hub = HubCopy(data)
    lines: list[str] = []
    report = pull_datasets(
        [*TASKS, "localeval_sums_mc"], tmp_path, fetch=hub, progress=lines.append
    )
    assert not report.failed
    # one fetch per dataset, though the 14 mmlu_pro subtasks each read it
    assert sorted(hub.calls) == sorted((d.path, d.name) for d in data.values())
    manifest = read_manifest(tmp_path)
    assert set(manifest.requested["mmlu_pro"]) == MMLU_PRO_SUBTASKS
    assert manifest.requested["localeval_sums_mc"] == ["localeval_sums_mc"]
    assert "localeval_sums_mc" not in manifest.tasks  # local files: nothing to pull
    expected = {
        "TIGER-Lab/MMLU-Pro": {"test": 16, "validation": 70},  # validation: the few-shot split
        "openai/gsm8k:main": {"test": 4, "train": 6},  # train: the few-shot split
        "allenai/ai2_arc:ARC-Challenge": {"test": 4, "validation": 2, "train": 2},
        "Rowan/hellaswag": {"validation": 4, "train": 2},  # its test split is not used
    }
    got = {
        key: {split: f.rows for split, f in entry.splits.items()}
        for key, entry in manifest.datasets.items()
    }
    assert got == expected
    assert manifest.datasets["Rowan/hellaswag"].revision == "rev-rowan"
    for sub in MMLU_PRO_SUBTASKS:
        task = manifest.tasks[sub]
        assert (task.dataset, task.splits) == ("TIGER-Lab/MMLU-Pro", ["test", "validation"])
    assert manifest.tasks["gsm8k"].splits == ["test", "train"]
    assert manifest.tasks["hellaswag"].splits == ["validation", "train"]
    assert any(line.startswith("mmlu_pro: 14 task(s); saved TIGER-Lab/MMLU-Pro") for line in lines)


def test_a_dataset_that_cannot_be_fetched_fails_its_name_only(
    tmp_path: Path, data: dict[str, TaskData]
) -> None:
    partial = {k: v for k, v in data.items() if k != "gsm8k"}
    report = pull_datasets(["gsm8k", "arc_challenge"], tmp_path, fetch=HubCopy(partial))
    assert [n.name for n in report.failed] == ["gsm8k"]
    assert "ConnectionError: openai/gsm8k (main) is not on this fake hub" in str(
        report.failed[0].error
    )
    manifest = read_manifest(tmp_path)
    assert list(manifest.requested) == ["arc_challenge"]
    assert list(manifest.datasets) == ["allenai/ai2_arc:ARC-Challenge"]


def test_pull_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict[str, TaskData]
) -> None:
    import localeval.datasets.pull

    res = CliRunner().invoke(cli, ["datasets", "pull", "gsm8kk", "--to", str(tmp_path / "m")])
    assert res.exit_code == 2 and "did you mean gsm8k" in res.stderr
    assert not (tmp_path / "m").exists()
    monkeypatch.setattr(localeval.datasets.pull, "fetch_from_hub", HubCopy(data))
    args = ["datasets", "pull", "gsm8k,arc_challenge", "arc_easy", "--to", str(tmp_path / "m")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1, res.output
    assert "1 of 3 could not be pulled: arc_easy" in res.stderr
    assert "allenai/ai2_arc (ARC-Easy) is not on this fake hub" in res.stderr
    assert set(read_manifest(tmp_path / "m").requested) == {"gsm8k", "arc_challenge"}


# -- eval ----------------------------------------------------------------------------------
def _mc_prompt_tokens(data: dict[str, TaskData]) -> dict[str, int]:
    """Prompt tokens of the loglikelihood tasks counted from the data and the configs'
    templates (one token per UTF-8 byte): context + " " + choice per choice."""
    arc = sum(
        len(f"Question: {row['question']}\nAnswer:".encode()) + len(f" {choice}".encode())
        for row in task_datasets.ARC_TEST
        for choice in row["choices"]["text"]
    )
    swag = 0
    for (query, _right), row in zip(
        task_datasets.HELLASWAG_EXPECTED, task_datasets.HELLASWAG_VALIDATION, strict=True
    ):
        for ending in row["endings"]:
            shown = ending.replace("[step]", "")  # the markup goes, the space after it stays
            swag += len(query.encode()) + len(f" {shown}".encode())
    return {"arc_challenge": arc, "hellaswag": swag}


def _generated_tokens(answers: list[str]) -> int:
    return sum(len(a.encode()) + 1 for a in answers)  # + the stop token, as vLLM counts


def test_the_real_configs_score_one_against_a_right_model(
    tmp_path: Path,
    mirror: Path,
    tokenizer: Path,
    data: dict[str, TaskData],
    no_hub_loads: list[Any],
) -> None:
    with FakeCompletionsServer(
        chat_template=CHAT_TEMPLATE, answer_key=_key(data), max_model_len=8192
    ) as fake:
        result = _evaluate(fake, tmp_path, TASKS, mirror, tokenizer)
        prompts = [p for p in fake.counters.prompts if p != PREFLIGHT_TEXT]
    assert result.status == "complete", result.errors
    assert no_hub_loads and all(offline is True for offline in no_hub_loads)
    t = result.tasks
    assert t["mmlu_pro"].metrics["exact_match,custom-extract"] == 1.0
    assert set(t["mmlu_pro"].subtasks) == MMLU_PRO_SUBTASKS
    assert all(s["exact_match,custom-extract"] == 1.0 for s in t["mmlu_pro"].subtasks.values())
    assert t["gsm8k"].metrics["exact_match,strict-match"] == 1.0
    assert t["gsm8k"].metrics["exact_match,flexible-extract"] == 1.0
    for name in ("arc_challenge", "hellaswag"):
        assert t[name].metrics["acc"] == 1.0 and t[name].metrics["acc_norm"] == 1.0
    # the configs' own few-shot settings: mmlu_pro's first five validation examples of the
    # question's own category; gsm8k's five from train
    assert (t["mmlu_pro"].num_fewshot, t["gsm8k"].num_fewshot) == (5, 5)
    asked = next(p for p in prompts if "Which law statement number 8.0 is true?" in p)
    shots = [f"Worked law example {j}:" for j in range(1, 6)]
    assert [asked.index(s) for s in shots] == sorted(asked.index(s) for s in shots)
    assert "Worked history example" not in asked and "Worked law example 6" not in asked
    assert asked.rstrip().endswith("Answer: Let's think step by step.")

    # requests and tokens, counted from the data: one request per question (generation) or
    # per choice (loglikelihood); the server's counters, the responses' usage and the sample
    # log re-tokenized all agree
    arc_choices = sum(len(r["choices"]["text"]) for r in task_datasets.ARC_TEST)
    assert (t["mmlu_pro"].requests, t["gsm8k"].requests) == (16, 4)
    assert (t["arc_challenge"].requests, t["hellaswag"].requests) == (arc_choices, 16)
    assert t["mmlu_pro"].generated_tokens == _generated_tokens(
        [k.right for k in data["mmlu_pro"].key.values()]
    )
    assert t["gsm8k"].generated_tokens == _generated_tokens(
        [k.right for k in data["gsm8k"].key.values()]
    )
    expected_prompt = _mc_prompt_tokens(data)
    for name in ("arc_challenge", "hellaswag"):
        assert t[name].prompt_tokens == expected_prompt[name], name
        assert t[name].generated_tokens == t[name].requests  # one token per echo request
    for name, task in t.items():
        assert task.token_source == "prometheus", name
        assert task.check.prompt_tokens_match is True, name
        assert task.check.samples_prompt_tokens == task.prompt_tokens, name
        assert task.check.requests_match is True, name
        assert task.cached_requests == 0 and task.lm_eval_requests == task.requests, name
    assert (t["mmlu_pro"].api, t["arc_challenge"].api) == ("chat", "completions")
    assert result.config["datasets_dir"] == str(mirror)
    # the run directory keeps the part of the manifest it read: what data was scored
    scored = load_manifest_file(Path(result.run_dir) / "datasets-manifest.json")
    assert set(scored.tasks) == MMLU_PRO_SUBTASKS | {"gsm8k", "arc_challenge", "hellaswag"}
    assert scored.datasets == read_manifest(mirror).datasets
    assert set(scored.requested) == set(TASKS)


def test_the_real_configs_score_zero_against_a_wrong_model(
    tmp_path: Path, mirror: Path, tokenizer: Path, data: dict[str, TaskData]
) -> None:
    with FakeCompletionsServer(
        chat_template=CHAT_TEMPLATE, answer_key=_key(data), wrong=True, max_model_len=8192
    ) as fake:
        result = _evaluate(fake, tmp_path, TASKS, mirror, tokenizer)
    assert result.status == "complete", result.errors
    t = result.tasks
    assert t["mmlu_pro"].metrics["exact_match,custom-extract"] == 0.0
    assert all(s["exact_match,custom-extract"] == 0.0 for s in t["mmlu_pro"].subtasks.values())
    assert t["gsm8k"].metrics["exact_match,strict-match"] == 0.0
    assert t["gsm8k"].metrics["exact_match,flexible-extract"] == 0.0
    for name in ("arc_challenge", "hellaswag"):
        assert t[name].metrics["acc"] == 0.0 and t[name].metrics["acc_norm"] == 0.0
    assert t["gsm8k"].generated_tokens == _generated_tokens(
        [k.wrong for k in data["gsm8k"].key.values()]
    )


class _Clock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._started = 0.0

    def task_started(self, name: str, index: int, total: int) -> None:
        self._started = time.monotonic()

    def task_finished(self, name: str, result: Any, error: Any) -> None:
        self.spent[name] = time.monotonic() - self._started

    def note(self, message: str) -> None:
        pass


def test_a_task_missing_from_the_mirror_fails_at_once_and_the_others_run(
    tmp_path: Path, tokenizer: Path, data: dict[str, TaskData]
) -> None:
    folder = tmp_path / "mirror"
    writer = MirrorWriter(folder)
    arc, gsm = data["arc_challenge"], data["gsm8k"]
    writer.add_dataset(arc.path, arc.name, None, arc.splits)
    writer.add_dataset(gsm.path, gsm.name, None, {"test": gsm.splits["test"]})  # no train
    writer.commit()
    clock = _Clock()
    with FakeCompletionsServer(answer_key=_key(data), chat_template=CHAT_TEMPLATE) as fake:
        config = EvalConfig.build(
            tasks=["arc_easy", "gsm8k", "arc_challenge"],
            tokenizer=str(tokenizer),
            use_cache=False,
            datasets_dir=str(folder),
            output_dir=str(tmp_path / "run"),
        )
        result = run_eval(config, Endpoint.from_url(fake.base_url, fake.model), progress=clock)
        sent = [p for p in fake.counters.prompts if p != PREFLIGHT_TEXT]
    assert result.status == "failed" and result.message == "2 of 3 tasks failed"
    easy = result.errors["arc_easy"]
    assert easy.stage == "load"
    assert f"task arc_easy: dataset allenai/ai2_arc (ARC-Easy) is not in the mirror {folder}" in (
        easy.error
    )
    assert "`localeval datasets pull arc_easy --to DIR`" in easy.error
    gsm_err = result.errors["gsm8k"]
    assert gsm_err.stage == "load" and "without the split(s) train" in gsm_err.error
    assert "localeval datasets pull gsm8k --to DIR" in gsm_err.error
    assert clock.spent["arc_easy"] < 10 and clock.spent["gsm8k"] < 10
    assert result.tasks["arc_challenge"].metrics["acc"] == 1.0
    assert all(p.startswith("Question: ") for p in sent)  # only arc_challenge's requests
    assert len(sent) == result.tasks["arc_challenge"].requests
    scored = load_manifest_file(Path(result.run_dir) / "datasets-manifest.json")
    assert list(scored.tasks) == ["arc_challenge"]
    assert list(scored.datasets) == ["allenai/ai2_arc:ARC-Challenge"]
