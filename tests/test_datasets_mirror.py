"""The dataset mirror without lm-eval's tasks: the writer and the reader (parquet files,
features, manifest, checksums), dataset keys, what counts as local data, `datasets show`,
and where `eval` takes the mirror folder from (option, environment, recipe)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pytest
from click.testing import CliRunner

from localeval.cli import cli
from localeval.datasets.lm_eval_hook import is_local_source
from localeval.datasets.manifest import dataset_key, read_manifest
from localeval.datasets.mirror import DatasetMirror, MirrorWriter
from localeval.errors import ConfigError
from localeval.evaluation import EvalConfig
from localeval.recipes import load_recipe
from tests.fakes import task_datasets

FEATURES = datasets.Features(
    {
        "ind": datasets.Value("int32"),
        "choices": {
            "text": datasets.List(datasets.Value("string")),
            "label": datasets.List(datasets.Value("string")),
        },
        "gold": datasets.ClassLabel(names=["no", "yes"]),
    }
)
ROWS = [
    {"ind": 7, "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "gold": 1},
    {"ind": 9, "choices": {"text": ["c"], "label": ["1"]}, "gold": 0},
]


def _mirror(folder: Path) -> str:
    writer = MirrorWriter(folder)
    data = datasets.Dataset.from_list(ROWS, features=FEATURES)
    key = writer.add_dataset(
        "org/set", "cfg", {"trust_remote_code": True}, {"test": data}, revision="abc123"
    )
    writer.add_task("set_task", key, ["test"])
    writer.add_requested("set_task", ["set_task"])
    writer.commit()
    return key


def test_a_split_comes_back_with_its_features_rows_and_checksum(tmp_path: Path) -> None:
    key = _mirror(tmp_path)
    assert key == "org/set:cfg"  # trust_remote_code changes nothing in the data
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (manifest["schema_version"], manifest["kind"]) == (1, "datasets_mirror")
    entry = manifest["datasets"][key]
    assert (entry["path"], entry["name"], entry["revision"]) == ("org/set", "cfg", "abc123")
    assert entry["dataset_kwargs"] == {}
    split = entry["splits"]["test"]
    assert split["file"] == "data/org__set--cfg/test.parquet" and split["rows"] == 2
    raw = (tmp_path / split["file"]).read_bytes()
    assert split["sha256"] == hashlib.sha256(raw).hexdigest()
    assert split["size_bytes"] == len(raw)
    assert manifest["tasks"] == {"set_task": {"dataset": key, "splits": ["test"]}}

    mirror = DatasetMirror(tmp_path)
    assert mirror.find("org/set", "cfg", {"trust_remote_code": True}) is not None
    assert mirror.find("org/set", None, None) is None
    assert mirror.find("org/set", "cfg", {"revision": "v2"}) is None
    loaded = mirror.load(key)
    assert list(loaded) == ["test"]
    assert loaded["test"].features == FEATURES  # a class label and a nested list survive
    assert loaded["test"].to_list() == ROWS
    assert mirror.load(key) is loaded  # once per run: a group's subtasks share it
    assert mirror.check() == []


def test_a_second_pull_adds_to_the_mirror(tmp_path: Path) -> None:
    _mirror(tmp_path)
    writer = MirrorWriter(tmp_path)
    gsm = task_datasets.gsm8k()
    key = writer.add_dataset(gsm.path, gsm.name, None, gsm.splits)
    writer.add_task("gsm8k", key, ["test", "train"])
    writer.commit()
    manifest = read_manifest(tmp_path)
    assert set(manifest.datasets) == {"org/set:cfg", "openai/gsm8k:main"}
    assert set(manifest.tasks) == {"set_task", "gsm8k"}
    assert manifest.datasets["openai/gsm8k:main"].splits["train"].rows == 6
    with pytest.raises(ValueError, match="no split validation"):
        writer.add_task("gsm8k", key, ["validation"])


def test_dataset_keys() -> None:
    assert dataset_key("allenai/ai2_arc", "ARC-Challenge", None) == "allenai/ai2_arc:ARC-Challenge"
    assert dataset_key("Rowan/hellaswag", None, {}) == "Rowan/hellaswag"
    pinned = dataset_key("Rowan/hellaswag", None, {"revision": "r1"})
    assert pinned.startswith("Rowan/hellaswag#") and pinned != dataset_key(
        "Rowan/hellaswag", None, {"revision": "r2"}
    )
    # the order of the arguments does not matter
    assert dataset_key("p", None, {"a": 1, "b": 2}) == dataset_key("p", None, {"b": 2, "a": 1})


def test_a_damaged_or_missing_file_is_named(tmp_path: Path) -> None:
    key = _mirror(tmp_path)
    file = tmp_path / "data/org__set--cfg/test.parquet"
    file.write_bytes(file.read_bytes()[:-10])  # a copy cut short
    with pytest.raises(ConfigError, match=r"test\.parquet does not match its SHA-256") as info:
        DatasetMirror(tmp_path).load(key)
    assert info.value.hint and "copy the mirror again" in info.value.hint
    res = CliRunner().invoke(cli, ["datasets", "show", str(tmp_path), "--verify"])
    assert res.exit_code == 1
    assert "org/set:cfg test: data/org__set--cfg/test.parquet does not match" in res.stderr
    file.unlink()
    with pytest.raises(ConfigError, match=r"test\.parquet is missing"):
        DatasetMirror(tmp_path).load(key)


def test_show_lists_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mirror(tmp_path)
    monkeypatch.setenv("LOCALEVAL_DATASETS_DIR", str(tmp_path))
    res = CliRunner().invoke(cli, ["datasets", "show", "--verify"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "org/set:cfg" in res.stdout and "abc123" in res.stdout
    assert "set_task: 1 task(s)" in res.stdout
    assert "all files match their checksums" in res.stderr
    res = CliRunner().invoke(cli, ["datasets", "show", str(tmp_path), "--json"])
    assert json.loads(res.stdout)["requested"] == {"set_task": ["set_task"]}


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("absent", "no such directory"),
        ("empty", "has no manifest.json: not a dataset mirror"),
        ("version", "manifest schema_version 99"),
        ("kind", "not a dataset mirror manifest"),
    ],
)
def test_a_folder_that_is_not_a_mirror(tmp_path: Path, setup: str, needle: str) -> None:
    folder = tmp_path / "mirror"
    if setup != "absent":
        folder.mkdir()
    if setup == "version":
        (folder / "manifest.json").write_text('{"kind": "datasets_mirror", "schema_version": 99}')
    if setup == "kind":
        (folder / "manifest.json").write_text('{"kind": "eval", "schema_version": 1}')
    with pytest.raises(ConfigError, match=needle) as info:
        read_manifest(folder)
    if setup in ("absent", "empty"):
        assert info.value.hint == f"make one with `localeval datasets pull TASK... --to {folder}`"


def test_local_sources() -> None:
    here = str(Path(__file__).parent)
    assert is_local_source("json", {"data_files": {"test": "/data/x.jsonl"}})
    assert is_local_source("parquet", {"data_files": ["a.parquet", "b.parquet"]})
    assert not is_local_source("json", {"data_files": "https://example.org/x.jsonl"})
    assert not is_local_source("json", {})  # no files named: nothing local to read
    assert is_local_source(here, None)  # a local folder
    assert not is_local_source("openai/gsm8k", None)


# -- where eval takes the folder from ------------------------------------------------------
def _recipe(tmp_path: Path, datasets_dir: str | None) -> Path:
    text = (Path(__file__).parents[1] / "recipes" / "tiny-cpu.yaml").read_text()
    if datasets_dir is not None:
        text = text.replace(
            "  num_concurrent: 8\n", f"  num_concurrent: 8\n  datasets_dir: {datasets_dir}\n"
        )
    path = tmp_path / "recipes" / "mine.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text.replace("name: tiny-cpu", "name: mine"))
    return path


def test_the_recipe_names_a_mirror_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = load_recipe(str(_recipe(tmp_path, "mirror")))
    assert EvalConfig.from_recipe(recipe).datasets_dir == str(tmp_path / "recipes" / "mirror")
    monkeypatch.setenv("LOCALEVAL_DATASETS_DIR", "/from/env")
    assert EvalConfig.from_recipe(recipe).datasets_dir == "/from/env"
    config = EvalConfig.from_recipe(recipe, datasets_dir="/from/option")
    assert config.datasets_dir == "/from/option"


def test_a_recipe_without_a_mirror() -> None:
    recipe = load_recipe("tiny-cpu")
    assert EvalConfig.from_recipe(recipe).datasets_dir is None


@pytest.mark.parametrize("how", ["option", "env"])
def test_eval_refuses_a_folder_that_is_not_a_mirror_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    missing = tmp_path / "nowhere"
    args = [
        "eval", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--tasks", "gsm8k",
        "--output", str(tmp_path / "run"),
    ]  # fmt: skip
    if how == "option":
        args += ["--datasets-dir", str(missing)]
    else:
        monkeypatch.setenv("LOCALEVAL_DATASETS_DIR", str(missing))
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert f"datasets folder {missing}: no such directory" in res.stderr
    assert "localeval datasets pull TASK... --to" in res.stderr
    assert not (tmp_path / "run").exists()


def test_the_hub_fetch_loads_through_datasets(tmp_path: Path) -> None:
    """The pull's fetch is ``datasets.load_dataset``; offline, the hub's revision is unknown."""
    from localeval.datasets.pull import fetch_from_hub

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"q": "a", "n": 1}\n{"q": "b", "n": 2}\n')
    fetched = fetch_from_hub("json", None, {"data_files": {"test": str(rows)}})
    assert fetched.revision is None
    assert fetched.data["test"].to_list() == [{"q": "a", "n": 1}, {"q": "b", "n": 2}]
