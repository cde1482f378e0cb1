"""The picture a customer's report link shows in place of a photo whose bytes belong to
another job (``sync.photos.FOREIGN``): a plain image saying so, drawn once per process
with Pillow (already used for every image Doorstep reads)."""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw

__all__ = ["MESSAGE", "placeholder_jpeg"]

MESSAGE = ("This picture belongs to", "another job and is not", "shown here.")


@functools.cache
def placeholder_jpeg() -> bytes:
    image = Image.new("RGB", (320, 240), (232, 232, 232))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 315, 235), outline=(160, 160, 160), width=2)
    for i, line in enumerate(MESSAGE):
        draw.text((24, 84 + 24 * i), line, fill=(60, 60, 60))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
