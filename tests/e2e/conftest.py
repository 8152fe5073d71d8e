"""End-to-end fixtures: the real vLLM CPU server on the project's tiny model, started once
per test session through the library's own launcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localeval.recipes import load_recipe
from localeval.server.lifecycle import VllmServer, group_members, launch_server


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    pytest.importorskip("vllm", reason="needs a vLLM build (pip install -e '.[cpu]')")
    run_dir = tmp_path_factory.mktemp("vllm-session")
    with launch_server(load_recipe("tiny-cpu"), run_dir=Path(run_dir)) as server:
        pgid = server.pid
        yield server
    assert pgid is not None and group_members(pgid) == []
