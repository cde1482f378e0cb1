"""The service report as a PDF: the same HTML as the printable page, laid out by
WeasyPrint (a maintained HTML/CSS-to-PDF engine; it needs Pango from the operating
system, and a CJK font such as Debian's ``fonts-noto-cjk`` for Chinese text).

Images are inlined as ``data:`` URIs before layout, so WeasyPrint never fetches
anything over the network."""

from __future__ import annotations

import base64
import logging
from typing import Any

import anyio

from server.errors import RetryLater

__all__ = ["PdfUnavailable", "available", "data_uri", "html_to_pdf"]

log = logging.getLogger("doorstep.reports")


class PdfUnavailable(RetryLater):
    """WeasyPrint or its system libraries are missing on this server."""

    def __init__(self) -> None:
        super().__init__("This server cannot make PDFs (WeasyPrint/Pango missing).", 3600)
        self.code = "pdf_unavailable"


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango's shared library is missing
        log.warning("PDF rendering unavailable: %s", exc)
        return None
    # WeasyPrint's import sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, which would
    # let a truncated photo through sync.images' checks: the report's images are whole
    # (verified when uploaded), so the strict default comes back.
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return weasyprint


def available() -> bool:
    return _weasyprint() is not None


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode()


def _render(html: str) -> bytes:
    weasyprint = _weasyprint()
    if weasyprint is None:
        raise PdfUnavailable()
    # data: URIs only: the renderer never fetches anything over the network.
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"data"})
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    return pdf


async def html_to_pdf(html: str) -> bytes:
    """Lay the page out in a worker thread (it takes a few hundred milliseconds)."""
    return await anyio.to_thread.run_sync(_render, html)
