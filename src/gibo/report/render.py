"""The document: blocks rendered both as Markdown and as one self-contained HTML page (inline markup:
`code` and **bold**; figures as PNG)."""

from __future__ import annotations

import base64
import html
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: str  # relative to the report folder
    caption: str
    png: bytes


@dataclass
class Code:
    text: str


Block = Heading | Paragraph | Bullets | Table | Image | Code


def render_markdown(blocks: Sequence[Block]) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):

            def cell(text) -> str:
                return str(text).replace("|", "\\|")

            lines = ["| " + " | ".join(cell(h) for h in block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, Image):
            out.append(f"![{block.caption}]({block.path})\n\n*{block.caption}*")
        elif isinstance(block, Code):
            out.append(f"```\n{block.text}\n```")
    return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
    text = html.escape(str(text), quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)


_STYLE = """
body { font-family: sans-serif; max-width: 80em; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }
th { background: #eee; }
td:first-child, th:first-child, td:nth-child(2) { text-align: left; }
td strong { color: #b00000; }
code, pre { background: #f4f4f4; }
pre { padding: 0.5em; overflow-x: auto; }
figure { margin: 1em 0; }
img { max-width: 100%; }
figcaption { font-style: italic; }
"""


def render_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page: inline style, images as data: URIs, no external references."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.png).decode("ascii")
            caption = html.escape(block.caption)
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" '
                f'alt="{caption}"><figcaption>{caption}</figcaption></figure>'
            )
        elif isinstance(block, Code):
            body.append(f"<pre><code>{html.escape(block.text, quote=False)}</code></pre>")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def figure_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; a pyplot-managed figure is closed afterwards."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return buffer.getvalue()
