"""Entry point: validate settings (one clear line, exit 2 on error), then one uvicorn worker."""
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
        print(f"gmi-analytics: {describe_error(e)}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    import uvicorn

    from .main import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, workers=1,
                log_level=settings.log_level, access_log=False, server_header=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
