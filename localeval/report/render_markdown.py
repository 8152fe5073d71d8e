"""The report as Markdown (GitHub-flavoured pipe tables), ready to paste into a blog post or
a pull request. Figures appear as image links when their files are given."""

from __future__ import annotations

from collections.abc import Mapping

from localeval.report.document import FIGURES, Document, Table


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def _table(table: Table) -> list[str]:
    lines = []
    if table.title:
        lines += [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append(
        "|"
        + "|".join("---:" if table.is_numeric(i) else "---" for i in range(len(table.columns)))
        + "|"
    )
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    lines.append("")
    return lines


def render_markdown(doc: Document, images: Mapping[str, str] | None = None) -> str:
    """The document as Markdown; ``images`` maps a figure key to the path (relative to the
    Markdown file) of its PNG. Figures without an entry are left out."""
    images = images or {}
    lines = [f"# {doc.title}", ""]
    for text in doc.intro:
        lines += [text, ""]
    for text in doc.warnings:
        lines += [f"> **Warning:** {text}", ""]
    for section in doc.sections:
        lines += [f"{'#' * section.level} {section.title}", ""]
        for text in section.paragraphs:
            lines += [text, ""]
        if section.figure and section.figure in images:
            lines += [f"![{FIGURES[section.figure]}]({images[section.figure]})", ""]
        for table in section.tables:
            lines += _table(table)
    if doc.notes:
        lines += ["## Notes", ""]
        lines += [f"{i}. {text}" for i, text in enumerate(doc.notes, 1)]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
