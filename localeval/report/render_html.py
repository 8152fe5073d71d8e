"""The report as one self-contained HTML file: inline CSS, figures embedded as base64 PNG,
no script and nothing fetched from the network, so it reads the same offline, in a mail
attachment or with JavaScript off."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping

from localeval.report.document import FIGURES, Document, Section, Table

CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d2330;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 32px 48px; background: #fff;
  box-shadow: 0 0 0 1px #e3e6eb; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #e3e6eb; }
h3 { font-size: 17px; margin: 24px 0 6px; }
p { margin: 6px 0; max-width: 980px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #f0f2f5; padding: 1px 4px; border-radius: 3px; }
.warning { background: #fff4e5; border-left: 4px solid #f0a020; padding: 8px 12px; margin: 10px 0; }
.table-wrap { overflow-x: auto; margin: 10px 0 16px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #dde1e7; padding: 4px 8px; vertical-align: top; }
th { background: #eef1f5; text-align: left; font-weight: 600; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.nw, tbody td:first-child { white-space: nowrap; }
figure { margin: 12px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6eb; }
figcaption { font-size: 13px; color: #566070; margin-top: 4px; }
ol.notes { font-size: 13px; color: #3a4352; padding-left: 28px; }
footer { margin-top: 32px; font-size: 12px; color: #7a8392; }
"""

_CODE = re.compile(r"`([^`]+)`")


def _text(text: str) -> str:
    """Escaped text, with `backticks` as <code>."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def _cell_class(table: Table, index: int, text: str) -> str:
    if table.is_numeric(index):
        return " class=num"
    if table.columns[index] == "notes":
        return " class=nw"
    # A short cell with no space (a date, an option, a profile name) stays on one line.
    if text and len(text) <= 24 and not any(ch.isspace() for ch in text):
        return " class=nw"
    return ""


def _table(table: Table) -> str:
    out = ['<div class="table-wrap"><table>']
    if table.title:
        out.append(f"<caption>{html.escape(table.title)}</caption>")
    cells = "".join(
        f"<th{' class=num' if table.is_numeric(i) else ''}>{html.escape(c)}</th>"
        for i, c in enumerate(table.columns)
    )
    out.append(f"<thead><tr>{cells}</tr></thead><tbody>")
    for row in table.rows:
        cells = "".join(
            f"<td{_cell_class(table, i, c)}>{html.escape(c)}</td>" for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _figure(key: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    title = html.escape(FIGURES[key])
    return (
        f'<figure id="fig-{key}"><img alt="{title}" src="data:image/png;base64,{data}">'
        f"<figcaption>{title}</figcaption></figure>"
    )


def _section(section: Section, images: Mapping[str, bytes]) -> str:
    tag = f"h{min(max(section.level, 2), 4)}"
    out = [f"<{tag}>{html.escape(section.title)}</{tag}>"]
    out += [f"<p>{_text(p)}</p>" for p in section.paragraphs]
    if section.figure and section.figure in images:
        out.append(_figure(section.figure, images[section.figure]))
    out += [_table(t) for t in section.tables]
    return "\n".join(out)


def render_html(doc: Document, images: Mapping[str, bytes] | None = None) -> str:
    """The document as a standalone HTML page; ``images`` maps figure keys to PNG bytes."""
    images = images or {}
    body = [f"<h1>{html.escape(doc.title)}</h1>"]
    body += [f"<p>{_text(p)}</p>" for p in doc.intro]
    body += [
        f'<div class="warning"><strong>Warning:</strong> {_text(w)}</div>' for w in doc.warnings
    ]
    body += [_section(s, images) for s in doc.sections]
    if doc.notes:
        body.append("<h2>Notes</h2>")
        items = "".join(f"<li>{_text(n)}</li>" for n in doc.notes)
        body.append(f'<ol class="notes">{items}</ol>')
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n<footer>Self-contained report: no scripts, nothing loaded from the network.</footer>"
        + "\n</main>\n</body>\n</html>\n"
    )
