"""moto's server, answering one request at a time: `python emulator_server.py -H 127.0.0.1 -p <port>`.

moto evaluates a conditional write (PutItem/UpdateItem/DeleteItem with a ConditionExpression, and
TransactWriteItems) as "read the item, evaluate the condition, write" with no lock, and `python -m moto.server`
serves each request in its own thread. Two concurrent requests can therefore both pass a condition that real
DynamoDB lets only one of them pass (an `ADD used :n` guarded by `used <= :max` goes over its limit), and a
failed transaction restores a snapshot of the whole table, undoing writes other threads made meanwhile.
DynamoDB applies each single-item conditional write, and each transaction, atomically; the gateway's quota
counters rely on it.

So this builds moto's application exactly as `moto.server.main` does, and wraps it in a middleware that holds one
lock while the application answers and while its response body is read, which makes every API call atomic.
The server stays threaded (a slow client does not hold the lock while it connects or reads its answer), and
requests are cheap, so serialising them costs the tests nothing noticeable.

Run as a script (by `local_stack.dynamodb.DynamoDBEmulator`), so it imports only moto, werkzeug and the stdlib.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterable
from types import FrameType
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def serialised(app: WSGIApplication) -> WSGIApplication:
    """`app`, answering one request at a time: the whole body is produced under one lock, then returned as a list."""
    lock = threading.Lock()

    def one_at_a_time(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with lock:
            body = app(environ, start_response)
            try:
                return list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return one_at_a_time


def _exit(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-H", "--host", default="127.0.0.1", help="which host to bind")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")), help="port")
    args = parser.parse_args(argv)

    # As moto.server.main: moto builds some URLs (SQS queue URLs, ...) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    try:
        signal.signal(signal.SIGINT, _exit)
        signal.signal(signal.SIGTERM, _exit)
    except ValueError:  # pragma: no cover - only when not run in the main thread
        pass

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto.server.main does
    run_simple(args.host, args.port, serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
