"""A customer's signature drawn as pen strokes on the phone, rendered to an image the
service report can show (the strokes themselves are kept as received)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

__all__ = ["render_strokes"]

Stroke = Sequence[Sequence[float]]


def render_strokes(
    strokes: Sequence[Stroke], *, width: int = 600, height: int = 200, pad: int = 12
) -> bytes:
    """PNG of the strokes (``[[x, y, t], …]`` each), scaled to fit ``width`` by ``height``
    keeping their proportions. Synchronous: run it off the event loop."""
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    points = [(float(p[0]), float(p[1])) for s in strokes for p in s if len(p) >= 2]
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        span_x, span_y = max(max(xs) - min(xs), 1e-9), max(max(ys) - min(ys), 1e-9)
        scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
        ox, oy = min(xs), min(ys)

        def at(p: Sequence[float]) -> tuple[float, float]:
            return pad + (float(p[0]) - ox) * scale, pad + (float(p[1]) - oy) * scale

        for stroke in strokes:
            line = [at(p) for p in stroke if len(p) >= 2]
            if len(line) == 1:
                x, y = line[0]
                draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=0)
            elif line:
                draw.line(line, fill=0, width=3, joint="curve")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
