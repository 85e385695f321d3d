"""HTML -> PDF/A-3b for every printout of the product (audit trail, records, reports).

WeasyPrint renders; the base stylesheet sets the CJK-capable font stack (Noto Sans CJK
SC first for Chinese, so CJK does not fall back to the Japanese glyph set) on the body
and, explicitly, on the `@page` margin boxes, which do not inherit the body font.

    pdf_bytes = render_pdf(html_document("Title", "<p>body</p>"))
"""
from __future__ import annotations

import html as _html

FONT_STACK = '"Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif'

BASE_CSS = """
@page {
  size: A4 landscape;
  margin: 18mm 12mm 16mm 12mm;
  @top-left { content: string(doctitle); font-family: %(font)s; font-size: 8pt; color: #444; }
  @top-right { content: string(docmeta); font-family: %(font)s; font-size: 8pt; color: #444; }
  @bottom-right { content: "Page " counter(page) " / " counter(pages); font-family: %(font)s; font-size: 8pt; }
}
html { font-family: %(font)s; font-size: 8.5pt; line-height: 1.3; }
h1 { font-size: 14pt; margin: 0 0 4pt 0; string-set: doctitle content(); }
.meta { color: #333; margin-bottom: 8pt; string-set: docmeta attr(data-meta); }
table { width: 100%%; border-collapse: collapse; table-layout: fixed; }
thead { display: table-header-group; }
th, td { border: 0.5pt solid #888; padding: 2pt 3pt; vertical-align: top; overflow-wrap: anywhere; text-align: left; }
th { background: #e8e8e8; }
tr { page-break-inside: avoid; }
.small { font-size: 7pt; color: #444; }
""" % {"font": FONT_STACK}


def escape(value: object) -> str:
    return _html.escape("" if value is None else str(value))


def html_document(title: str, body: str, *, lang: str = "zh-CN", meta: str = "", extra_css: str = "") -> str:
    """A complete HTML page with the base stylesheet; `body` is trusted HTML, `title` and `meta` are text."""
    return (f'<!DOCTYPE html><html lang="{escape(lang)}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{BASE_CSS}{extra_css}</style></head><body><h1>{escape(title)}</h1>"
            f'<div class="meta" data-meta="{escape(meta)}">{escape(meta)}</div>{body}</body></html>')


def render_pdf(html: str, *, base_url: str | None = None,
               attachments: list[tuple[str, bytes]] | None = None) -> bytes:
    """Render HTML to PDF/A-3b bytes (fonts embedded, XMP metadata, output intent); each
    (name, bytes) of `attachments` is embedded as an associated file (PDF/A-3)."""
    from weasyprint import HTML, Attachment

    files = [Attachment(string=data.decode("utf-8") if name.endswith(".json") else data, name=name,
                        description=name, relationship="Data") for name, data in attachments or []]
    pdf = HTML(string=html, base_url=base_url).write_pdf(pdf_variant="pdf/a-3b", attachments=files or None)
    assert pdf is not None
    return bytes(pdf)
