"""python -m services.facade: the HTTP edge, on uvicorn with uvloop and httptools."""

from __future__ import annotations

import uvicorn

from rhone.runtime.cpu_policy import apply_cpu_policy
from rhone.runtime.logs import configure_logging
from rhone.runtime.settings import ServingSettings
from services.facade.app import create_app
from services.facade.config import FacadeSettings
from services.facade.serving import DrainingServer


def main() -> None:
    configure_logging("facade")
    apply_cpu_policy(ServingSettings().cpu_policy)
    settings = FacadeSettings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        # Access lines would carry query strings, and Google clients may put keys there.
        access_log=False,
        log_config=None,
        # What is left after the drain (services/facade/serving.py) is cut this much later.
        timeout_graceful_shutdown=5,
        # rhone.ws.v1 limits (docs/rhone-ws-v1.md): frames up to 4 MiB, pings every 20 s.
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        ws_per_message_deflate=settings.ws_compression,
    )
    DrainingServer(config, app, ServingSettings().shutdown_grace_s).run()


if __name__ == "__main__":
    main()
