"""The load generator behind ``localeval bench``: a streaming client for OpenAI-compatible
endpoints (:mod:`.client`), workloads (:mod:`.workloads`), load patterns and the SLO
search (:mod:`.schedule`), pure metrics (:mod:`.metrics`) with a mergeable quantile
sketch for long points (:mod:`.sketch`), points spread over client processes
(:mod:`.workers`), the result schema (:mod:`.result`) and the run itself (:mod:`.runner`).
It talks to an endpoint URL and never starts a server."""

from localeval.bench.config import BenchConfig, SloConfig, parse_slo
from localeval.bench.result import BenchResult, PointResult, load_bench_result
from localeval.bench.runner import run_bench

__all__ = [
    "BenchConfig",
    "BenchResult",
    "PointResult",
    "SloConfig",
    "load_bench_result",
    "parse_slo",
    "run_bench",
]
