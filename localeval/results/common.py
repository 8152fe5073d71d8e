"""The parts every result file shares: the status words, latency statistics and the
provenance of a measurement (which localeval, which server and how it was started, which
GPUs, which recipe). Bench and eval results record provenance in this one shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

# The status of a measurement in every kind of file.
Status = Literal["running", "complete", "failed", "interrupted"]
# What served: NVIDIA GPUs, vLLM's CPU build, or a remote endpoint nobody said.
Device = Literal["gpu", "cpu", "api", "unknown"]


class ResultModel(BaseModel):
    """Base of every result-file model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class LatencyStats(ResultModel):
    """Mean and percentiles in milliseconds (linear interpolation, numpy's default);
    ``count`` is the number of values; null figures when there was none."""

    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    count: int = 0


class EndpointInfo(ResultModel):
    """The OpenAI-compatible endpoint measured. ``local``: it runs on this machine;
    ``max_model_len`` (tokens) as the server reports it; ``root``: the model path it names."""

    base_url: str
    local: bool
    max_model_len: int | None = None
    root: str | None = None


class EngineInfo(ResultModel):
    """How the server was started when localeval started it (secrets redacted), or, for an
    existing deployment (``launcher: external``), what was said of it: its GPU count. ``gpu_count``: every GPU the engine holds
    on every node (0 on vLLM's CPU build). ``engine_workers``: the engine's worker processes
    (tensor x pipeline x data parallel sizes): one per GPU on a GPU build; on the CPU build
    processes that share the host's cores (None when localeval did not start the server)."""

    launcher: str | None = None
    deployment: str | None = None
    vllm_build: Literal["cpu", "gpu"] | None = None
    vllm_version: str | None = None
    argv: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    model: str | None = None
    served_model_name: str | None = None
    gpu_count: int | None = Field(default=None, ge=0)
    gpu_count_source: str | None = None
    engine_workers: int | None = Field(default=None, ge=1)
    ready_after_s: float | None = None
    recipe: str | None = None
    cluster: dict[str, Any] | None = None


class GpuRecord(ResultModel):
    """One NVIDIA GPU as NVML reported it (``memory_total_bytes`` in bytes,
    ``power_limit_w`` in watts; ``errors``: why a figure is null)."""

    index: int | None = None
    name: str
    uuid: str | None = None
    memory_total_bytes: int | None = None
    driver_version: str | None = None
    power_limit_w: float | None = None
    mig_mode: bool | None = None
    profile: str | None = None
    errors: dict[str, str] = Field(default_factory=dict)


class GpuDetection(ResultModel):
    """NVML's view of this machine (the GPUs themselves are in ``gpus``)."""

    available: bool
    reason: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None


class Provenance(ResultModel):
    """Where and how a measurement was made.

    ``model`` is the served model name; ``engine`` how localeval started the server (None
    for an endpoint it did not start); ``engine_args`` the engine settings (the recipe's
    ``engine`` section, or what the server reports); ``engine_version`` the vLLM version
    that served. ``gpu_count`` is every GPU the server uses, on every node (0 for a CPU
    server, and 0 when a remote endpoint's count is unknown: ``gpu_count_source`` says which);
    ``device`` what served (``api``: a closed API, priced by the usage it billed, never by
    GPU time); ``gpus`` this machine's GPUs that served, as NVML named them."""

    localeval_version: str
    python_version: str | None = None
    platform: str | None = None
    hostname: str | None = None
    model: str
    model_id: str | None = None
    model_path: str | None = None
    revision: str | None = None
    endpoint: EndpointInfo | None = None
    engine: EngineInfo | None = None
    engine_args: dict[str, Any] = Field(default_factory=dict)
    engine_version: str | None = None
    server_version: str | None = None
    vllm_version_installed: str | None = None
    device: Device = "unknown"
    gpu_count: int = Field(ge=0)
    gpu_count_source: str | None = None
    gpus: list[GpuRecord] = Field(default_factory=list)
    gpu_detection: GpuDetection | None = None
    profile: str | None = None
    recipe: dict[str, Any] | None = None
    seed: int | None = None
    argv: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cpu_is_zero_gpus(self) -> Provenance:
        if self.device in ("cpu", "api") and self.gpu_count != 0:
            raise ValueError(
                f"a {self.device.upper()} server uses 0 GPUs, not {self.gpu_count} "
                f"(device: {self.device})"
            )
        return self

    @property
    def engine_workers(self) -> int | None:
        """The engine's worker processes, when localeval started the server (see
        :class:`EngineInfo`)."""
        return self.engine.engine_workers if self.engine is not None else None

    @property
    def hardware(self) -> str:
        """``1 x NVIDIA H100 80GB HBM3``, ``CPU``, ``CPU, 2 engine workers`` or ``no GPU``:
        what the file says served."""
        if self.gpu_count <= 0:
            if self.device == "cpu" and (self.engine_workers or 1) > 1:
                return f"CPU, {self.engine_workers} engine workers"
            return {"cpu": "CPU", "api": "closed API"}.get(self.device, "no GPU")
        names = sorted({g.name for g in self.gpus})
        return f"{self.gpu_count} x {', '.join(names) if names else 'GPU (name not recorded)'}"

    @property
    def driver_version(self) -> str | None:
        """The NVIDIA driver, as NVML reported it."""
        if self.gpu_detection is not None and self.gpu_detection.driver_version:
            return self.gpu_detection.driver_version
        drivers = sorted({g.driver_version for g in self.gpus if g.driver_version})
        return ", ".join(drivers) or None


def device_kind(
    vllm_build: str | None, gpu_count: int, installed_build: str | None = None
) -> Device:
    """What served: ``cpu`` for a server started on vLLM's CPU build, ``gpu`` when GPUs are
    counted; for a local server started elsewhere with no GPU counted, ``cpu`` when the
    build installed here is the CPU one; else ``unknown`` (a remote endpoint whose GPUs
    nobody gave)."""
    if vllm_build == "cpu":
        return "cpu"
    if gpu_count > 0:
        return "gpu"
    if vllm_build is None and installed_build == "cpu":
        return "cpu"
    return "unknown"


def to_json(record: Any) -> dict[str, Any]:
    """A result record (a model or a pydantic dataclass) as the JSON its file holds: aliases
    and computed figures included."""
    data: dict[str, Any] = TypeAdapter(type(record)).dump_python(record, mode="json", by_alias=True)
    return data


def without_computed(data: Any, *names: str) -> Any:
    """``data`` without the figures a record computes (its computed fields), so that a file
    it wrote reads back into the same record."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in names}
    return data
