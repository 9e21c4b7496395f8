"""The gunicorn worker of ``serve``: gunicorn's threaded worker, made to hold against slow and greedy clients.

gunicorn's gthread worker already parks a connection that sends nothing (it waits for data in the poller, not in a
thread). But a client that sends *part* of a request and then nothing holds a thread for as long as it likes: the
thread reads the rest with a blocking socket and no time limit. Eight such connections took every thread of a
worker and ``/health`` stopped answering. Here:

- every read on a client connection (request line, headers, body; plain or TLS) gives up after ``read_timeout_s``
  seconds without a byte: the connection is closed and the thread is free again (logged once, as a warning);
- one client address holds at most ``max_connections_per_client`` connections to a worker at a time: a further one
  is closed at once (the client may retry, or use the connections it has);
- after ``max_requests_per_connection`` requests a connection is closed (``Connection: close`` on the last answer),
  so that a client with a kept-alive connection spreads over the workers again after one was restarted.

The worker is gunicorn 27's ``ThreadWorker`` with its ``accept`` replaced (gunicorn is pinned to 27 for that);
``configure`` sets the limits from the gateway's configuration in the master, before gunicorn forks its workers. The
third limit is a ``pre_request`` hook (``close_after``), as gunicorn numbers the requests on a connection.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
from collections import Counter

from gunicorn.workers.gthread import TConn, ThreadWorker

from .proxy import is_trusted

log = logging.getLogger("gateway.web.worker")



def _timed_out(sock) -> OSError:
    try:
        peer = sock.getpeername()[0]
    except OSError:
        peer = "?"
    log.warning("client %s sent nothing for %s s in the middle of a request: connection closed", peer,
                sock.gettimeout())
    # gunicorn closes a connection quietly on a reset; any other error it logs with a traceback per connection
    return ConnectionResetError(errno.ECONNRESET, "read timed out")


class _TimedReads:
    """Blocking mode with a time limit (gunicorn sets blocking mode before each request), and a read that runs out
    of it closes the connection quietly."""

    __slots__ = ()
    read_timeout: float = 30.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.read_timeout)
        else:
            super().setblocking(False)

    def recv(self, *args):
        try:
            return super().recv(*args)
        except TimeoutError:
            raise _timed_out(self) from None

    def recv_into(self, *args):
        try:
            return super().recv_into(*args)
        except TimeoutError:
            raise _timed_out(self) from None


class TimedSocket(_TimedReads, socket.socket):
    """A plain client socket with timed reads."""

    __slots__ = ()


class TimedSSLSocket(_TimedReads, ssl.SSLSocket):
    """The same for a TLS connection (``SSLContext.sslsocket_class``)."""


def _close_without_lingering(sock, max_drain: int = 65536) -> None:
    """Close after the answer without waiting for the client. gunicorn's graceful close (FIN, then read until the
    client closes too, up to 2 s) runs on the worker's main loop: a client that never closes stalls every other
    connection of the worker for those 2 s. Here: FIN, take what the client has already sent (so the kernel does
    not answer it with a reset that could cut off our last answer), close."""
    try:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        sock.setblocking(False)  # what has arrived, never a wait
        drained = 0
        while drained < max_drain:
            try:
                data = sock.recv(4096)
            except OSError:  # nothing more now (BlockingIOError, SSLWantReadError), or the client is gone
                break
            if not data:
                break
            drained += len(data)
    finally:
        try:
            sock.close()
        except OSError:
            pass


class _CountedConn(TConn):
    """A connection that tells its worker when it closes (for the per-address count)."""

    def __init__(self, worker: "GatewayWorker", *args):
        super().__init__(*args)
        self._worker = worker
        self._counted = True

    def close(self, graceful: bool = False):
        try:
            if graceful:
                _close_without_lingering(self.sock)
            else:
                super().close(False)
        finally:
            if self._counted:
                self._counted = False
                self._worker.connection_closed(self.client)


class GatewayWorker(ThreadWorker):
    """gunicorn's threaded worker with read timeouts and a per-client connection cap (module docstring)."""

    max_per_client = 16
    max_requests_per_connection = 100
    trusted_proxies: tuple = ()  # their connections are not capped: a proxy carries many clients

    @classmethod
    def configure(cls, *, read_timeout_s: float, max_connections_per_client: int,
                  max_requests_per_connection: int, trusted_proxies: tuple = ()) -> None:
        """The limits, set in the master before the fork (the workers inherit them)."""
        _TimedReads.read_timeout = float(read_timeout_s)
        cls.max_per_client = int(max_connections_per_client)
        cls.max_requests_per_connection = int(max_requests_per_connection)
        cls.trusted_proxies = tuple(trusted_proxies)

    def init_process(self):
        self._per_client: Counter = Counter()
        self._per_client_lock = threading.Lock()
        super().init_process()

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        address = client_addr[0] if isinstance(client_addr, tuple) else str(client_addr)
        with self._per_client_lock:
            if self.trusted_proxies and is_trusted(address, self.trusted_proxies):
                refused = False
                self._per_client[address] += 1  # counted (it is uncounted on close), never refused
            elif self._per_client[address] >= self.max_per_client:
                refused = True
            else:
                self._per_client[address] += 1
                refused = False
        if refused:
            log.warning("client %s already holds %d connections to this worker: one more refused", address,
                        self.max_per_client)
            client_sock.close()
            return
        if type(client_sock) is socket.socket:
            client_sock.__class__ = TimedSocket
        self.nr_conns += 1
        client_sock.setblocking(True)
        conn = _CountedConn(self, self.cfg, client_sock, client_addr, listener.getsockname())
        conn.client_address = address
        self.enqueue_req(conn)

    def connection_closed(self, client) -> None:
        address = client[0] if isinstance(client, tuple) else str(client)
        with self._per_client_lock:
            self._per_client[address] -= 1
            if self._per_client[address] <= 0:
                del self._per_client[address]


def close_after(worker, req) -> None:
    """gunicorn's ``pre_request`` hook: the last request a connection may carry is answered with ``Connection:
    close``, so that a client opens a new connection, which may reach another worker."""
    limit = getattr(worker, "max_requests_per_connection", 0)
    if limit and getattr(req, "req_number", 0) >= limit:
        req.force_close()
