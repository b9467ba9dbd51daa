"""The PDF of a document, drawn with reportlab (platypus) in an embedded Chinese font
(WenQuanYi Micro Hei from Debian's fonts-wqy-microhei by default) with a QR code to the
public verification page. Drawn on download from the signed statement, so the PDF always
says what the record says — including "revoked"."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.toolkit import N_, RuleError, current_kernel, plugin_settings
from plugins.documents.services.templates import render

log = logging.getLogger(__name__)
FONT = "ShequDocCJK"
#: Marks the signed statement in the PDF's metadata (Subject), so a verifier who uploads
#: the PDF has it checked without typing anything.
MARK = "SHEQU-DOC:"


class FontMissing(RuleError):
    """The configured font file is not there: documents cannot be drawn (503)."""

    status = 503


def check_font(app: Any) -> bool:
    """Start-up check: log a clear message when the font is missing (the rest of the site
    keeps working; a download then answers 503 with the same message)."""
    settings = plugin_settings("documents", app=app)
    if Path(settings["font_path"]).is_file():
        return True
    log.error("documents: the PDF font %s is missing: install Debian's fonts-wqy-microhei "
              "or set [plugins.documents] font_path", settings["font_path"])
    return False


def _font(settings: dict[str, Any]) -> str:
    path = settings["font_path"]
    key = f"{FONT}-{settings['font_subfont_index']}-{abs(hash(path))}"
    if key in pdfmetrics.getRegisteredFontNames():
        return key
    if not Path(path).is_file():
        raise FontMissing(
            N_("Documents cannot be drawn: the font %(path)s is missing (install "
               "fonts-wqy-microhei or set [plugins.documents] font_path)."), path=path)
    pdfmetrics.registerFont(TTFont(key, path, subfontIndex=settings["font_subfont_index"]))
    return key


def _grouped(salt: str) -> str:
    """The name-check code as printed: groups of four, easier to type back."""
    return " ".join(salt[i:i + 4] for i in range(0, len(salt), 4))


def qr_drawing(url: str, size: float = 32 * mm) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def signed_blob(statement: dict[str, Any], signature: str) -> str:
    """The signed statement as one ASCII token (what the PDF's Subject carries)."""
    raw = json.dumps({"statement": statement, "signature": signature}, sort_keys=True,
                     ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return MARK + base64.urlsafe_b64encode(raw).decode("ascii")


def draw_pdf(statement: dict[str, Any], signature: str, *, verify_url: str,
             revoked: dict[str, str] | None = None, settings: dict[str, Any] | None = None,
             name_salt: str = "") -> bytes:
    """The document as PDF bytes (A4): title, the zh text, the en text where the template
    has it, then the code, the QR code to ``verify_url`` and the signature."""
    settings = settings or current_kernel().plugins.settings("documents")
    font = _font(settings)
    texts = render(statement)
    title = ParagraphStyle("t", fontName=font, fontSize=20, leading=28, alignment=TA_CENTER,
                           spaceAfter=6 * mm)
    sub = ParagraphStyle("s", fontName=font, fontSize=13, leading=18, alignment=TA_CENTER,
                         spaceAfter=6 * mm)
    body = ParagraphStyle("b", fontName=font, fontSize=12, leading=20, wordWrap="CJK",
                          spaceAfter=2 * mm)
    small = ParagraphStyle("m", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
    warn = ParagraphStyle("w", parent=sub, textColor="#b00020", fontSize=16)
    story: list[Any] = [Paragraph(escape(texts["zh"]["title"]), title)]
    if revoked:
        story.append(Paragraph(escape(
            f"本文书已于 {revoked['on']} 撤销：{revoked['reason']} / REVOKED"), warn))
    story += [Paragraph(escape(p), body) for p in texts["zh"]["body"]]
    story.append(Paragraph(escape(statement["office"]["zh"]), ParagraphStyle(
        "o", parent=body, alignment=2, spaceBefore=6 * mm)))
    story.append(Paragraph(escape(statement["issued_on"]), ParagraphStyle(
        "d", parent=body, alignment=2)))
    if texts.get("en"):
        story.append(Spacer(1, 6 * mm))
        story.append(Paragraph(escape(texts["en"]["title"]), sub))
        story += [Paragraph(escape(p), body) for p in texts["en"]["body"]]
    story.append(Spacer(1, 10 * mm))
    info = [
        Paragraph(escape(f"文书编号 Document code：{statement['code']}"), body),
        Paragraph(escape(f"受理编号 Reference：{statement['reference']}"), body),
        Paragraph(escape("扫描二维码或访问以下地址核验本文书 / Scan or visit to verify:"), small),
        Paragraph(escape(verify_url), small),
        Paragraph(escape(f"Ed25519 签名 Signature：{signature}"), small),
    ]
    if name_salt and statement.get("name_commitment"):
        # the salt of the name commitment: only on the paper, so only its holder can ask
        # the verification page whether a full name matches
        info.insert(2, Paragraph(escape("姓名核验码 Name-check code："), body))
        info.insert(3, Paragraph(escape(_grouped(name_salt)), body))
        info.insert(4, Paragraph(escape(
            "在核验页面输入持有人全名与此码，可确认姓名是否一致 / Type the holder's full name "
            "and this code on the verification page to check the name."), small))
    table = Table([[info, qr_drawing(verify_url)]], colWidths=[120 * mm, 40 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BOX", (0, 0), (-1, -1), 0.5, "#888888")]))
    story.append(table)
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=22 * mm, rightMargin=22 * mm, topMargin=25 * mm,
        bottomMargin=20 * mm, title=texts["zh"]["title"], author=statement["office"]["zh"],
        subject=signed_blob(statement, signature), creator="Shequ documents",
    )
    doc.build(story)
    return out.getvalue()
