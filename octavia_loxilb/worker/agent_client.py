"""octavia-lib's ``DriverLibrary`` with a prompt reply reader.

octavia-lib reads the driver-agent's reply (a decimal size, a newline, then that many
bytes of JSON) one byte at a time and sleeps 10 ms after every byte of the size line and
after every chunk of the body, so each get or status push waits 40-70 ms after the answer
has arrived. A member job makes two or three such calls, which made those sleeps a quarter
of its time. This subclass reads the same framing in blocking chunks; requests, sockets,
timeouts and the exceptions raised are octavia-lib's. Should a later octavia-lib rename the
reader, the override is simply unused and the library's own reader works as before.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from octavia_lib.api.drivers import driver_lib
from octavia_lib.api.drivers import exceptions as driver_exceptions
from oslo_serialization import jsonutils

CHUNK = 65536


def _timeout(what: str) -> driver_exceptions.DriverAgentTimeout:
    return driver_exceptions.DriverAgentTimeout(fault_string=what)


def read_reply(sock: socket.socket, limit: float = driver_lib.DRIVER_AGENT_TIMEOUT) -> Any:
    """One framed reply from ``sock``: ``<size>\\n<size bytes of JSON>``.

    ``sock`` keeps octavia-lib's per-recv timeout; a recv that times out is retried until
    ``limit`` seconds have passed, as octavia-lib does (a slow database is not an error).
    """
    deadline = time.monotonic() + limit
    buffer = bytearray()
    size: int | None = None
    while size is None or len(buffer) < size:
        if time.monotonic() > deadline:
            raise _timeout(f"The driver agent did not respond in {limit} seconds.")
        try:
            data = sock.recv(CHUNK)
        except TimeoutError:
            continue
        if not data:
            raise _timeout("The driver agent closed the connection before its reply ended.")
        buffer += data
        if size is None and b"\n" in buffer:
            head, _, rest = bytes(buffer).partition(b"\n")
            size, buffer = int(head), bytearray(rest)
    return jsonutils.loads(bytes(buffer[:size]))


class DriverLibrary(driver_lib.DriverLibrary):
    """``driver_lib.DriverLibrary`` that hands back each reply as soon as it has arrived."""

    def _recv(self, sock: socket.socket) -> Any:
        return read_reply(sock)
