"""The statement PDF: the Django template `statements/statement_pdf.html` laid out by xhtml2pdf.

An installation makes the statement its own without touching code: a template of the same name
in `OPENCHARGEBACK_TEMPLATE_DIR` is found first (settings put that folder ahead of the project's
templates). The template reads only `statement_context`, whose figures are the statement's
frozen lines and totals; nothing here computes an amount.

Files the template names (fonts, a letterhead image) are resolved by `AssetResolver`: a plain
file name inside the override folder, the statement assets (statements/static/statements, with
the DejaVu Sans fonts embedded as subsets, for names in most scripts) or the uploaded branding
folder.
A URL or a path outside those folders is refused, and the render fails naming it; xhtml2pdf's
own resource policy is set to the same folders with the network off, so nothing is fetched even
through a path the callback never sees.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from pypdf import PdfReader
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from chargeback.errors import RenderError

TEMPLATE = "statements/statement_pdf.html"
ASSETS = Path(__file__).resolve().parent.parent / "static" / "statements"


def asset_folders() -> list[Path]:
    """Where a file the template names may come from, searched in this order."""
    folders = [ASSETS, Path(settings.MEDIA_ROOT) / "branding"]
    if settings.OPENCHARGEBACK_TEMPLATE_DIR:
        folders.insert(0, Path(settings.OPENCHARGEBACK_TEMPLATE_DIR))
    return [f.resolve() for f in folders]


class AssetResolver:
    """xhtml2pdf's link_callback: a name in the template → a file inside one of `folders`.

    Anything else (a URL, a `data:` URI, `../`, a file that does not exist) is recorded in
    `refused` and pointed at a name that does not exist, so the render can fail naming it.
    """

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self.refused: list[str] = []

    def __call__(self, uri: str, rel: str | None = None) -> str:
        name = str(uri).strip()
        if name and not urlsplit(name).scheme:
            for folder in self.folders:
                path = (folder / name).resolve()
                if folder in path.parents and path.is_file():
                    return str(path)
        self.refused.append(name)
        return str(self.folders[-1] / "refused-resource")


def build_statement_pdf(ctx: dict[str, Any]) -> tuple[bytes, int]:
    """The PDF bytes and page count of a statement from `statement_context`.

    The footer's "Page N of M" takes M from `page_count` in the context, first an estimate from
    the number of lines; when the PDF has another number of pages it is laid out again with the
    count it has. The footer sits in its own frame, so M never moves the body: the second layout
    has the same pages. (xhtml2pdf's <pdf:pagecount/> would lay out every statement twice.)
    """
    folders = asset_folders()
    pages = estimate_pages(ctx)
    for _attempt in range(3):
        html = render_to_string(TEMPLATE, {**ctx, "page_count": pages})
        data = _layout(html, folders)
        laid_out = len(PdfReader(io.BytesIO(data)).pages)
        if laid_out == pages:
            break
        pages = laid_out
    return data, laid_out


# An estimate only: a wrong one costs a second layout, never a wrong page count (`make mutate` skips it).
# pragma: no mutate start
def estimate_pages(ctx: dict[str, Any]) -> int:
    """About how many pages the default template gives, from the text lines of its tables."""

    def lines(*cells: tuple[str, int]) -> int:  # (text, characters that fit in its column)
        return max(1, *(-(-len(text) // width) for text, width in cells))

    total = sum(lines((s["source"], 16), (s["service"], 40)) for s in ctx["services"])
    total += sum(4 + sum(lines((ln["service"], 34)) for ln in sec["lines"]) for sec in ctx["sections"])
    total += sum(lines((d.label, 24), (d.service, 19)) for d in ctx["details"])
    total += 3 + len(ctx["org"].payment_instructions) // 100 if ctx["org"].payment_instructions else 0
    first, later = 24, 66  # lines on the first page (below the letterhead and summary) and on the next ones
    return 1 if total <= first else 2 + (total - first) // later


# pragma: no mutate end


def _layout(html: str, folders: list[Path]) -> bytes:
    resolver = AssetResolver(folders)
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=folders[0], extra_roots=tuple(folders[1:]))
    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, link_callback=resolver, resource_policy=policy, encoding="utf-8")
    if resolver.refused:
        raise RenderError(
            f"the statement template asks for {resolver.refused[0]!r}, which is not a file in "
            + " or ".join(str(f) for f in folders)
        )
    if status.err:
        raise RenderError(f"xhtml2pdf reported {status.err} error(s) laying out the statement template")
    return out.getvalue()
