"""The report as JSON: :meth:`~localeval.report.model.Report.to_dict`, indented."""

from __future__ import annotations

import json

from localeval.report.model import Report


def render_json(report: Report) -> str:
    """The report's JSON text (``kind: "report"``), ending with a newline."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
