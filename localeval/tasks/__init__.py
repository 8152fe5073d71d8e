"""The project's own lm-eval tasks: single-digit sums, shipped with their data, so the whole
evaluation stack (vLLM server + lm-eval) can run offline with no dataset hub.

Both tasks ask the same 100 questions, "What is a + b?" for every a, b in 0..9:

- ``localeval_sums_mc``: 4-way multiple choice scored by loglikelihood (``acc``, ``acc_norm``);
  the choices are the true sum and 3 distinct seeded distractors in 0..18.
- ``localeval_sums_gen``: greedy generation until a newline, scored by ``exact_match``
  (whitespace ignored).

The project's tiny model (:mod:`localeval.tinymodel`) is trained on these very questions.
A high score therefore says nothing about any model's ability: it checks that the pipeline
carries the signal end to end (prompts, tokenization, loglikelihoods, generation, scoring),
since a broken pipeline scores near chance (25 % for the multiple choice, ~0 % for generation).

The YAML files in ``sums/`` are templates: the ``datasets`` library resolves a relative
``data_files`` path against the working directory, not the YAML's folder. Pass the folder
returned by :func:`materialize_tasks` (or :func:`local_tasks_dir`) to lm-eval's
``--include_path`` / ``TaskManager(include_path=...)``, never the package folder itself.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from localeval import paths
from localeval.results.io import write_text_atomic

LOCAL_TASKS = ("localeval_sums_mc", "localeval_sums_gen")
"""Names of the tasks defined here, as lm-eval knows them."""

TASKS_VERSION = "1"
"""Bumped when the data or a template changes; names the materialized folder."""

DATA_FILE = "sums.jsonl"
DATA_SEED = 20251123
"""Seed with which :func:`generate_sum_docs` made the shipped data file."""

PROMPT_TEMPLATE = "Question: {question}\nAnswer:"
"""The prompt of both tasks (the YAMLs spell it in Jinja); the answer follows after a space."""

_TEMPLATE_DIR = Path(__file__).parent / "sums"
_TEMPLATE_FILES = {name: f"{name}.yaml" for name in LOCAL_TASKS}


@dataclass(frozen=True)
class SumDoc:
    """One question of the sums tasks. ``choices`` are sums as strings; ``label`` indexes the
    right one."""

    id: str
    a: int
    b: int
    question: str
    answer: str
    choices: tuple[str, ...]
    label: int

    @property
    def prompt(self) -> str:
        """The prompt both tasks send: ``"Question: What is a + b?\\nAnswer:"``."""
        return format_prompt(self.question)

    def to_json(self) -> dict[str, Any]:
        """The document as it is stored in the JSONL data file."""
        return {
            "id": self.id,
            "a": self.a,
            "b": self.b,
            "question": self.question,
            "answer": self.answer,
            "choices": list(self.choices),
            "label": self.label,
        }


def format_prompt(question: str) -> str:
    """The task prompt for a question, e.g. ``"Question: What is 3 + 5?\\nAnswer:"``."""
    return PROMPT_TEMPLATE.format(question=question)


def generate_sum_docs(seed: int = DATA_SEED) -> list[SumDoc]:
    """The 100 sums documents, distractors drawn from a ``random.Random(seed)``.

    The shipped data file was made with the default seed; this function documents how and
    lets anyone regenerate it."""
    rng = random.Random(seed)
    docs = []
    for a in range(10):
        for b in range(10):
            total = a + b
            distractors = rng.sample([v for v in range(19) if v != total], 3)
            values = [total, *distractors]
            rng.shuffle(values)
            docs.append(
                SumDoc(
                    id=f"sum-{a}-{b}",
                    a=a,
                    b=b,
                    question=f"What is {a} + {b}?",
                    answer=str(total),
                    choices=tuple(str(v) for v in values),
                    label=values.index(total),
                )
            )
    return docs


def data_file() -> Path:
    """The shipped JSONL data file (one document per line)."""
    return _TEMPLATE_DIR / DATA_FILE


def load_sum_docs() -> list[SumDoc]:
    """The documents of the shipped data file, in file order."""
    docs = []
    for line in data_file().read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            raw["choices"] = tuple(raw["choices"])
            docs.append(SumDoc(**raw))
    return docs


class _Dumper(yaml.SafeDumper):
    """Writes strings holding a newline in double quotes, so ``\\n`` reads as in the template."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _write_if_changed(path: Path, text: str) -> None:
    # Unchanged files keep their mtime, so the datasets cache stays valid across calls.
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except FileNotFoundError:
        pass
    write_text_atomic(path, text)


def materialize_tasks(dest_dir: Path | None = None) -> Path:
    """Write ready-to-use task YAMLs and their data into a folder and return it.

    The folder (default ``paths.cache_dir()/tasks/<TASKS_VERSION>``) holds a copy of the data
    file and one YAML per task whose ``data_files`` entry is that copy's absolute path; pass it
    to lm-eval as ``include_path``. Safe to call concurrently: each file is replaced
    atomically, and only when its content changed."""
    dest = Path(dest_dir) if dest_dir is not None else paths.cache_dir() / "tasks" / TASKS_VERSION
    dest = dest.expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    data_copy = dest / DATA_FILE
    _write_if_changed(data_copy, data_file().read_text(encoding="utf-8"))
    for file_name in _TEMPLATE_FILES.values():
        config = yaml.safe_load((_TEMPLATE_DIR / file_name).read_text(encoding="utf-8"))
        config["dataset_kwargs"]["data_files"]["test"] = str(data_copy)
        header = (
            f"# Written by localeval.tasks.materialize_tasks (tasks version {TASKS_VERSION});\n"
            "# edit the templates in the localeval package instead.\n"
        )
        body = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        _write_if_changed(dest / file_name, header + body)
    return dest


def local_tasks_dir() -> Path:
    """The default materialized task folder (written if needed), for lm-eval's include_path."""
    return materialize_tasks()
