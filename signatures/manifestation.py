"""Signature manifestation (P11-50a/b): printed name, date and time in UTC and in the
site time zone (once, when the site time zone is UTC), and meaning in English and Chinese, wherever a signed record is shown
or printed.

`render_html(signatures, settings)` gives an HTML partial for pages (no Flask: plain
Jinja2, autoescaped; the web layer wraps the result in `Markup`). `render_pdf_block`
gives a self-contained block with inline styles for WeasyPrint printouts.
`manifestations(...)` gives the same data for other renderers (CSV, JSON exports).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from jinja2 import Environment, select_autoescape

from core.clock import is_utc, parse_iso
from core.config import Settings
from signatures.meanings import labels
from signatures.models import Signature
from signatures.signing_rules import load_rules


@dataclass(frozen=True)
class Manifestation:
    seq: int
    printed_name: str
    signer_id: str
    meaning: str
    meaning_en: str
    meaning_zh: str
    utc: str           # 2026-01-05 08:00:00 UTC
    local: str         # 2026-01-05 16:00:00 CST (Asia/Shanghai); "" when the site time zone is UTC
    record: str        # batch_record/B-001 v1
    reason: str | None


def manifestations(signatures: Iterable[Signature], settings: Settings) -> list[Manifestation]:
    extra = load_rules(settings).extra_meanings
    tz = settings.tz()
    site_is_utc = is_utc(tz)
    found = []
    for row in signatures:
        at = parse_iso(row.signed_at)
        local = at.astimezone(tz)
        en, zh = labels(row.meaning, extra)
        found.append(Manifestation(row.seq, row.printed_name, row.signer_id, row.meaning, en, zh,
                                   at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                                   "" if site_is_utc else
                                   local.strftime("%Y-%m-%d %H:%M:%S ") + f"{local.tzname()} ({settings.site_timezone})",
                                   f"{row.record_type}/{row.record_id} v{row.record_version}", row.reason))
    return found


_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

HTML = _env.from_string("""\
<ul class="signature-manifestations">
{%- for m in items %}
  <li class="signature" data-seq="{{ m.seq }}">
    <span class="signature-name">{{ m.printed_name }}</span>
    <span class="signature-user">({{ m.signer_id }})</span>
    <span class="signature-meaning" lang="en">{{ m.meaning_en }}</span>
    <span class="signature-meaning" lang="zh-CN">{{ m.meaning_zh }}</span>
    <time class="signature-time" datetime="{{ m.utc }}">{{ m.utc }}</time>
    {%- if m.local %}<span class="signature-local-time">{{ m.local }}</span>{% endif %}
    {%- if m.reason %}<span class="signature-reason">{{ m.reason }}</span>{% endif %}
  </li>
{%- else %}
  <li class="signature signature-none">Not signed / 未签名</li>
{%- endfor %}
</ul>
""")

PDF = _env.from_string("""\
<table class="signature-block" lang="zh-CN" style="width:100%;border-collapse:collapse;font-size:9pt;\
font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;page-break-inside:avoid">
  <thead><tr>
    <th style="border:1px solid #444;padding:2pt;text-align:left">Signed by / 签名人</th>
    <th style="border:1px solid #444;padding:2pt;text-align:left">Meaning / 含义</th>
    <th style="border:1px solid #444;padding:2pt;text-align:left">Date and time (UTC) / 日期时间</th>
    {%- if local %}<th style="border:1px solid #444;padding:2pt;text-align:left">Site time / 当地时间</th>{% endif %}
  </tr></thead>
  <tbody>
  {%- for m in items %}
    <tr>
      <td style="border:1px solid #444;padding:2pt">{{ m.printed_name }} ({{ m.signer_id }})</td>
      <td style="border:1px solid #444;padding:2pt">{{ m.meaning_en }} / {{ m.meaning_zh }}\
{% if m.reason %}<br>Reason / 原因: {{ m.reason }}{% endif %}</td>
      <td style="border:1px solid #444;padding:2pt">{{ m.utc }}</td>
      {%- if local %}<td style="border:1px solid #444;padding:2pt">{{ m.local }}</td>{% endif %}
    </tr>
  {%- else %}
    <tr><td colspan="{{ 4 if local else 3 }}" style="border:1px solid #444;padding:2pt">Not signed / 未签名</td></tr>
  {%- endfor %}
  </tbody>
</table>
""")


def render_html(signatures: Iterable[Signature], settings: Settings) -> str:
    """HTML partial listing each signature's manifestation (autoescaped)."""
    return HTML.render(items=manifestations(signatures, settings))


def render_pdf_block(signatures: Iterable[Signature], settings: Settings) -> str:
    """A PDF-ready HTML table (inline styles, CJK font) for WeasyPrint printouts."""
    items = manifestations(signatures, settings)
    return PDF.render(items=items, local=not is_utc(settings.tz()))
