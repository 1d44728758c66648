"""Entry point: validate settings once (one clear line and exit 2 on error), then run one uvicorn worker."""
from __future__ import annotations

import sys

from pydantic import ValidationError


def main() -> int:
    from graphmemory_common import logs
    from .settings import Settings, describe_error

    logs.configure("info")
    try:
        settings = Settings()
    except ValidationError as e:
        print(f"gmi-api: {describe_error(e)}", file=sys.stderr)
        return 2
    from .graph import Graph, GraphError

    # Open Kuzu once before serving, so a corrupt or locked database stops the service here with one message.
    try:
        Graph(settings.kuzu_file, settings.kuzu_buffer_pool_mb).close()
    except GraphError as e:
        print(f"gmi-api: {e}", file=sys.stderr)
        return 2

    import uvicorn

    from .main import create_app

    logs.configure(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, workers=1,
                log_level=settings.log_level, access_log=False, proxy_headers=True, server_header=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
