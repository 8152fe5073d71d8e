"""A new user's bad inputs, one row each: the command line, the environment, the exit code
(2 bad usage or input, 1 a run that failed, 130 interrupted), a fragment of the message,
never a traceback, and no half-written or empty file where the case names an output.

``{tmp}`` in an argument or a variable is the test's folder (holding the broken files made
by :func:`_inputs`); ``{data}`` is ``tests/data``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from localeval.cli import cli

DATA = Path(__file__).parent / "data"
BENCH = "{data}/bench_h100.json"
PROFILES = "{data}/profiles"
PLAN = ("plan", "--model", "llama-3.1-8b", "--profile", "h100-sxm")

GOOD_RECIPE = (
    "name: r\nmodel:\n  id: builtin:tiny-sums\nhardware:\n  profile: cpu\n  gpu_count: 1\n"
)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    fragment: str
    env: dict[str, str] = field(default_factory=dict)
    output: str | None = None  # a path the command must leave absent (never half-written)


def C(  # a table row reads better with a one-letter name
    id: str,
    argv: tuple[str, ...] | str,
    code: int,
    fragment: str,
    env: dict[str, str] | None = None,
    output: str | None = None,
) -> Case:
    args = tuple(argv.split()) if isinstance(argv, str) else argv
    return Case(id, args, code, fragment, env or {}, output)


NO_DIR = "/nonexistent-localeval-dir"

CASES = [
    # --- the top level ---------------------------------------------------------------------
    C("unknown-command", "benchmark", 2, "No such command"),
    C("unknown-top-option", "--verbose recipes list", 2, "No such option"),
    # --- report ----------------------------------------------------------------------------
    C("report-no-runs", "report", 2, "Missing argument"),
    C("report-unknown-format", f"report {BENCH} --format pdf", 2, "'--format'"),
    C(
        "report-unknown-extension",
        f"report {BENCH} --profiles-dir {PROFILES} -o {{tmp}}/r.xyz",
        2,
        ".md, .markdown, .csv, .json, .html, .htm",
        output="{tmp}/r.xyz",
    ),
    C(
        "report-unknown-extension-names-format-flag",
        f"report {BENCH} --profiles-dir {PROFILES} -o {{tmp}}/r.pdf",
        2,
        "--format",
        output="{tmp}/r.pdf",
    ),
    C(
        "report-unwritable-output",
        f"report {BENCH} --profiles-dir {PROFILES} -o /proc/x/r.html",
        2,
        "/proc/x/r.html",
    ),
    C(
        "report-output-under-a-file",
        f"report {BENCH} --profiles-dir {PROFILES} -o {{tmp}}/a-file/r.md",
        2,
        "a-file/r.md",
    ),
    C("report-missing-run", "report {tmp}/nope.json", 2, "nope.json"),
    C("report-not-json", "report {tmp}/notes.txt", 2, "notes.txt"),
    C("report-empty-folder", "report {tmp}/empty", 2, "empty"),
    C("report-wrong-kind", "report {tmp}/recipe.json", 2, "recipe.json"),
    C(
        "report-unknown-profile",
        f"report {BENCH} --profiles-dir {PROFILES} --profile nope -o {{tmp}}/r.md",
        2,
        "unknown hardware profile 'nope'",
        output="{tmp}/r.md",
    ),
    C(
        "report-missing-profiles-dir",
        f"report {BENCH} --profiles-dir {NO_DIR}",
        2,
        NO_DIR,
    ),
    C(
        "report-profiles-env-missing",
        f"report {BENCH} -o {{tmp}}/r.md",
        2,
        "$LOCALEVAL_PROFILES_DIR",
        env={"LOCALEVAL_PROFILES_DIR": NO_DIR},
        output="{tmp}/r.md",
    ),
    C(
        "report-unknown-pricing",
        f"report {BENCH} --profiles-dir {PROFILES} --pricing cheap -o {{tmp}}/r.md",
        2,
        "cheap",
        output="{tmp}/r.md",
    ),
    C("report-unknown-option", f"report {BENCH} --colour", 2, "No such option"),
    # --- cost ------------------------------------------------------------------------------
    C("cost-unknown-option", "cost --dollars", 2, "No such option"),
    C("cost-missing-result", "cost {tmp}/nope.json", 2, "nope.json"),
    C("cost-not-json", "cost {tmp}/notes.txt", 2, "notes.txt"),
    C(
        "cost-unknown-profile",
        f"cost {BENCH} --profiles-dir {PROFILES} --profile nope",
        2,
        "unknown hardware profile",
    ),
    C(
        "cost-unknown-pricing",
        f"cost {BENCH} --profiles-dir {PROFILES} --pricing cheap",
        2,
        "cheap",
    ),
    C(
        "cost-unknown-api-model",
        f"cost {BENCH} --profiles-dir {PROFILES} --compare not-a-model",
        2,
        "not-a-model",
    ),
    C("cost-missing-profiles-dir", f"cost {BENCH} --profiles-dir {NO_DIR}", 2, NO_DIR),
    C(
        "cost-profiles-env-missing",
        f"cost {BENCH} --profile test-h100",
        2,
        "$LOCALEVAL_PROFILES_DIR",
        env={"LOCALEVAL_PROFILES_DIR": NO_DIR},
    ),
    C("cost-usd-per-hour-not-a-number", f"cost {BENCH} --usd-per-hour lots", 2, "--usd-per-hour"),
    C("cost-prices-file-missing", "cost --list-models --prices {tmp}/nope.json", 2, "nope.json"),
    # --- plan ------------------------------------------------------------------------------
    C("plan-nothing", "plan", 2, "--model and --profile are required"),
    C("plan-gpus-huge", (*PLAN, "--gpus", "1000000000000"), 2, "'--gpus'"),
    C("plan-gpus-range-shown", (*PLAN, "--gpus", "2000"), 2, "1<=x<=1024"),
    C("plan-gpus-zero", (*PLAN, "--gpus", "0"), 2, "'--gpus'"),
    C("plan-gpus-uuid", (*PLAN, "--gpus", "GPU-1234"), 2, "is not a number"),
    C("plan-tp-zero", (*PLAN, "--tp", "0"), 2, "'--tensor-parallel'"),
    C("plan-tp-gpus-disagree", (*PLAN, "--tp", "2", "--gpus", "4"), 2, "disagree"),
    C("plan-slo-no-value", (*PLAN, "--slo", "tpot_ms"), 2, "KEY=VALUE"),
    C("plan-slo-not-a-number", (*PLAN, "--slo", "tpot_ms=fast"), 2, "is not a number"),
    C("plan-utilization-zero", (*PLAN, "--gpu-memory-utilization", "0"), 2, "0<x<=1"),
    C("plan-utilization-over-one", (*PLAN, "--gpu-memory-utilization", "1.5"), 2, "0<x<=1"),
    C("plan-peak-factor-below-one", (*PLAN, "--peak-factor", "0.5"), 2, "--peak-factor"),
    C("plan-context-zero", (*PLAN, "--context", "0"), 2, "--context"),
    C("plan-requests-per-day-zero", (*PLAN, "--requests-per-day", "0"), 2, "--requests-per-day"),
    C(
        "plan-unknown-profile",
        "plan --model llama-3.1-8b --profile h100",
        2,
        "unknown hardware profile 'h100'",
    ),
    C("plan-missing-profiles-dir", (*PLAN, "--profiles-dir", NO_DIR), 2, NO_DIR),
    C(
        "plan-profiles-env-missing",
        PLAN,
        2,
        NO_DIR,
        env={"LOCALEVAL_PROFILES_DIR": NO_DIR},
    ),
    C("plan-compare-missing-run", "plan --compare {tmp}/nope", 2, "nope"),
    # --- doctor ----------------------------------------------------------------------------
    C("doctor-hub-timeout-negative", "doctor --hub-timeout -1", 2, "'--hub-timeout'"),
    C("doctor-hub-timeout-zero", "doctor --hub-timeout 0", 2, "'--hub-timeout'"),
    C("doctor-hub-timeout-not-a-number", "doctor --hub-timeout soon", 2, "'--hub-timeout'"),
    C("doctor-unknown-option", "doctor --fix", 2, "No such option"),
    # doctor reports a recipe it cannot load as a blocking finding beside its other checks.
    C(
        "doctor-recipes-env-missing",
        "doctor tiny-cpu --no-hub",
        1,
        "$LOCALEVAL_RECIPES_DIR",
        env={"LOCALEVAL_RECIPES_DIR": NO_DIR},
    ),
    # --- recipes ---------------------------------------------------------------------------
    C("recipes-unknown-subcommand", "recipes ls", 2, "No such command"),
    C("recipes-show-unknown", "recipes show no-such-recipe", 2, "unknown recipe"),
    C("recipes-show-did-you-mean", "recipes show tiny-cpuu", 2, "did you mean 'tiny-cpu'"),
    C("recipes-show-missing-file", "recipes show {tmp}/nope.yaml", 2, "no such recipe file"),
    C("recipes-show-syntax-error", "recipes show {tmp}/syntax.yaml", 2, "line 2, column"),
    C("recipes-show-python-tag", "recipes show {tmp}/tag.yaml", 2, "remove the tag"),
    C("recipes-validate-nothing", "recipes validate", 2, "Missing argument"),
    C("recipes-validate-syntax-error", "recipes validate {tmp}/syntax.yaml", 2, "syntax error"),
    C("recipes-validate-tab", "recipes validate {tmp}/tab.yaml", 2, "spaces, not tabs"),
    C("recipes-validate-unknown-field", "recipes validate {tmp}/extra.yaml", 2, "unknown field"),
    C("recipes-validate-list", "recipes validate {tmp}/list.yaml", 2, "expected a mapping"),
    C("recipes-validate-binary", "recipes validate {tmp}/binary.yaml", 2, "not a text file"),
    C("recipes-validate-missing", "recipes validate {tmp}/nope.yaml", 2, "nope.yaml"),
    C(
        "recipes-list-env-missing",
        "recipes list",
        2,
        "$LOCALEVAL_RECIPES_DIR",
        env={"LOCALEVAL_RECIPES_DIR": NO_DIR},
    ),
    C(
        "recipes-list-env-a-file",
        "recipes list",
        2,
        "is not a folder",
        env={"LOCALEVAL_RECIPES_DIR": "{tmp}/notes.txt"},
    ),
    C(
        "recipes-show-env-missing",
        "recipes show tiny-cpu",
        2,
        NO_DIR,
        env={"LOCALEVAL_RECIPES_DIR": NO_DIR},
    ),
    C("recipes-list-unknown-option", "recipes list --yaml", 2, "No such option"),
    # --- hw --------------------------------------------------------------------------------
    C("hw-show-unknown", "hw show nope", 2, "unknown hardware profile 'nope'"),
    C("hw-show-did-you-mean", "hw show h200x", 2, "did you mean"),
    C("hw-show-nothing", "hw show", 2, "Missing argument"),
    C("hw-list-missing-profiles-dir", f"hw list --profiles-dir {NO_DIR}", 2, NO_DIR),
    C(
        "hw-list-profiles-env-missing",
        "hw list",
        2,
        NO_DIR,
        env={"LOCALEVAL_PROFILES_DIR": NO_DIR},
    ),
    C("hw-list-broken-profile", "hw list --profiles-dir {tmp}/profiles", 2, "broken.yaml"),
    C("hw-detect-unknown-option", "hw detect --all", 2, "No such option"),
    # --- serve (argument errors only: none of these may start a server) --------------------
    C("serve-nothing", "serve", 2, "Missing argument"),
    C("serve-unknown-recipe", "serve no-such-recipe", 2, "unknown recipe"),
    C("serve-missing-file", "serve {tmp}/nope.yaml", 2, "no such recipe file"),
    C("serve-syntax-error", "serve {tmp}/syntax.yaml", 2, "line 2, column"),
    C("serve-syntax-error-no-tag-hint", "serve {tmp}/syntax.yaml", 2, "fix the syntax"),
    C("serve-python-tag", "serve {tmp}/tag.yaml", 2, "!!python"),
    C("serve-port-not-a-number", "serve tiny-cpu --port http", 2, "'--port'"),
    C("serve-port-out-of-range", "serve tiny-cpu --port 70000", 2, "1<=x<=65535"),
    C("serve-unknown-launcher", "serve tiny-cpu --launcher docker", 2, "'--launcher'"),
    C("serve-startup-timeout-negative", "serve tiny-cpu --startup-timeout -5", 2, "x>0"),
    C(
        "serve-recipes-env-missing",
        "serve tiny-cpu",
        2,
        "$LOCALEVAL_RECIPES_DIR",
        env={"LOCALEVAL_RECIPES_DIR": NO_DIR},
    ),
    # --- schema ----------------------------------------------------------------------------
    C("schema-nothing", "schema", 2, "name a KIND"),
    C("schema-unknown-kind", "schema benchmark", 2, "benchmark"),
    C("schema-unknown-option", "schema bench --yaml", 2, "No such option"),
]


def _inputs(tmp: Path) -> None:
    """The broken files the cases name."""
    (tmp / "empty").mkdir()
    (tmp / "a-file").write_text("not a folder\n")
    (tmp / "notes.txt").write_text("some notes, not a result\n")
    (tmp / "recipe.json").write_text('{"name": "r", "model": {"id": "x"}}\n')
    (tmp / "syntax.yaml").write_text("name: [r\nmodel: x\n")
    (tmp / "tab.yaml").write_text("name: r\nmodel:\n\tid: x\n")
    (tmp / "tag.yaml").write_text(
        GOOD_RECIPE + "description: !!python/object/apply:os.system [ls]\n"
    )
    (tmp / "extra.yaml").write_text(GOOD_RECIPE + "colour: blue\n")
    (tmp / "list.yaml").write_text("- name: r\n")
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01 not text")
    (tmp / "profiles").mkdir()
    (tmp / "profiles" / "broken.yaml").write_text("name: broken\nmemory_gb: [\n")


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{data}", str(DATA))


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad-input case must never get as far as starting vLLM."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bad-input case started a server")

    monkeypatch.setattr("localeval.cli.serve.served", refuse)


def test_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _inputs(tmp_path)
    before = {p for p in tmp_path.rglob("*")}
    for name, value in case.env.items():
        monkeypatch.setenv(name, _fill(value, tmp_path))
    argv = [_fill(a, tmp_path) for a in case.argv]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    output = result.output
    assert result.exit_code == case.code, output
    assert _fill(case.fragment, tmp_path) in output, output
    assert "Traceback" not in output
    if case.output is not None:
        assert not Path(_fill(case.output, tmp_path)).exists(), output
    # Nothing written at all: no report, no temporary file left behind, no empty file.
    assert {p for p in tmp_path.rglob("*")} == before


# --- interrupted: 130 and one line, whatever the command -----------------------------------


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("localeval.cli.recipes.list_all_recipes", ["recipes", "list"]),
        ("localeval.cli.hw.list_profiles", ["hw", "list"]),
        ("localeval.cli.plan.run_plan", [*PLAN]),
        ("localeval.cli.doctor.run_doctor", ["doctor", "--no-hub"]),
        ("localeval.cli.report.load_report", ["report", str(DATA / "bench_h100.json")]),
    ],
)
def test_ctrl_c_exits_130_with_one_line(
    target: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target, _interrupt)
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 130, result.output
    assert result.output == "interrupted\n"


@pytest.mark.parametrize("fmt", ["html", "md", "json"])
def test_ctrl_c_while_the_report_is_written_leaves_the_old_one_whole(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (second) Ctrl-C while the file is being replaced: exit 130, the report already
    there is untouched, and no temporary file is left beside it."""
    from localeval.report import write as write_mod
    from localeval.results import io as io_mod

    monkeypatch.setattr(write_mod, "figure_png", lambda fig: b"\x89PNG fake")
    out = tmp_path / f"report.{fmt}"
    out.write_text("the previous report\n")
    monkeypatch.setattr(io_mod.os, "replace", _interrupt)
    argv = ["report", str(DATA / "bench_h100.json"), "--profiles-dir", str(DATA / "profiles")]
    result = CliRunner().invoke(cli, [*argv, "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Aborted" not in result.output
    assert out.read_text() == "the previous report\n"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
