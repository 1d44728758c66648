"""Entry point: validate settings once (one clear line and exit 2 on error), then run one uvicorn worker.

    python -m app          the API (GRAPH_URL: through the graph service; else the Kuzu database in KUZU_DB_PATH)
    python -m app graph    the graph service: the one process that opens the Kuzu database (app/graph_server.py)
    python -m app backup   backups to S3-compatible storage (app/backup.py: run, list, fetch, restore-graph)

On SIGTERM uvicorn stops accepting connections, answers the requests in flight (for up to GRACEFUL_SHUTDOWN_SECONDS),
then runs the app's shutdown (the graph service closes the database) and exits.
"""
from __future__ import annotations

import sys

from pydantic import ValidationError

GRACEFUL_SHUTDOWN_SECONDS = 20  # below Kubernetes' terminationGracePeriodSeconds (30) minus the preStop sleep
USAGE = "usage: python -m app [graph | backup <command>]"


def serve(app, host: str, port: int, log_level: str) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level, access_log=False, proxy_headers=True,
                server_header=False, log_config=None, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)


def main_graph() -> int:
    from graphmemory_common import logs
    from .settings import GraphSettings, describe_error

    logs.configure("info")
    try:
        settings = GraphSettings()
    except ValidationError as e:
        print(f"gmi-graph: {describe_error(e)}", file=sys.stderr)
        return 2
    from .graph import Graph, GraphError

    # Open Kuzu before serving (waiting while a previous graph process still holds its lock), so a corrupt database
    # stops the service here with one message; the server then serves this handle.
    try:
        graph = Graph(settings.kuzu_file, settings.kuzu_buffer_pool_mb, settings.graph_lock_wait_seconds)
    except GraphError as e:
        print(f"gmi-graph: {e}", file=sys.stderr)
        return 2
    from .graph_server import create_graph_app

    logs.configure(settings.log_level)
    serve(create_graph_app(settings, graph), settings.host, settings.port, settings.log_level)
    return 0


def main_api() -> int:
    from graphmemory_common import logs
    from .settings import Settings, describe_error

    logs.configure("info")
    try:
        settings = Settings()
    except ValidationError as e:
        print(f"gmi-api: {describe_error(e)}", file=sys.stderr)
        return 2
    if not settings.graph_url:
        from .graph import Graph, GraphError

        # Open Kuzu once before serving, so a corrupt or locked database stops the service here with one message.
        try:
            Graph(settings.kuzu_file, settings.kuzu_buffer_pool_mb).close()
        except GraphError as e:
            print(f"gmi-api: {e}", file=sys.stderr)
            return 2
    from .main import create_app

    logs.configure(settings.log_level)
    serve(create_app(settings), settings.host, settings.port, settings.log_level)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["graph"]:
        return main_graph()
    if args[:1] == ["backup"]:
        from .backup import main as main_backup  # app/backup.py: the backup Jobs' commands

        return main_backup(args[1:])
    if args:
        print(f"gmi-api: unknown arguments {' '.join(args)}: {USAGE}", file=sys.stderr)
        return 2
    return main_api()


if __name__ == "__main__":
    sys.exit(main())
