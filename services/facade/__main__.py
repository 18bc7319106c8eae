"""python -m services.facade: the HTTP edge, on uvicorn with uvloop and httptools."""

from __future__ import annotations

import uvicorn

from rhone.runtime.logs import configure_logging
from services.facade.app import create_app
from services.facade.config import FacadeSettings


def main() -> None:
    configure_logging("facade")
    settings = FacadeSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        # Access lines would carry query strings, and Google clients may put keys there.
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        # rhone.ws.v1 limits (docs/rhone-ws-v1.md): frames up to 4 MiB, pings every 20 s.
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )


if __name__ == "__main__":
    main()
