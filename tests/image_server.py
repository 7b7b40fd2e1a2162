"""A loopback image server for the IS image-enrichment tests: real PNG / JPEG / GIF bytes made
with Pillow, one oversized image, one file that is not an image, one URL that never answers
(it sleeps past any client timeout) and one that answers HTTP 404."""

from __future__ import annotations

import io
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


def picture(fmt: str, colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
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
