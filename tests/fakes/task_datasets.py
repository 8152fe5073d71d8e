"""Schema-true miniature copies of the Hugging Face datasets read by lm-eval's ``mmlu_pro``,
``gsm8k``, ``arc_challenge`` and ``hellaswag`` configs: the real column names and feature
types, the real split names, a handful of rows each (and every ``mmlu_pro`` category, since
each subtask keeps only its own). Checked against the datasets' cards and loading scripts:

- TIGER-Lab/MMLU-Pro: question_id int64, question, options (list of str), answer (letter),
  answer_index int64, cot_content, category, src; splits test and validation (70 rows, five
  per category, each with a chain of thought; the few-shot examples).
- openai/gsm8k, config main: question, answer (the reasoning, then ``#### N``); train, test.
- allenai/ai2_arc, config ARC-Challenge: id, question, choices {text: [..], label: [..]},
  answerKey; train, validation, test. Labels are letters, or digits on a few rows.
- Rowan/hellaswag: ind int32, activity_label, ctx_a, ctx_b, ctx, endings (list of str),
  source_id, split, split_type, label (a string); train, validation, test (label "").

Each builder returns the splits and an answer key for
:class:`tests.fakes.fake_completions.FakeCompletionsServer`: a text found in each evaluated
question -> what a right model generates (or, for loglikelihood tasks, the right
continuation) and what a wrong one generates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datasets

from tests.fakes.fake_completions import KeyedAnswer

LETTERS = "ABCDEFGHIJ"
MMLU_PRO_CATEGORIES = (
    "biology", "business", "chemistry", "computer science", "economics", "engineering",
    "health", "history", "law", "math", "other", "philosophy", "physics", "psychology",
)  # fmt: skip

MMLU_PRO_FEATURES = datasets.Features(
    {
        "question_id": datasets.Value("int64"),
        "question": datasets.Value("string"),
        "options": datasets.List(datasets.Value("string")),
        "answer": datasets.Value("string"),
        "answer_index": datasets.Value("int64"),
        "cot_content": datasets.Value("string"),
        "category": datasets.Value("string"),
        "src": datasets.Value("string"),
    }
)
GSM8K_FEATURES = datasets.Features(
    {"question": datasets.Value("string"), "answer": datasets.Value("string")}
)
ARC_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "question": datasets.Value("string"),
        "choices": {
            "text": datasets.List(datasets.Value("string")),
            "label": datasets.List(datasets.Value("string")),
        },
        "answerKey": datasets.Value("string"),
    }
)
HELLASWAG_FEATURES = datasets.Features(
    {
        "ind": datasets.Value("int32"),
        "activity_label": datasets.Value("string"),
        "ctx_a": datasets.Value("string"),
        "ctx_b": datasets.Value("string"),
        "ctx": datasets.Value("string"),
        "endings": datasets.List(datasets.Value("string")),
        "source_id": datasets.Value("string"),
        "split": datasets.Value("string"),
        "split_type": datasets.Value("string"),
        "label": datasets.Value("string"),
    }
)


@dataclass
class TaskData:
    """A dataset's splits, and the answer key for the rows the task evaluates."""

    path: str
    name: str | None
    splits: dict[str, datasets.Dataset]
    key: dict[str, KeyedAnswer] = field(default_factory=dict)

    def dataset_dict(self) -> datasets.DatasetDict:
        return datasets.DatasetDict(self.splits)


def _ds(rows: list[dict[str, Any]], features: datasets.Features) -> datasets.Dataset:
    return datasets.Dataset.from_list(rows, features=features)


def mmlu_pro() -> TaskData:
    """Five validation rows and one test row per category (two for biology and math), each
    test question with its own right letter and a wrong one."""
    validation: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    key: dict[str, KeyedAnswer] = {}
    qid = 70
    for c, category in enumerate(MMLU_PRO_CATEGORIES):
        for j in range(5):
            letter = LETTERS[(c + j) % 10]
            validation.append(
                {
                    "question_id": c * 5 + j,
                    "question": f"Worked {category} example {j + 1}: which option is marked "
                    f"as the key in sheet {c}-{j}?",
                    "options": [f"sheet {c}-{j} entry {m}" for m in range(10)],
                    "answer": letter,
                    "answer_index": LETTERS.index(letter),
                    "cot_content": "A: Let's think step by step. The key of this sheet is "
                    f"entry {LETTERS.index(letter)}. The answer is ({letter}).",
                    "category": category,
                    "src": f"cot_lib-{category.replace(' ', '_')}",
                }
            )
        for t in range(2 if category in ("biology", "math") else 1):
            n_options = 10 if t == 0 else 7  # some MMLU-Pro questions have fewer options
            index = (3 * c + 2 * t + 1) % n_options
            question = f"Which {category} statement number {c}.{t} is true?"
            test.append(
                {
                    "question_id": qid,
                    "question": question,
                    "options": [f"{category} claim {c}.{t}.{m}" for m in range(n_options)],
                    "answer": LETTERS[index],
                    "answer_index": index,
                    "cot_content": "",
                    "category": category,
                    "src": f"ori_mmlu-{category.replace(' ', '_')}",
                }
            )
            qid += 1
            wrong = LETTERS[(index + 1) % n_options]
            key[question] = KeyedAnswer(
                right=f" Claim {index} holds and the others do not. The answer is "
                f"({LETTERS[index]}).",
                wrong=f" The answer is ({wrong}).",
            )
    return TaskData(
        "TIGER-Lab/MMLU-Pro",
        None,
        {"test": _ds(test, MMLU_PRO_FEATURES), "validation": _ds(validation, MMLU_PRO_FEATURES)},
        key,
    )


GSM8K_TEST = (
    ("A baker makes 17 loaves in the morning and 25 in the afternoon. How many loaves "
     "does the baker make in a day?", "17 + 25 = <<17+25=42>>42 loaves.", 42),
    ("Tom has 120 marbles and gives away 45. How many marbles does Tom have left?",
     "120 - 45 = <<120-45=75>>75 marbles.", 75),
    ("A crate holds 12 bottles. How many bottles are in 1,250 crates?",
     "12 * 1250 = <<12*1250=15000>>15000 bottles.", 15000),
    ("The temperature was 4 degrees and fell by 9 degrees. What is the temperature now?",
     "4 - 9 = <<4-9=-5>>-5 degrees.", -5),
)  # fmt: skip


def gsm8k() -> TaskData:
    """Six training rows (the 5-shot pool) and four test questions."""
    train = [
        {
            "question": f"Sam reads {p} pages a day for {d} days. How many pages does Sam read?",
            "answer": f"Sam reads {p} * {d} = <<{p}*{d}={p * d}>>{p * d} pages.\n#### {p * d}",
        }
        for p, d in ((3, 4), (5, 6), (7, 2), (8, 8), (9, 3), (11, 5))
    ]
    test = [{"question": q, "answer": f"{steps}\n#### {n}"} for q, steps, n in GSM8K_TEST]
    key = {
        q: KeyedAnswer(right=f" {steps}\n#### {n}", wrong=f" {steps}\n#### {n + 1}")
        for q, steps, n in GSM8K_TEST
    }
    return TaskData(
        "openai/gsm8k",
        "main",
        {"train": _ds(train, GSM8K_FEATURES), "test": _ds(test, GSM8K_FEATURES)},
        key,
    )


ARC_TEST: tuple[dict[str, Any], ...] = (
    {
        "id": "Mercury_7175875",
        "question": "An astronomer sees a planet rotate faster after a meteorite impact. "
        "Which is the most likely effect of this increase in rotation?",
        "choices": {
            "text": [
                "Planetary density will decrease.",
                "Planetary years will become longer.",
                "Planetary days will become shorter.",
                "Planetary gravity will become stronger.",
            ],
            "label": ["A", "B", "C", "D"],
        },
        "answerKey": "C",
    },
    {
        "id": "NYSEDREGENTS_2015_4_8",
        "question": "Which tool is used to measure the mass of a rock?",
        "choices": {
            "text": ["ruler", "balance", "thermometer", "graduated cylinder"],
            "label": ["1", "2", "3", "4"],
        },
        "answerKey": "2",
    },
    {
        "id": "Mercury_SC_401169",
        "question": "Which form of energy does a plant mainly capture from the Sun?",
        "choices": {"text": ["sound", "light", "magnetism"], "label": ["A", "B", "C"]},
        "answerKey": "B",
    },
    {
        "id": "MCAS_2004_8_27",
        "question": "Which property of a mineral can be tested by scratching it on glass?",
        "choices": {
            "text": ["luster", "hardness", "color", "streak", "cleavage"],
            "label": ["A", "B", "C", "D", "E"],
        },
        "answerKey": "B",
    },
)


def arc_challenge() -> TaskData:
    """Two training and two validation rows, and four test questions (one labelled 1-4,
    one with three choices, one with five)."""
    train = [
        {
            "id": f"Mercury_{7000 + i}",
            "question": f"Which unit would a student use to record distance number {i}?",
            "choices": {"text": ["meter", "liter", "gram", "second"], "label": list("ABCD")},
            "answerKey": "A",
        }
        for i in range(2)
    ]
    validation = [
        {
            "id": f"Mercury_{8000 + i}",
            "question": f"Which state of matter has a fixed shape, sample {i}?",
            "choices": {"text": ["gas", "liquid", "solid", "plasma"], "label": list("ABCD")},
            "answerKey": "C",
        }
        for i in range(2)
    ]
    key = {}
    for row in ARC_TEST:
        choices = row["choices"]
        right = choices["text"][choices["label"].index(row["answerKey"])]
        key[row["question"]] = KeyedAnswer(right=f" {right}")
    return TaskData(
        "allenai/ai2_arc",
        "ARC-Challenge",
        {
            "train": _ds(train, ARC_FEATURES),
            "validation": _ds(validation, ARC_FEATURES),
            "test": _ds(list(ARC_TEST), ARC_FEATURES),
        },
        key,
    )


def _swag(ind: int, label: str, ctx_a: str, ctx_b: str, endings: list[str], **kw: Any) -> dict:
    return {
        "ind": ind,
        "activity_label": label,
        "ctx_a": ctx_a,
        "ctx_b": ctx_b,
        "ctx": f"{ctx_a} {ctx_b}" if ctx_b else ctx_a,
        "endings": endings,
        "source_id": kw.get("source_id", f"activitynet~v_{ind:05d}"),
        "split": kw["split"],
        "split_type": kw.get("split_type", "indomain"),
        "label": kw["gold"],
    }


HELLASWAG_VALIDATION = (
    _swag(
        24, "Baking cookies", "A woman pours flour into a large bowl.", "she",
        ["drops the bowl on the floor.", "cracks two eggs into the flour and stirs.",
         "paints the kitchen wall blue.", "walks her dog around the park."],
        split="val", gold="1",
    ),
    _swag(
        92, "Playing guitar", "A man sits on a stool holding an acoustic guitar.", "he",
        ["throws the guitar into a lake.", "eats a sandwich with the strings.",
         "tunes the strings and starts to strum a song.", "climbs onto the roof."],
        split="val", gold="2", split_type="zeroshot",
    ),
    _swag(
        311, "Washing a car", "A boy sprays the car with a hose and scrubs the hood.", "",
        ["The boy rinses the soap off and dries the car with a towel.",
         "The car flies away into the clouds.", "The hose turns into a snake and hisses.",
         "The boy plants a tree on the roof."],
        split="val", gold="0",
    ),
    _swag(
        1502, "Home and Garden", "[header] How to water a houseplant [title] Feel the soil "
        "with your finger.", "",
        ["[step] Set the plant on fire before watering.",
         "[step] Water it only when the top inch of soil feels dry.",
         "[step] Freeze the pot overnight.", "[step] Paint the leaves with glue."],
        split="val", gold="1", source_id="wikihow~1502", split_type="zeroshot",
    ),
)  # fmt: skip

# The query each validation row becomes through the task's own utils.process_docs (label,
# colon, ctx_a, capitalized ctx_b; "[title]" becomes a full stop, other brackets go), and its
# right ending: written out here, not computed, as the test's independent expectation.
HELLASWAG_EXPECTED = (
    ("Baking cookies: A woman pours flour into a large bowl. She",
     "cracks two eggs into the flour and stirs."),
    ("Playing guitar: A man sits on a stool holding an acoustic guitar. He",
     "tunes the strings and starts to strum a song."),
    ("Washing a car: A boy sprays the car with a hose and scrubs the hood.",
     "The boy rinses the soap off and dries the car with a towel."),
    # The ending keeps the space that followed "[step]": lm-eval's preprocess strips first.
    ("Home and Garden: How to water a houseplant. Feel the soil with your finger.",
     " Water it only when the top inch of soil feels dry."),
)  # fmt: skip


def hellaswag() -> TaskData:
    """Two training rows, the four validation rows above (the ones evaluated; one from
    WikiHow with its bracket markup), and one unlabelled test row."""
    train = [
        _swag(
            i, "Running", f"A runner ties her shoes, lap {i}.", "she",
            ["starts jogging along the track.", "sleeps on the track.",
             "swims in the track.", "sells the track."],
            split="train", gold="0",
        )
        for i in range(2)
    ]  # fmt: skip
    test = [
        _swag(
            5000, "Cooking pasta", "A chef boils water in a pot.", "he",
            ["adds pasta.", "adds sand.", "adds paint.", "adds shoes."],
            split="test", gold="",
        )
    ]  # fmt: skip
    key = {query: KeyedAnswer(right=f" {ending}") for query, ending in HELLASWAG_EXPECTED}
    return TaskData(
        "Rowan/hellaswag",
        None,
        {
            "train": _ds(train, HELLASWAG_FEATURES),
            "validation": _ds(list(HELLASWAG_VALIDATION), HELLASWAG_FEATURES),
            "test": _ds(test, HELLASWAG_FEATURES),
        },
        key,
    )


def all_task_data() -> dict[str, TaskData]:
    """The four datasets by lm-eval task name."""
    return {
        "mmlu_pro": mmlu_pro(),
        "gsm8k": gsm8k(),
        "arc_challenge": arc_challenge(),
        "hellaswag": hellaswag(),
    }
