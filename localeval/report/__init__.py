"""Reports: read bench and eval result files (never run anything), price them with the
cost model, set them beside the planner's roofline bounds, and render a terminal table,
Markdown, CSV, JSON or one self-contained HTML page with plots.

Modules: ``load`` (reading result files through the one resolver), ``model`` (the report
data structure), ``build`` (pricing the runs with the cost model and filling the structure),
``views`` (Pareto frontier, labels, footnotes), ``document`` (its layout), ``plots``
(matplotlib figures), ``render_*`` (one per format) and ``write`` (:func:`write_report`, the
one call the CLI and the main job make).
"""

from localeval.report.build import build_report, load_report
from localeval.report.model import Report, ReportOptions
from localeval.report.write import FORMATS, write_report

__all__ = ["FORMATS", "Report", "ReportOptions", "build_report", "load_report", "write_report"]
