"""Loopback sinks for the send benchmarks: cheaper than any client, so the client is measured.

``http``: a threaded HTTP/1.1 server that reads each request's ``Content-Length`` bytes
into one reused buffer, never parses them, and answers as the provider the path names
would: Postmark's batch (one result per message, counted as occurrences of
``"HtmlBody":`` — inside a JSON string that text would be escaped, so it marks message
objects only), SendGrid's 202 with an ``X-Message-Id``, Mailgun's queued id. Keep-alive,
so a client's pool reuses its connections.

``smtp``: a minimal SMTP server that accepts every command and reads each message's DATA
in large chunks up to its end, keeping nothing. (aiosmtpd, which reads DATA line by line,
managed about 60 messages of 50 KB a second here: slower than the client it was meant to
measure.)

Run as ``python -m benchmarks.sinks http|smtp``: the process prints its port on stdout,
then serves until it is terminated.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading

_CHUNK = 1 << 20
_MARK = b'"HtmlBody":'


def _count(sock: socket.socket, already: bytes, length: int, buf: bytearray) -> int:
    """Consume ``length`` body bytes (``already`` first); count message marks in them."""
    view = memoryview(buf)
    n = already.count(_MARK)
    carry = already[-(len(_MARK) - 1) :]
    left = length - len(already)
    while left > 0:
        got = sock.recv_into(view, min(left, _CHUNK))
        if not got:
            raise ConnectionError("the client closed mid-body")
        n += buf.count(_MARK, 0, got)
        # a mark cut in two by the chunk boundary
        edge = bytes(carry) + bytes(view[: len(_MARK) - 1])
        n += edge.count(_MARK)
        carry = bytes(view[max(0, got - len(_MARK) + 1) : got])
        left -= got
    return n


def _postmark(n: int, serial: int) -> tuple[bytes, bytes]:
    entries = b",".join(
        b'{"To":"reader@example.org","SubmittedAt":"2026-12-01T00:00:00Z","MessageID":'
        b'"0d7c7f00-%06d-%04d-0000-000000000000","ErrorCode":0,"Message":"OK"}' % (serial, i)
        for i in range(n)
    )
    return b"200 OK", b"[" + entries + b"]"


class _Handler(socketserver.BaseRequestHandler):
    serial = 0
    lock = threading.Lock()

    def handle(self) -> None:
        sock: socket.socket = self.request
        buf = bytearray(_CHUNK)
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                pending += chunk
            head, _, rest = pending.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            already, pending = rest[:length], rest[length:]
            marks = _count(sock, already, length, buf)
            with self.lock:
                _Handler.serial += 1
                serial = _Handler.serial
            extra = b""
            if path == b"/email/batch":
                status, body = _postmark(marks, serial)
            elif path == b"/v3/mail/send":
                status, body = b"202 Accepted", b""
                extra = b"X-Message-Id: sg%06d\r\n" % serial
            elif path.endswith(b"/messages"):
                status = b"200 OK"
                body = b'{"id":"<%06d@mg.example.org>","message":"Queued. Thank you."}' % serial
            else:
                status, body = b"404 Not Found", b"{}"
            sock.sendall(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" + extra
                + b"Content-Length: %d\r\n\r\n" % len(body) + body
            )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve_http() -> None:
    with _Server(("127.0.0.1", 0), _Handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


class _SMTPHandler(socketserver.BaseRequestHandler):
    """Just enough SMTP for a client that sends plain messages: every command accepted,
    DATA read in large chunks up to the CRLF.CRLF that ends it, nothing kept."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.sendall(b"220 sink ESMTP\r\n")
        buf = b""
        while True:
            while b"\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            line, _, buf = buf.partition(b"\r\n")
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                sock.sendall(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                sock.sendall(b"354 go ahead\r\n")
                buf = b"\r\n" + buf
                while (end := buf.find(b"\r\n.\r\n")) < 0:
                    buf = buf[-4:]
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[end + 5 :]
                sock.sendall(b"250 OK queued\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 bye\r\n")
                return
            else:
                sock.sendall(b"250 OK\r\n")


def serve_smtp() -> None:
    with _Server(("127.0.0.1", 0), _SMTPHandler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    {"http": serve_http, "smtp": serve_smtp}[sys.argv[1]]()
