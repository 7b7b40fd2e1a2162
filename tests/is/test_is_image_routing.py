"""IS image enrichment: OCR/PHOTO routing by image heuristics and the image sent (preprocessing,
formats), on synthetic Pillow images (tests/image_server.py makes them)."""

import io
import random

import httpx
import pytest
from PIL import Image

from dag.is_image_enrichment import FetchedImage, fetch_image, image_prompt
from dag.is_image_routing import (
    ROUTE_PROMPTS,
    RouteSettings,
    decode,
    image_features,
    is_heavy,
    prepare_image,
    route_image,
)
from tests.image_server import encoded, photo, screenshot

PLAIN = "http://img.example/u/1234.png"
DEFAULTS = RouteSettings()


def _route(image: Image.Image, url: str = PLAIN, settings: RouteSettings = DEFAULTS) -> str:
    return route_image(image_features(image, settings.edge_threshold), url, settings)


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_screenshots_route_ocr_and_photos_route_photo() -> None:
    sparse = screenshot(line_gap=3.0)  # UI-like: flat background, gaps between lines
    dense = screenshot(1100, 1800, 20, line_gap=1.2)  # few flat rows; few colours, many edges
    wide = screenshot(1280, 720, 20)  # a desktop capture
    for image in (sparse, dense, wide):
        assert _route(image) == "ocr"
    sparse_features, dense_features = image_features(sparse), image_features(dense)
    assert sparse_features.ui_score >= DEFAULTS.ui_score
    assert dense_features.ui_score < DEFAULTS.ui_score  # routed by the dense-text rule
    assert dense_features.edge_density >= DEFAULTS.text_edge_density
    assert dense_features.palette_share >= DEFAULTS.text_palette
    landscape = photo(400, 300)
    noise = Image.frombytes("RGB", (300, 200), random.Random(0).randbytes(300 * 200 * 3))
    assert _route(landscape) == "photo"
    # noise (foliage-like) has more edges than text, but no dominant colours: a photo
    noisy = image_features(noise)
    assert noisy.edge_density > dense_features.edge_density and _route(noise) == "photo"
    assert image_features(landscape).ui_score < 0.2


def test_flat_image_has_nothing_to_read() -> None:
    flat = Image.new("RGB", (320, 240), (255, 0, 0))
    features = image_features(flat)
    assert features.ui_score == 1.0 and features.edge_density == 0.0
    assert _route(flat) == "photo"


def test_tall_image_routes_ocr_and_the_same_content_at_4_3_does_not() -> None:
    assert _route(photo(200, 500)) == "ocr"  # height/width 2.5: a long capture
    assert _route(photo(500, 200)) == "photo"  # as wide: a panorama
    assert _route(photo(400, 300)) == "photo"
    assert image_features(photo(200, 500)).aspect == image_features(photo(500, 200)).aspect


@pytest.mark.parametrize(
    "url",
    ["http://i.example/Screenshot_2026-12-06.jpg", "http://i.example/up/CAPTURE01.png",
     "http://i.example/%EC%BA%A1%EC%B2%98.png".replace("%EC%BA%A1%EC%B2%98", "캡처"),
     "http://i.example/게시판/스샷_1.jpg"],
)
def test_url_keywords_route_ocr(url: str) -> None:
    assert _route(photo(400, 300), url) == "ocr"


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"VLM_ROUTE_URL_KEYWORDS": " Meme , 짤 ", "VLM_ROUTE_UI_SCORE": "0.99",
                        "VLM_ROUTE_TEXT_EDGE_DENSITY": "0.9", "VLM_ROUTE_TALL_ASPECT": "3",
                        "VLM_ROUTE_HEAVY_EDGE_DENSITY": "0.5", "VLM_ROUTE_HEAVY_ASPECT": "2",
                        "VLM_ROUTE_EDGE_THRESHOLD": "20", "VLM_ROUTE_OCR_MIN_WIDTH": "800",
                        "VLM_ROUTE_MIN_EDGE_DENSITY": "0.05",
                        "VLM_ROUTE_TEXT_PALETTE": "0.6"}.items():
        monkeypatch.setenv(name, value)
    settings = RouteSettings.from_env()
    assert settings == RouteSettings(
        url_keywords=("meme", "짤"), ui_score=0.99, min_edge_density=0.05,
        text_edge_density=0.9, text_palette=0.6, tall_aspect=3.0, heavy_edge_density=0.5,
        heavy_aspect=2.0, edge_threshold=20.0, ocr_min_width=800,
    )
    assert _route(screenshot(line_gap=3.0), settings=settings) == "photo"  # UI bar raised
    assert _route(photo(200, 500), settings=settings) == "photo"  # 2.5 < 3
    assert _route(photo(400, 300), "http://i.example/MEME.jpg", settings) == "ocr"
    assert _route(photo(400, 300), "http://i.example/screenshot.jpg", settings) == "photo"
    monkeypatch.setenv("VLM_ROUTE_UI_SCORE", "")  # empty = the default
    assert RouteSettings.from_env().ui_score == DEFAULTS.ui_score


def test_heavy_text_is_sent_as_upscaled_autocontrast_greyscale_png() -> None:
    # dense text, 360 px wide, aspect 1.78: heavy; grey text on white: autocontrast stretches it
    small = screenshot(360, 640, 14, line_gap=1.2)
    features = image_features(small)
    assert features.edge_density >= 0.14 and features.aspect >= 1.3
    prepared = prepare_image(encoded(small, "PNG"), PLAIN, DEFAULTS)
    assert (prepared.route, prepared.heavy, prepared.mime) == ("ocr", True, "image/png")
    sent = _decoded(prepared.data)
    assert sent.format == "PNG" and sent.mode == "L"
    assert sent.size == (720, 1280)  # 1024 / 360 > 2: upscaled 2x, not more
    assert sent.getextrema() == (0, 255)
    # wide enough: greyscale, not upscaled
    wide = prepare_image(encoded(screenshot(1100, 1800, 20, line_gap=1.2), "PNG"), PLAIN,
                         DEFAULTS)
    assert wide.heavy and _decoded(wide.data).size == (1100, 1800)
    # the upscale keeps the longest side within 4096
    long_capture = prepare_image(encoded(screenshot(300, 3000, 14, line_gap=1.2), "PNG"), PLAIN,
                                 DEFAULTS)
    assert long_capture.heavy and _decoded(long_capture.data).size == (410, 4096)


def test_not_heavy_images_are_sent_as_jpeg_q90() -> None:
    # an OCR-routed image that is not text-dense (sparse lines): JPEG in colour
    sparse = prepare_image(encoded(screenshot(line_gap=5.0), "PNG"), PLAIN, DEFAULTS)
    assert (sparse.route, sparse.heavy, sparse.mime) == ("ocr", False, "image/jpeg")
    assert _decoded(sparse.data).mode == "RGB"
    # a square dense screenshot: text-dense, but not elongated
    square = image_features(screenshot(600, 600, 16, line_gap=1.2))
    assert not is_heavy(square, "ocr", DEFAULTS) and is_heavy(
        image_features(screenshot(360, 640, 14, line_gap=1.2)), "ocr", DEFAULTS)
    # heavy needs the OCR route: a photo's colours are part of its answer
    noise = Image.frombytes("RGB", (450, 300), random.Random(1).randbytes(450 * 300 * 3))
    noisy = image_features(noise)
    assert noisy.edge_density >= 0.14 and noisy.aspect >= 1.3
    prepared = prepare_image(encoded(noise, "PNG"), PLAIN, DEFAULTS)
    assert (prepared.route, prepared.heavy, prepared.mime) == ("photo", False, "image/jpeg")
    assert prepared.data == encoded(noise, "JPEG", quality=90)  # q90
    # a delivered JPEG goes as it is; a GIF is converted
    delivered = encoded(photo(400, 300), "JPEG", quality=80)
    assert prepare_image(delivered, PLAIN, DEFAULTS).data == delivered
    gif = prepare_image(encoded(photo(400, 300).convert("P"), "GIF"), PLAIN, DEFAULTS)
    assert gif.mime == "image/jpeg" and _decoded(gif.data).format == "JPEG"


def test_transparency_is_flattened_on_white() -> None:
    clear = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    prepared = prepare_image(encoded(clear, "PNG"), PLAIN, DEFAULTS)
    sent = _decoded(prepared.data).convert("RGB")
    assert min(sent.getextrema()[0]) >= 250  # white, not black


def test_route_prompts_differ_and_name_the_url() -> None:
    ocr = image_prompt(FetchedImage("http://i/1.png", "data:,", 1, route="ocr"))
    photo_prompt = image_prompt(FetchedImage("http://i/2.png", "data:,", 1, route="photo"))
    assert ocr.startswith(ROUTE_PROMPTS["ocr"]) and ocr.endswith("http://i/1.png")
    assert photo_prompt.startswith(ROUTE_PROMPTS["photo"])
    assert "Read ALL of its text lines" in ocr and "Describe it" in photo_prompt


def test_fetch_image_routes_and_refuses_decompression_bombs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = encoded(screenshot(360, 640, 14, line_gap=1.2), "PNG")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=chat))
    with httpx.Client(transport=transport, timeout=5) as client:
        fetched = fetch_image(client, "http://i.example/a.png", 1_000_000, DEFAULTS)
        assert (fetched.route, fetched.heavy, fetched.size) == ("ocr", True, len(chat))
        assert fetched.data_url is not None and fetched.data_url.startswith("data:image/png;")
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 230,400 pixels: over twice that
        bomb = fetch_image(client, "http://i.example/a.png", 1_000_000, DEFAULTS)
    assert bomb.data_url is None and bomb.route is None and not bomb.transient
    assert bomb.problem is not None and "too large to decode" in bomb.problem


def test_exif_orientation_and_the_reduced_jpeg_decode() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 500 x 200, shown turned a quarter: 200 x 500, a tall capture
    turned = prepare_image(encoded(photo(500, 200), "JPEG", quality=90, exif=exif), PLAIN,
                           DEFAULTS)
    assert (turned.features.width, turned.features.height, turned.route) == (200, 500, "ocr")
    page = screenshot(1400, 2400, 30, line_gap=1.2)
    big = encoded(page, "JPEG", quality=95)
    reduced, kind, size = decode(big, reduced=True)
    assert kind == "JPEG" and size == (1400, 2400) and reduced.size == (350, 600)  # 1/4 scale
    full_features = image_features(page)
    prepared = prepare_image(big, PLAIN, DEFAULTS)
    assert prepared.features.edge_density == pytest.approx(full_features.edge_density, abs=0.05)
    assert prepared.features.ui_score == pytest.approx(full_features.ui_score, abs=0.05)
    # heavy: the text is sent from the full decode
    assert prepared.heavy and _decoded(prepared.data).size == (1400, 2400)
