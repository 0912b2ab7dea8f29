#!/usr/bin/env python3
"""moto server with every request serialized.

moto's own server runs each request on its own thread, and its backends are not
atomic: two concurrent conditional writes can both see the old item and both
succeed (50 concurrent ``TransactWriteItems`` against a cap of 5 admitted 6 in
one trial of ten). DynamoDB itself guarantees atomic conditions, and the
session rules depend on it, so this server holds one global lock for the whole
of each request, including producing the response body. Connections are still
accepted concurrently (threaded WSGI server); only the handling is one at a time.

Usage: serial_moto.py [--host 127.0.0.1] [--port 5000] [--verbose]
Readiness probe: ``GET /moto-api/`` (or any request).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class SerializedApp:
    """WSGI middleware: one request at a time, response fully consumed under the lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return body


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler (keeps underscore headers) without per-request log lines."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # noqa: D102
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind (default 5000)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)

    # Exit cleanly (status 0) on SIGTERM, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    moto_app = DomainDispatcherApplication(create_backend_app)
    app = SerializedApp(moto_app)
    print(f"serial-moto: serving on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        run_simple(
            args.host,
            args.port,
            app,
            threaded=True,
            use_reloader=False,
            request_handler=MotoRequestHandler if args.verbose else QuietRequestHandler,
        )
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
