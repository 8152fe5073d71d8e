"""Reports: read bench and eval result files (never run anything), price them with the
cost model, set them beside the planner's roofline bounds, and render a terminal table,
Markdown, CSV, JSON or one self-contained HTML page with plots.

Modules: ``load`` (finding and reading result files), ``model`` (the report data
structure), ``document`` (its layout), ``plots`` (matplotlib figures), ``render_*`` (one per
format) and ``write`` (:func:`write_report`, the one call the CLI and the main job make).
"""

from localeval.report.model import Report, ReportOptions, build_report, load_report
from localeval.report.write import FORMATS, write_report

__all__ = ["FORMATS", "Report", "ReportOptions", "build_report", "load_report", "write_report"]
