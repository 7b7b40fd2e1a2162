"""A loopback image server for the IS image-enrichment tests: real PNG / JPEG / GIF bytes made
with Pillow, one oversized image, one file that is not an image, one URL that never answers
(it sleeps past any client timeout) and one that answers HTTP 404; for the OCR/PHOTO routing, a
chat-like screenshot dense with text (`/chat.png`) and a photo-like gradient with noise
(`/sunset.jpg`), made by `screenshot` and `photo`."""

from __future__ import annotations

import io
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = ("hello", "world", "가나다", "message", "12:30", "ok", "screen", "community", "좋아요")


def picture(fmt: str, colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def screenshot(width: int = 540, height: int = 960, font_size: int = 18, seed: int = 1,
               line_gap: float = 1.5) -> Image.Image:
    """A chat-like screenshot: white background, a coloured title bar, lines of dark text
    (`line_gap` x the font size apart: smaller = denser text)."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    draw.rectangle((0, 0, width, 3 * font_size), fill=(40, 90, 200))
    draw.text((font_size, font_size), "Chat - 커뮤니티", fill="white", font=font)
    pick = random.Random(seed)
    y = 4 * font_size
    while y < height - 2 * font_size:
        line = " ".join(pick.choice(WORDS) for _ in range(width // (4 * font_size) + 1))
        draw.text((font_size, y), line, fill=(20, 20, 20), font=font)
        y += round(font_size * line_gap)
    return image


def photo(width: int = 400, height: int = 300, seed: int = 0) -> Image.Image:
    """A photo-like image: smooth colour gradients with sensor-like noise."""
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    base = np.stack(np.broadcast_arrays(200 * x + 30 * y, 120 + 80 * x * y, 220 - 150 * y + 0 * x),
                    axis=2)
    noise = np.random.default_rng(seed).normal(0.0, 12.0, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@dataclass
class ImageServer:
    url: str = ""
    hang_seconds: float = 5.0
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # random pixels do not compress: a PNG of ~1 MB, over the tests' size limit
        noisy = Image.frombytes("RGB", (600, 600), random.Random(0).randbytes(600 * 600 * 3))
        big = io.BytesIO()
        noisy.save(big, format="PNG")
        self.files.update({
            "/red.png": ("image/png", picture("PNG", (255, 0, 0))),
            "/blue.jpg": ("image/jpeg", picture("JPEG", (0, 0, 255))),
            "/green.gif": ("image/gif", picture("GIF", (0, 255, 0))),
            "/big.png": ("image/png", big.getvalue()),
            "/text.png": ("image/png", b"<html>not an image</html>"),
            "/chat.png": ("image/png", encoded(screenshot(360, 640, 14, line_gap=1.2), "PNG")),
            "/sunset.jpg": ("image/jpeg", encoded(photo(), "JPEG", quality=85)),
        })


def start(state: ImageServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path == "/hang.png":
                time.sleep(state.hang_seconds)
                return
            if self.path not in state.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            mime, data = state.files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            return  # the client gave up on /hang.png

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
