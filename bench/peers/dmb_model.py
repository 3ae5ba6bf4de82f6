"""A model of DMB's Python log path, for Logdeck's benchmark (issue #7).

It moves a line from a child process to WebSocket clients the way DMB does:

- one reader thread per child pipe, ``for line in iter(pipe.readline, "")``,
  logging each line through the standard ``logging`` module;
- the logger's handlers: the console, a log file, and a ``logging.Handler``
  whose ``emit`` broadcasts the formatted line (a JSON entry with
  ``timestamp``, ``level``, ``process_name``, ``message``);
- the broadcast is a ``ConnectionManager`` holding a plain list of sockets,
  whose ``broadcast`` awaits ``asyncio.gather`` of ``send_text`` to all,
  run on the server's event loop; ``emit`` waits for it, so the reader
  thread moves on to the next line only once every client has it.

FastAPI + uvicorn serve ``/ws/logs`` and ``/health``. Nothing here is tuned;
it is meant to be as fast as the real code path or faster (DMB also creates
an event loop per line, which this model does not).

    python dmb_model.py --port 9000 --processes '[["gen0", ["/path/bench-gen", "--rate", "100"]]]'
"""

import argparse
import asyncio
import json
import logging
import logging.handlers
import subprocess
import sys
import threading
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect


class ConnectionManager:
    """The connected log clients, in a plain list."""

    def __init__(self):
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket):
        if websocket in self.active_connections:
            self.active_connections.remove(websocket)

    async def broadcast(self, message: str):
        connections = list(self.active_connections)
        results = await asyncio.gather(
            *(connection.send_text(message) for connection in connections),
            return_exceptions=True,
        )
        for connection, result in zip(connections, results):
            if isinstance(result, Exception):
                self.disconnect(connection)


manager = ConnectionManager()
server_loop: asyncio.AbstractEventLoop | None = None


class WebSocketLogHandler(logging.Handler):
    """Broadcasts every formatted record to the log clients."""

    def emit(self, record: logging.LogRecord):
        message = self.format(record)
        if server_loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(manager.broadcast(message), server_loop).result()
        except Exception:  # noqa: BLE001 - a logging handler never raises
            self.handleError(record)


class EntryFormatter(logging.Formatter):
    """The JSON entry DMB's clients read."""

    def format(self, record: logging.LogRecord) -> str:
        timestamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
        return json.dumps(
            {
                "timestamp": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname,
                "process_name": getattr(record, "process_name", record.name),
                "message": record.getMessage(),
            }
        )


LEVELS = {
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}


def setup_logger(log_file: str) -> logging.Logger:
    logger = logging.getLogger("processes")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    plain = logging.Formatter("%(asctime)s - %(levelname)s - %(process_name)s - %(message)s")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(plain)
    logfile = logging.handlers.RotatingFileHandler(log_file, maxBytes=10 * 1024 * 1024, backupCount=5)
    logfile.setFormatter(plain)
    websocket = WebSocketLogHandler()
    websocket.setFormatter(EntryFormatter())
    for handler in (console, logfile, websocket):
        logger.addHandler(handler)
    return logger


def read_pipe(pipe, process_name: str, default_level: int, logger: logging.Logger):
    for line in iter(pipe.readline, ""):
        line = line.rstrip("\n")
        first = line.split(" ", 1)[0].strip("[]:").upper()
        level = LEVELS.get(first, default_level)
        logger.log(level, line, extra={"process_name": process_name})
    pipe.close()


def make_app(processes, log_file: str) -> FastAPI:
    logger = setup_logger(log_file)
    children: list[subprocess.Popen] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        global server_loop
        server_loop = asyncio.get_running_loop()
        for name, argv in processes:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            children.append(child)
            for pipe, level in ((child.stdout, logging.INFO), (child.stderr, logging.ERROR)):
                threading.Thread(target=read_pipe, args=(pipe, name, level, logger), daemon=True).start()
        yield
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health():
        return {"status": "healthy"}

    @app.websocket("/ws/logs")
    async def ws_logs(websocket: WebSocket):
        await manager.connect(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            manager.disconnect(websocket)

    return app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", default="[]", help='JSON: [["name", ["argv", ...]], ...]')
    parser.add_argument("--log-file", default="dmb_model.log")
    args = parser.parse_args()
    app = make_app(json.loads(args.processes), args.log_file)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
