"""IS image routing: the OCR or PHOTO prompt for an image and the bytes sent for it.

Routing (prompt OCR or PHOTO, column `route`), from Pillow + numpy on the downloaded image
(`image_features`, on a copy downscaled to at most 256 x 256 pixels' worth of area, aspect
kept, so the thresholds do not depend on the resolution and a long capture keeps its text):
- edge density: share of pixels whose gradient magnitude (forward differences) exceeds
  VLM_ROUTE_EDGE_THRESHOLD (default 32 of 255): text strokes and UI lines;
- UI-likeness: mean of three shares that screenshots, chats and memes have high and photos low
  (on synthetic images: screenshots 0.34-0.84, photo-like gradients and noise <= 0.03): pixels
  in the 4 most frequent colours (16 levels a channel), near-flat pixels (gradient < 2) and
  near-uniform rows (standard deviation < 2: margins and gaps between text lines);
- aspect: longest side / shortest side; `tall`: height / width.
OCR when the URL names a capture (VLM_ROUTE_URL_KEYWORDS, e.g. screenshot, capture, 캡처, 스샷),
or the image is tall (height/width >= VLM_ROUTE_TALL_ASPECT, 2.0: long captures), or it is
UI-like (>= VLM_ROUTE_UI_SCORE, 0.45) with some edges (>= VLM_ROUTE_MIN_EDGE_DENSITY, 0.02: a
blank or flat image has nothing to read), or it is dense text on a flat background (edge density
>= VLM_ROUTE_TEXT_EDGE_DENSITY, 0.14, with >= VLM_ROUTE_TEXT_PALETTE, 0.5, of its pixels in 4
colours: dense lines leave few flat rows, so the UI score drops to 0.34-0.45); else PHOTO. Edge
density alone does not route: foliage and noise have more edges than text, but many colours.

Data URL: an OCR-routed image is preprocessed heavy when its edge density >=
VLM_ROUTE_HEAVY_EDGE_DENSITY (0.14) and aspect >= VLM_ROUTE_HEAVY_ASPECT (1.3): greyscale,
autocontrast, upscaled (at most 2x, longest side <= 4096) when narrower than
VLM_ROUTE_OCR_MIN_WIDTH (1024 px), sent as PNG (lossless for text). Every other image goes as
JPEG q90 (a delivered JPEG as it is: re-encoding only loses quality; transparency flattened on
white). PHOTO images are never greyscaled: their colours are part of the answer.
"""

import io
import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from dag.is_enrichment_rules import env_setting

Route = Literal["ocr", "photo"]  # the `route` column: contracts.is_.IMAGE_ROUTES
ROUTE_PROMPTS: dict[Route, str] = {
    "ocr": (
        "OCR: this image is a screenshot, capture or image of text. Read ALL of its text lines "
        "in reading order (top to bottom, left to right), each exactly as written, into "
        "ocr_lines (up to 200); then a one-sentence caption of what the text or screen is "
        "about, labels, safety scores, objects and main colours."
    ),
    "photo": (
        "PHOTO: this image is a photo or illustration. Describe it: a one-sentence caption of "
        "what it shows, up to 20 labels, the objects you see (name, count, confidence), the "
        "main colours (name, hex, ratio), safety scores; ocr_lines only for clearly legible "
        "text (signs, captions)."
    ),
}
DEFAULT_URL_KEYWORDS = ("screenshot", "screen_shot", "capture", "캡처", "캡쳐", "스샷",
                        "스크린샷")
ANALYSIS_PIXELS = 256 * 256
"""Features are measured on a copy downscaled to at most this area (thresholds assume it)."""
MAX_UPSCALED_SIDE = 4096
MAX_UPSCALE = 2.0
ORIENTATION = 0x0112
"""The EXIF orientation tag."""


@dataclass(frozen=True)
class RouteSettings:
    """Routing and preprocessing thresholds (VLM_ROUTE_*, read at run time; see the module
    docstring for what each one decides)."""

    url_keywords: tuple[str, ...] = DEFAULT_URL_KEYWORDS
    ui_score: float = 0.45
    min_edge_density: float = 0.02
    text_edge_density: float = 0.14
    text_palette: float = 0.5
    tall_aspect: float = 2.0
    heavy_edge_density: float = 0.14
    heavy_aspect: float = 1.3
    edge_threshold: float = 32.0
    ocr_min_width: int = 1024

    @classmethod
    def from_env(cls) -> "RouteSettings":
        """The VLM_ROUTE_* variables (empty = the defaults above); URL keywords comma-separated."""
        d = cls()
        words = env_setting("VLM_ROUTE_URL_KEYWORDS", ",".join(d.url_keywords))
        return cls(
            url_keywords=tuple(w.strip().lower() for w in words.split(",") if w.strip()),
            ui_score=float(env_setting("VLM_ROUTE_UI_SCORE", str(d.ui_score))),
            min_edge_density=float(
                env_setting("VLM_ROUTE_MIN_EDGE_DENSITY", str(d.min_edge_density))),
            text_edge_density=float(
                env_setting("VLM_ROUTE_TEXT_EDGE_DENSITY", str(d.text_edge_density))),
            text_palette=float(env_setting("VLM_ROUTE_TEXT_PALETTE", str(d.text_palette))),
            tall_aspect=float(env_setting("VLM_ROUTE_TALL_ASPECT", str(d.tall_aspect))),
            heavy_edge_density=float(
                env_setting("VLM_ROUTE_HEAVY_EDGE_DENSITY", str(d.heavy_edge_density))),
            heavy_aspect=float(env_setting("VLM_ROUTE_HEAVY_ASPECT", str(d.heavy_aspect))),
            edge_threshold=float(env_setting("VLM_ROUTE_EDGE_THRESHOLD", str(d.edge_threshold))),
            ocr_min_width=int(env_setting("VLM_ROUTE_OCR_MIN_WIDTH", str(d.ocr_min_width))),
        )


@dataclass(frozen=True)
class ImageFeatures:
    """What routing reads from an image (shares in 0..1)."""

    width: int
    height: int
    edge_density: float
    palette_share: float
    flat_share: float
    uniform_rows: float

    @property
    def ui_score(self) -> float:
        """UI-likeness: few dominant colours, large flat areas, uniform rows."""
        return (self.palette_share + self.flat_share + self.uniform_rows) / 3

    @property
    def aspect(self) -> float:
        """Longest side / shortest side (orientation-free)."""
        return max(self.width, self.height) / max(1, min(self.width, self.height))

    @property
    def tall(self) -> float:
        """Height / width."""
        return self.height / max(1, self.width)


def flatten(image: Image.Image) -> Image.Image:
    """RGB, transparency composited on white (a transparent screenshot's text stays readable)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def image_features(image: Image.Image, edge_threshold: float = 32.0) -> ImageFeatures:
    """Edge density and UI-likeness shares of `image`, measured at ANALYSIS_PIXELS."""
    width, height = image.size
    small = flatten(image)
    scale = min(1.0, (ANALYSIS_PIXELS / max(1, width * height)) ** 0.5)
    if scale < 1.0:
        small = small.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                             Image.Resampling.BILINEAR)
    grey = np.asarray(small.convert("L"), dtype=np.float32)
    if min(grey.shape) < 2:  # a 1-pixel line: no gradient to measure
        return ImageFeatures(width, height, 0.0, 1.0, 1.0, 1.0)
    gx = np.abs(np.diff(grey, axis=1))[:-1, :]
    gy = np.abs(np.diff(grey, axis=0))[:, :-1]
    magnitude = np.hypot(gx, gy)
    levels = np.asarray(small, dtype=np.uint8) >> 4  # 16 levels a channel
    codes = (levels[..., 0].astype(np.int32) << 8) | (levels[..., 1].astype(np.int32) << 4) \
        | levels[..., 2].astype(np.int32)
    counts = np.bincount(codes.ravel(), minlength=4096)
    return ImageFeatures(
        width=width,
        height=height,
        edge_density=float((magnitude > edge_threshold).mean()),
        palette_share=float(np.sort(counts)[-4:].sum() / codes.size),
        flat_share=float((magnitude < 2.0).mean()),
        uniform_rows=float((grey.std(axis=1) < 2.0).mean()),
    )


def route_image(features: ImageFeatures, url: str, settings: RouteSettings) -> Route:
    """OCR or PHOTO (module docstring): URL keyword, tall capture, UI-like with edges, or dense
    text on a flat background."""
    lowered = url.lower()
    if any(word in lowered for word in settings.url_keywords):
        return "ocr"
    if features.tall >= settings.tall_aspect:
        return "ocr"
    if (features.ui_score >= settings.ui_score
            and features.edge_density >= settings.min_edge_density):
        return "ocr"
    if (features.edge_density >= settings.text_edge_density
            and features.palette_share >= settings.text_palette):
        return "ocr"
    return "photo"


def is_heavy(features: ImageFeatures, route: Route, settings: RouteSettings) -> bool:
    """Heavy OCR preprocessing: a dense-text (edge density), elongated, OCR-routed image."""
    return (route == "ocr" and features.edge_density >= settings.heavy_edge_density
            and features.aspect >= settings.heavy_aspect)


def ocr_preprocess(image: Image.Image, min_width: int) -> bytes:
    """Greyscale, autocontrast, upscaled when narrow (<= 2x, longest side <= 4096): PNG."""
    grey = ImageOps.autocontrast(flatten(image).convert("L"))
    width, height = grey.size
    scale = min(MAX_UPSCALE, min_width / max(1, width), MAX_UPSCALED_SIDE / max(width, height))
    if scale > 1.0:
        grey = grey.resize((round(width * scale), round(height * scale)),
                           Image.Resampling.LANCZOS)
    out = io.BytesIO()
    grey.save(out, format="PNG")
    return out.getvalue()


def jpeg(image: Image.Image) -> bytes:
    """JPEG q90 of the image (transparency on white)."""
    out = io.BytesIO()
    flatten(image).save(out, format="JPEG", quality=90)
    return out.getvalue()


@dataclass(frozen=True)
class PreparedImage:
    """What is sent for an image: its bytes and MIME type, its route, whether heavy."""

    data: bytes
    mime: str
    route: Route
    heavy: bool
    features: ImageFeatures


def decode(body: bytes, reduced: bool) -> tuple[Image.Image, str | None, tuple[int, int]]:
    """The image upright (EXIF orientation applied), its format and full upright size.
    `reduced`: a JPEG is decoded at the smallest DCT scale still >= ANALYSIS_PIXELS (several
    times faster for a camera photo; other formats decode in full)."""
    with Image.open(io.BytesIO(body)) as opened:
        kind = opened.format
        width, height = opened.size
        if opened.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8):  # a quarter turn
            width, height = height, width
        scale = (ANALYSIS_PIXELS / max(1, width * height)) ** 0.5
        if reduced and kind == "JPEG" and scale < 1.0:
            opened.draft("RGB", (math.ceil(opened.size[0] * scale),
                                 math.ceil(opened.size[1] * scale)))
        image = ImageOps.exif_transpose(opened)
        image.load()
    return image, kind, (width, height)


def prepare_image(body: bytes, url: str, settings: RouteSettings) -> PreparedImage:
    """Route the downloaded image and encode it as sent (module docstring). Raises what Pillow
    raises for bytes that are not a decodable image."""
    image, kind, (width, height) = decode(body, reduced=True)
    features = replace(image_features(image, settings.edge_threshold), width=width,
                       height=height)
    route = route_image(features, url, settings)
    if is_heavy(features, route, settings):
        full = image if image.size == (width, height) else decode(body, reduced=False)[0]
        return PreparedImage(ocr_preprocess(full, settings.ocr_min_width), "image/png", route,
                             True, features)
    if kind == "JPEG":
        return PreparedImage(body, "image/jpeg", route, False, features)
    return PreparedImage(jpeg(image), "image/jpeg", route, False, features)
