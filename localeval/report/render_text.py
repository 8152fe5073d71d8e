"""The report as plain text for a terminal: rich tables rendered to a string (no colour),
the figures left out."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table as RichTable

from localeval.report.document import Document, Table

DEFAULT_WIDTH = 200


def _rich(table: Table) -> RichTable:
    out = RichTable(title=table.title, title_justify="left")
    for i, column in enumerate(table.columns):
        out.add_column(column, justify="right" if table.is_numeric(i) else "left")
    for row in table.rows:
        out.add_row(*row)
    return out


def render_text(doc: Document, width: int = DEFAULT_WIDTH) -> str:
    """The document as text ``width`` columns wide."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)

    def say(text: str = "") -> None:
        console.print(text, highlight=False, markup=False, soft_wrap=False)

    say(doc.title)
    say("=" * len(doc.title))
    for text in doc.intro:
        say(text)
    for text in doc.warnings:
        say(f"WARNING: {text}")
    for section in doc.sections:
        say()
        say(section.title)
        say(("=" if section.level <= 2 else "-") * len(section.title))
        for text in section.paragraphs:
            say(text)
        for table in section.tables:
            console.print(_rich(table))
    if doc.notes:
        say()
        say("Notes")
        say("-----")
        for i, text in enumerate(doc.notes, 1):
            say(f"[{i}] {text}")
    return buf.getvalue()
