"""Rendering a report in one format and writing it: :func:`write_report` is the library call
behind ``localeval report`` and the end of the main job. HTML embeds its figures; Markdown
links PNG files written beside it (``NAME_files/``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from localeval.errors import ConfigError
from localeval.report.build import load_report
from localeval.report.document import build_document
from localeval.report.model import Report, ReportOptions
from localeval.report.plots import build_figures, figure_png
from localeval.report.render_csv import render_csv
from localeval.report.render_html import render_html
from localeval.report.render_json import render_json
from localeval.report.render_markdown import render_markdown
from localeval.report.render_text import render_text
from localeval.results.io import write_text_atomic

FORMATS = ("table", "md", "csv", "json", "html")
EXTENSIONS = {"table": ".txt", "md": ".md", "csv": ".csv", "json": ".json", "html": ".html"}
_BY_SUFFIX = {".txt": "table", ".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json"}
_BY_SUFFIX |= {".html": "html", ".htm": "html"}
DEFAULT_NAME = "report"


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`FORMATS`; raises :class:`ConfigError` otherwise."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def format_for(output: Path | None, fmt: str | None) -> str:
    """The format asked for, else the one ``output``'s suffix names, else ``table`` (no
    output, an output without a suffix, or an existing folder). An output whose suffix names
    no format raises :class:`ConfigError` listing the known ones, rather than writing a
    table under a name that promises something else."""
    if fmt is not None:
        return check_format(fmt)
    if output is None or output.is_dir() or not output.suffix:
        return "table"
    suffix = output.suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise ConfigError(
            f"--output {output}: unknown report extension {output.suffix!r}; "
            f"known extensions: {', '.join(_BY_SUFFIX)}",
            hint=f"use one of those extensions, or name the format with --format "
            f"({', '.join(FORMATS)})",
        )
    return _BY_SUFFIX[suffix]


def png_images(report: Report) -> dict[str, bytes]:
    """Each of the report's figures as PNG bytes, keyed as in ``document.FIGURES``."""
    if not report.options.plots:
        return {}
    return {key: figure_png(fig) for key, fig in build_figures(report).items()}


def render(report: Report, fmt: str, *, images: Mapping[str, str | bytes] | None = None) -> str:
    """The report as text in ``fmt``. ``images``: for ``html`` PNG bytes per figure key
    (embedded); for ``md`` the relative path of each figure's PNG (linked)."""
    check_format(fmt)
    images = images or {}
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    doc = build_document(report, plots=report.options.plots)
    if fmt == "html":
        return render_html(doc, {k: v for k, v in images.items() if isinstance(v, bytes)})
    if fmt == "md":
        return render_markdown(doc, {k: v for k, v in images.items() if isinstance(v, str)})
    return render_text(doc)


def default_output(paths: Sequence[Path | str], fmt: str) -> Path:
    """``report.EXT`` in the first run directory (or beside the first result file)."""
    first = Path(paths[0])
    folder = first if first.is_dir() else first.parent
    return folder / f"{DEFAULT_NAME}{EXTENSIONS[check_format(fmt)]}"


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_rendered(report: Report, fmt: str, path: Path) -> Path:
    """Write ``report`` in ``fmt`` to ``path`` (a folder gets ``report.EXT`` inside it);
    Markdown's figures go to ``STEM_files/KEY.png`` beside it. Returns the file written."""
    check_format(fmt)
    path = Path(path)
    if path.is_dir():
        path = path / f"{DEFAULT_NAME}{EXTENSIONS[fmt]}"
    try:
        _write_rendered(report, fmt, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            hint="choose a file in a folder you can write to with --output",
        ) from exc
    return path


def _write_rendered(report: Report, fmt: str, path: Path) -> None:
    images: dict[str, str | bytes] = {}
    if fmt in ("html", "md"):
        pngs = png_images(report)
        if fmt == "html":
            images.update(pngs)
        else:
            folder = f"{path.stem}_files"
            for key, data in pngs.items():
                _write_bytes_atomic(path.parent / folder / f"{key}.png", data)
                images[key] = f"{folder}/{key}.png"
    write_text_atomic(path, render(report, fmt, images=images))


def write_report(
    run_dirs: Sequence[Path | str],
    fmt: str = "html",
    output: Path | str | None = None,
    options: ReportOptions | None = None,
) -> Path:
    """Read the results under ``run_dirs`` (run directories or result files), build the
    report and write it in ``fmt`` to ``output`` (default: ``report.EXT`` in the first run
    directory). Returns the path written. Raises the project's errors for unreadable
    results and invalid options; costs that cannot be computed become report warnings."""
    check_format(fmt)
    if not run_dirs:
        raise ConfigError("no run directories or result files to report on")
    report = load_report(run_dirs, options)
    path = Path(output) if output is not None else default_output(run_dirs, fmt)
    return write_rendered(report, fmt, path)
