"""A fast PDF/A-3b writer for long tables (the audit trail: up to 20,000 entries).

HTML through WeasyPrint (audit.pdf) is right for records of a few pages; for a trail of
thousands of rows its layout engine needs minutes and gigabytes. This module lays out one
kind of document only: a title, a line of facts, and a table with fixed column widths
whose header repeats on every page, in A4 landscape, and writes the PDF itself:

- one font, Noto Sans CJK SC (Latin and Chinese; found through fontconfig), embedded as
  a subset (fontTools, glyph IDs kept) with widths and a ToUnicode map, so text can be
  searched and copied;
- text is wrapped at spaces, after `-/_.,:;=`, between CJK characters and, for long
  unbroken values, anywhere; a row taller than a page continues on the next page (the
  header row repeats); characters the font lacks are printed as U+FFFD (never .notdef);
- PDF/A-3b: XMP metadata (pdfaid part 3, conformance B) matching the document
  information, an sRGB output intent, only DeviceRGB colours, a file identifier.

    table = TableDocument("Audit trail", "3 entries; ...", [Column("Seq", 0.05), ...])
    table.add_row([[Text("1")], [Text("2026-01-05T08:00:00Z"), Text("16:00 CST", small=True)], ...])
    table.write(path, progress=lambda done, total: ...)
"""
from __future__ import annotations

import io
import subprocess
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence
from xml.sax.saxutils import escape as xml_escape

import pydyf

PAGE_WIDTH, PAGE_HEIGHT = 841.89, 595.28  # A4 landscape, points
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 34.0, 34.0, 51.0, 45.0
SIZE, SMALL, HEADER_SIZE, TITLE_SIZE = 7.5, 6.5, 7.2, 13.0
LEADING = 1.3
PAD_X, PAD_Y = 3.0, 2.4
REPLACEMENT = "\ufffd"
BREAK_AFTER = frozenset(" -/_.,:;=|")
FAMILY = "Noto Sans CJK SC"
BASE_NAME = "Noto-Sans-CJK-SC"


class PdfTableError(RuntimeError):
    """The table PDF cannot be produced (no usable font)."""


# ---------------------------------------------------------------- the font
@dataclass
class Font:
    path: str
    index: int
    cmap: dict[int, int]  # code point -> glyph ID
    advances: list[int]  # by glyph ID, font units
    units_per_em: int
    ascent: int
    descent: int
    bbox: tuple[int, int, int, int]
    cap_height: int


_FONT: Font | None = None


def _locate() -> tuple[str, int]:
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}:%{index}", FAMILY], capture_output=True, text=True,
                               check=True, timeout=20).stdout.strip()
        path, _, index = found.rpartition(":")
        if path and "CJK" in Path(path).name:
            return path, int(index or 0)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    for candidate in ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                      "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"):
        if Path(candidate).exists():
            return candidate, 2
    raise PdfTableError(f"font {FAMILY} not found (Debian package fonts-noto-cjk)")


def load_font() -> Font:
    """The font's metrics (read once per process)."""
    global _FONT
    if _FONT is None:
        from fontTools.ttLib import TTFont

        path, index = _locate()
        font = TTFont(path, fontNumber=index, lazy=True)
        order = font.getGlyphOrder()
        ids = {name: gid for gid, name in enumerate(order)}
        metrics = font["hmtx"].metrics
        head, hhea = font["head"], font["hhea"]
        os2 = font["OS/2"]
        _FONT = Font(path=path, index=index,
                     cmap={code: ids[name] for code, name in font.getBestCmap().items() if name in ids},
                     advances=[metrics[name][0] for name in order], units_per_em=head.unitsPerEm,
                     ascent=hhea.ascent, descent=hhea.descent, bbox=(head.xMin, head.yMin, head.xMax, head.yMax),
                     cap_height=getattr(os2, "sCapHeight", 0) or hhea.ascent)
        font.close()
    return _FONT


_HB_DECLARATIONS = """
typedef struct hb_blob_t hb_blob_t; typedef struct hb_face_t hb_face_t; typedef struct hb_set_t hb_set_t;
typedef struct hb_subset_input_t hb_subset_input_t; typedef uint32_t hb_codepoint_t;
hb_blob_t * hb_blob_create_from_file (const char *file_name);
hb_face_t * hb_face_create (hb_blob_t *blob, unsigned int index);
void hb_face_destroy (hb_face_t *face);
void hb_blob_destroy (hb_blob_t *blob);
hb_blob_t * hb_face_reference_blob (hb_face_t *face);
const char * hb_blob_get_data (hb_blob_t *blob, unsigned int *length);
void hb_set_add (hb_set_t *set, hb_codepoint_t codepoint);
hb_subset_input_t * hb_subset_input_create_or_fail (void);
void hb_subset_input_destroy (hb_subset_input_t *input);
hb_set_t * hb_subset_input_glyph_set (hb_subset_input_t *input);
hb_set_t * hb_subset_input_set (hb_subset_input_t *input, int set_type);
void hb_subset_input_set_flags (hb_subset_input_t *input, unsigned value);
hb_face_t * hb_subset_or_fail (hb_face_t *source, const hb_subset_input_t *input);
"""
_HB_RETAIN_GIDS, _HB_NO_HINTING, _HB_DESUBROUTINIZE, _HB_NOTDEF_OUTLINE = 0x2, 0x1, 0x4, 0x40
_HB_SET_DROP_TABLE_TAG = 3
_DROP_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "VORG", "vhea", "vmtx", "DSIG")
_hb: tuple[object, object, object] | None = None


def _harfbuzz() -> tuple[object, object, object] | None:
    """(ffi, libharfbuzz, libharfbuzz-subset), or None where the subset library is missing."""
    global _hb
    if _hb is None:
        try:
            from cffi import FFI

            ffi = FFI()
            ffi.cdef(_HB_DECLARATIONS)
            _hb = (ffi, ffi.dlopen("libharfbuzz.so.0"), ffi.dlopen("libharfbuzz-subset.so.0"))
        except (ImportError, OSError):
            _hb = (None, None, None)
    return None if _hb[0] is None else _hb


def _subset(font: Font, glyphs: set[int]) -> bytes:
    """The font reduced to the glyphs used, glyph IDs kept (HarfBuzz's subsetter: milliseconds; fontTools,
    which needs seconds to minutes for a CJK CFF font, only where HarfBuzz's is missing)."""
    hb = _harfbuzz()
    if hb is None:
        return _subset_fonttools(font, glyphs)
    ffi, lib, sub = hb
    blob = lib.hb_blob_create_from_file(font.path.encode())  # type: ignore[attr-defined]
    face = lib.hb_face_create(blob, font.index)  # type: ignore[attr-defined]
    request = sub.hb_subset_input_create_or_fail()  # type: ignore[attr-defined]
    result = out = None
    try:
        wanted = sub.hb_subset_input_glyph_set(request)  # type: ignore[attr-defined]
        for gid in sorted(glyphs | {0}):
            lib.hb_set_add(wanted, gid)  # type: ignore[attr-defined]
        drop = sub.hb_subset_input_set(request, _HB_SET_DROP_TABLE_TAG)  # type: ignore[attr-defined]
        for tag in _DROP_TABLES:
            lib.hb_set_add(drop, int.from_bytes(tag.encode(), "big"))  # type: ignore[attr-defined]
        sub.hb_subset_input_set_flags(request, _HB_RETAIN_GIDS | _HB_NO_HINTING | _HB_DESUBROUTINIZE  # type: ignore[attr-defined]
                                      | _HB_NOTDEF_OUTLINE)
        result = sub.hb_subset_or_fail(face, request)  # type: ignore[attr-defined]
        if result == ffi.NULL:  # type: ignore[attr-defined]
            return _subset_fonttools(font, glyphs)
        out = lib.hb_face_reference_blob(result)  # type: ignore[attr-defined]
        length = ffi.new("unsigned int *")  # type: ignore[attr-defined]
        data = lib.hb_blob_get_data(out, length)  # type: ignore[attr-defined]
        return bytes(ffi.buffer(data, length[0]))  # type: ignore[attr-defined]
    finally:
        if out is not None:
            lib.hb_blob_destroy(out)  # type: ignore[attr-defined]
        if result is not None and result != ffi.NULL:  # type: ignore[attr-defined]
            lib.hb_face_destroy(result)  # type: ignore[attr-defined]
        sub.hb_subset_input_destroy(request)  # type: ignore[attr-defined]
        lib.hb_face_destroy(face)  # type: ignore[attr-defined]
        lib.hb_blob_destroy(blob)  # type: ignore[attr-defined]


def _subset_fonttools(font: Font, glyphs: set[int]) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options(retain_gids=True, ignore_missing_glyphs=True, hinting=False, notdef_outline=True,
                             desubroutinize=True, name_IDs=["*"], name_languages=["*"])
    options.drop_tables += list(_DROP_TABLES)
    subsetter = subset.Subsetter(options)
    subsetter.populate(gids=sorted(glyphs | {0}))
    ttf = TTFont(font.path, fontNumber=font.index)
    subsetter.subset(ttf)
    out = io.BytesIO()
    ttf.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- text
@dataclass(frozen=True)
class Text:
    """One paragraph of a cell; `small` is the smaller grey line (e.g. the site time under UTC)."""

    text: str
    small: bool = False


@dataclass(frozen=True)
class Column:
    title: str
    width: float  # fraction of the table width


class _Measure:
    """Glyph hex codes and widths per character, cached."""

    def __init__(self, font: Font) -> None:
        self.font = font
        self.scale = 1.0 / font.units_per_em
        replacement = font.cmap.get(ord(REPLACEMENT), font.cmap.get(ord("?"), 0))
        self._replacement = replacement
        self.hex: dict[str, str] = {}
        self.width: dict[str, float] = {}  # em units
        self.used: dict[int, str] = {}  # glyph ID -> text (ToUnicode)

    def add(self, ch: str) -> None:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            gid = self.font.cmap.get(0x20, self._replacement)
            shown = " "
        else:
            gid = self.font.cmap.get(code, 0) or self._replacement
            shown = ch if self.font.cmap.get(code) else REPLACEMENT
        self.hex[ch] = "%04x" % gid
        self.width[ch] = self.font.advances[gid] * self.scale
        self.used.setdefault(gid, shown)

    def measure(self, text: str) -> float:
        width = self.width
        try:
            return sum(map(width.__getitem__, text))
        except KeyError:
            for ch in text:
                if ch not in width:
                    self.add(ch)
            return sum(map(width.__getitem__, text))

    def encode(self, text: str) -> str:
        return "".join(map(self.hex.__getitem__, text))

    def wrap(self, text: str, limit: float) -> list[str]:
        """Lines of `text` (em units: `limit` = width / size) broken as the module describes."""
        lines: list[str] = []
        for paragraph in text.split("\n"):
            if self.measure(paragraph) <= limit:
                lines.append(paragraph)
                continue
            width = self.width
            start, used, last_break = 0, 0.0, -1
            i, n = 0, len(paragraph)
            while i < n:
                ch = paragraph[i]
                w = width[ch]
                if used + w > limit and i > start:
                    cut = last_break if last_break > start else i
                    lines.append(paragraph[start:cut].rstrip(" "))
                    while cut < n and paragraph[cut] == " ":
                        cut += 1
                    start, i, last_break = cut, cut, -1
                    used = 0.0
                    continue
                used += w
                i += 1
                if ch in BREAK_AFTER or ord(ch) >= 0x2E80:
                    last_break = i
                elif i < n and ord(paragraph[i]) >= 0x2E80:
                    last_break = i
            if start < n or not lines:
                lines.append(paragraph[start:])
        return lines


# ---------------------------------------------------------------- the document
@dataclass
class _Line:
    text: str
    size: float
    grey: bool


class TableDocument:
    def __init__(self, title: str, meta: str, columns: Sequence[Column], *, lang: str = "en",
                 producer: str = "GMP workflow engine") -> None:
        self.title, self.meta, self.columns, self.lang, self.producer = title, meta, list(columns), lang, producer
        self.font = load_font()
        self.m = _Measure(self.font)
        self.table_width = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        total = sum(c.width for c in self.columns)
        self.widths = [self.table_width * c.width / total for c in self.columns]
        self.lefts = [MARGIN_LEFT + sum(self.widths[:i]) for i in range(len(self.columns))]
        self.rows: list[list[list[_Line]]] = []
        self.header = [self._lines([Text(c.title)], i, HEADER_SIZE) for i, c in enumerate(self.columns)]

    def _lines(self, paragraphs: Iterable[Text], column: int, size: float | None = None) -> list[_Line]:
        out: list[_Line] = []
        inner = self.widths[column] - 2 * PAD_X
        for paragraph in paragraphs:
            line_size = size or (SMALL if paragraph.small else SIZE)
            for text in self.m.wrap(paragraph.text, inner / line_size):
                out.append(_Line(text, line_size, paragraph.small))
        return out

    def add_row(self, cells: Sequence[Sequence[Text]]) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row has {len(self.columns)} cells, got {len(cells)}")
        self.rows.append([self._lines(cell, i) for i, cell in enumerate(cells)])

    # ------------------------------------------------------------ layout
    @staticmethod
    def _height(lines: Sequence[_Line]) -> float:
        return sum(line.size * LEADING for line in lines) + 2 * PAD_Y

    def _page_top(self) -> float:
        return PAGE_HEIGHT - MARGIN_TOP

    def _title_baseline(self) -> float:
        return self._page_top() - TITLE_SIZE

    def _meta_baseline(self, k: int) -> float:
        return self._title_baseline() - 6 - SMALL * LEADING * (k + 1)

    def _first_top(self) -> float:
        """Where the table starts on page 1, below the title and two lines of facts."""
        return self._meta_baseline(1) - 6

    def layout(self, progress: Callable[[int, int], None] | None = None) -> list[list[str]]:
        """Content stream parts of every page (without header and footer), rows split where needed."""
        pages: list[list[str]] = []
        header_height = max(self._height(cell) for cell in self.header)
        bottom = MARGIN_BOTTOM
        page: list[str] = []
        empty = True

        def new_page() -> float:
            nonlocal page, empty
            page, empty = [], True
            pages.append(page)
            top = self._first_top() if len(pages) == 1 else self._page_top()
            self._draw_row(page, self.header, top, header_height, fill=True)
            return top - header_height

        y = new_page()
        total = len(self.rows)
        full = self._page_top() - header_height - bottom
        for number, row in enumerate(self.rows, start=1):
            remaining = [list(cell) for cell in row]
            height = max(self._height(cell) for cell in remaining)
            if y - height < bottom and not empty and height <= full:
                y = new_page()  # a row that fits on a page is not split
            while True:
                height = max(self._height(cell) for cell in remaining)
                if y - height >= bottom - 0.01:
                    self._draw_row(page, remaining, y, height)
                    y -= height
                    empty = False
                    break
                room = y - bottom - 2 * PAD_Y
                taken, rest = [], []
                for cell in remaining:
                    used, k = 0.0, 0
                    while k < len(cell) and used + cell[k].size * LEADING <= room:
                        used += cell[k].size * LEADING
                        k += 1
                    taken.append(cell[:k])
                    rest.append(cell[k:])
                if not any(taken):  # not even one line fits: next page
                    y = new_page()
                    continue
                self._draw_row(page, taken, y, y - bottom)
                remaining = rest
                y = new_page()
            if progress is not None and (number % 500 == 0 or number == total):
                progress(number, total)
        return pages

    def _draw_row(self, page: list[str], cells: Sequence[Sequence[_Line]], top: float, height: float,
                  fill: bool = False) -> None:
        encode = self.m.encode
        if fill:
            page.append(f"0.91 0.91 0.91 rg {MARGIN_LEFT:.2f} {top - height:.2f} {self.table_width:.2f} "
                        f"{height:.2f} re f 0 0 0 rg\n")
        for left, width, cell in zip(self.lefts, self.widths, cells):
            page.append(f"{left:.2f} {top - height:.2f} {width:.2f} {height:.2f} re S\n")
            y = top - PAD_Y
            for line in cell:
                y -= line.size * LEADING
                if not line.text:
                    continue
                baseline = y + line.size * (LEADING - 1) / 2 + line.size * 0.22
                colour = "0.27 0.27 0.27 rg " if line.grey else ""
                page.append(f"BT {colour}/F1 {line.size:g} Tf {left + PAD_X:.2f} {baseline:.2f} Td "
                            f"<{encode(line.text)}> Tj ET\n")
                if line.grey:
                    page.append("0 0 0 rg\n")

    def _text(self, text: str, size: float, x: float, y: float, grey: bool = False, right: bool = False) -> str:
        self.m.measure(text)
        if right:
            x -= self.m.measure(text) * size
        colour = "0.27 0.27 0.27 rg " if grey else ""
        return f"BT {colour}/F1 {size:g} Tf {x:.2f} {y:.2f} Td <{self.m.encode(text)}> Tj ET 0 0 0 rg\n"

    # ------------------------------------------------------------ writing
    def write(self, out: Path, progress: Callable[[int, int], None] | None = None) -> int:
        """Lay out and write the PDF; return the number of pages."""
        pages = self.layout(progress)
        count = len(pages)
        top = self._page_top()
        for number, page in enumerate(pages, start=1):
            head = [self._text(self.title, 8, MARGIN_LEFT, top + 24, grey=True),
                    self._text(self._shorten(self.meta, 8, self.table_width * 0.6), 8, PAGE_WIDTH - MARGIN_RIGHT,
                               top + 24, grey=True, right=True),
                    self._text(f"Page {number} / {count}", 8, PAGE_WIDTH - MARGIN_RIGHT, MARGIN_BOTTOM - 24,
                               right=True)]
            if number == 1:
                head.append(self._text(self.title, TITLE_SIZE, MARGIN_LEFT, self._title_baseline()))
                for k, line in enumerate(self.m.wrap(self.meta, self.table_width / SMALL)[:2]):
                    head.append(self._text(line, SMALL, MARGIN_LEFT, self._meta_baseline(k), grey=True))
            page[:0] = ["0.5 w 0.53 0.53 0.53 RG 0 0 0 rg\n", *head]
        self._assemble(pages, out)
        return count

    def _shorten(self, text: str, size: float, width: float) -> str:
        if self.m.measure(text) * size <= width:
            return text
        while text and self.m.measure(text + "…") * size > width:
            text = text[:-1]
        return text + "…"

    def _assemble(self, pages: list[list[str]], out: Path) -> None:
        font = self.font
        pdf = pydyf.PDF()
        used = dict(sorted(self.m.used.items()))
        font_file = pydyf.Stream([_subset(font, set(used))], pydyf.Dictionary({"Subtype": "/OpenType"}),
                                 compress=True)
        pdf.add_object(font_file)
        scale = 1000.0 / font.units_per_em
        descriptor = pydyf.Dictionary({
            "Type": "/FontDescriptor", "FontName": f"/{_tag(used)}+{BASE_NAME}", "FontFamily": pydyf.String(FAMILY),
            "Flags": 4, "FontBBox": pydyf.Array([round(v * scale) for v in font.bbox]), "ItalicAngle": 0,
            "Ascent": round(font.ascent * scale), "Descent": round(font.descent * scale),
            "CapHeight": round(font.cap_height * scale), "StemV": 80, "FontFile3": font_file.reference})
        pdf.add_object(descriptor)
        widths = pydyf.Array()
        previous = None
        for gid in used:
            if previous is None or gid != previous + 1:
                run = pydyf.Array()
                widths.extend([gid, run])
            run.append(round(font.advances[gid] * scale))
            previous = gid
        cid_font = pydyf.Dictionary({
            "Type": "/Font", "Subtype": "/CIDFontType0", "BaseFont": f"/{_tag(used)}+{BASE_NAME}",
            "CIDSystemInfo": pydyf.Dictionary({"Registry": pydyf.String("Adobe"), "Ordering": pydyf.String("Identity"),
                                               "Supplement": 0}),
            "FontDescriptor": descriptor.reference, "W": widths})
        pdf.add_object(cid_font)
        to_unicode = pydyf.Stream([_to_unicode(used)], compress=True)
        pdf.add_object(to_unicode)
        type0 = pydyf.Dictionary({"Type": "/Font", "Subtype": "/Type0", "BaseFont": f"/{_tag(used)}+{BASE_NAME}",
                                  "Encoding": "/Identity-H", "DescendantFonts": pydyf.Array([cid_font.reference]),
                                  "ToUnicode": to_unicode.reference})
        pdf.add_object(type0)
        resources = pydyf.Dictionary({"Font": pydyf.Dictionary({"F1": type0.reference}),
                                      "ProcSet": pydyf.Array(["/PDF", "/Text"])})
        pdf.add_object(resources)
        for parts in pages:
            content = pydyf.Stream([zlib.compress("".join(parts).encode("ascii"), 6)],
                                   pydyf.Dictionary({"Filter": "/FlateDecode"}))
            pdf.add_object(content)
            pdf.add_page(pydyf.Dictionary({
                "Type": "/Page", "Parent": pdf.pages.reference,
                "MediaBox": pydyf.Array([0, 0, PAGE_WIDTH, PAGE_HEIGHT]),
                "Contents": content.reference, "Resources": resources.reference}))
        now = datetime.now(timezone.utc).replace(microsecond=0)
        pdf.info["Title"] = pydyf.String(self.title)
        pdf.info["Producer"] = pydyf.String(self.producer)
        pdf.info["CreationDate"] = pydyf.String(now.strftime("D:%Y%m%d%H%M%S+00'00'"))
        pdf.info["ModDate"] = pydyf.String(now.strftime("D:%Y%m%d%H%M%S+00'00'"))
        metadata = pydyf.Stream([_xmp(self.title, self.producer, now)],
                                pydyf.Dictionary({"Type": "/Metadata", "Subtype": "/XML"}))
        pdf.add_object(metadata)
        pdf.catalog["Metadata"] = metadata.reference
        icc = _srgb_profile()
        profile = pydyf.Stream([icc], pydyf.Dictionary({"N": 3, "Alternate": "/DeviceRGB"}), compress=True)
        pdf.add_object(profile)
        pdf.catalog["OutputIntents"] = pydyf.Array([pydyf.Dictionary({
            "Type": "/OutputIntent", "S": "/GTS_PDFA1", "OutputConditionIdentifier": pydyf.String("sRGB IEC61966-2.1"),
            "Info": pydyf.String("sRGB IEC61966-2.1"), "DestOutputProfile": profile.reference})])
        pdf.catalog["Lang"] = pydyf.String(self.lang)
        pdf.catalog["ViewerPreferences"] = pydyf.Dictionary({"DisplayDocTitle": "true"})
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        try:
            with open(tmp, "wb") as handle:
                pdf.write(handle, version=b"1.7", identifier=True)
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)


def _srgb_profile() -> bytes:
    """The sRGB ICC profile WeasyPrint ships (found without importing WeasyPrint, which takes seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("weasyprint")
    if spec is None or not spec.submodule_search_locations:
        raise PdfTableError("the sRGB colour profile comes with WeasyPrint, which is not installed")
    return (Path(list(spec.submodule_search_locations)[0]) / "pdf" / "sRGB2014.icc").read_bytes()


def _tag(used: dict[int, str]) -> str:
    """The subset tag: six capital letters derived from the glyphs used."""
    digest = zlib.crc32(",".join(map(str, used)).encode()) ^ 0x5A5A5A5A
    letters = []
    for _ in range(6):
        letters.append(chr(65 + digest % 26))
        digest //= 26
    return "".join(letters)


def _to_unicode(used: dict[int, str]) -> bytes:
    lines = [b"/CIDInit /ProcSet findresource begin", b"12 dict begin", b"begincmap",
             b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             b"/CMapName /Adobe-Identity-UCS def", b"/CMapType 2 def", b"1 begincodespacerange", b"<0000> <ffff>",
             b"endcodespacerange"]
    items = list(used.items())
    for start in range(0, len(items), 100):
        chunk = items[start:start + 100]
        lines.append(f"{len(chunk)} beginbfchar".encode())
        for gid, text in chunk:
            lines.append(f"<{gid:04x}> <{text.encode('utf-16-be').hex()}>".encode())
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return b"\n".join(lines)


def _xmp(title: str, producer: str, when: datetime) -> bytes:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="3" '
            f'pdfaid:conformance="B"/>'
            f'<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/" '
            f'pdf:Producer="{xml_escape(producer, {chr(34): "&quot;"})}"/>'
            f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="{stamp}" '
            f'xmp:ModifyDate="{stamp}"/>'
            f'<rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
            f'xmpMM:DocumentID="uuid:{uuid.uuid4()}"/>'
            f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt>'
            f'<rdf:li xml:lang="x-default">{xml_escape(title)}</rdf:li></rdf:Alt></dc:title></rdf:Description>'
            f'</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>').encode("utf-8")
