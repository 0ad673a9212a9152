# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny Redis (RESP2) client for the health modules: no redis-py on the managed node.

Only what a health check needs: encode a command, parse one reply from a byte buffer, talk to a
server over TCP or a unix socket, and parse the text of ``INFO``. The parse functions are pure and
take bytes/str, so they are unit-tested without a server.

Managed-node code: Python 3.8+, standard library only.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, Optional, Tuple, Union

CRLF = b"\r\n"


class RespError(Exception):
    """An error reply from the server (``-ERR ...``, ``-NOAUTH ...``, ``-WRONGPASS ...``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = message.split(" ", 1)[0] if message else ""


class RespProtocolError(Exception):
    """The bytes received are not RESP2 (or not what a Redis server sends)."""


class Incomplete(Exception):
    """More bytes are needed to parse a whole reply."""


def encode_command(*args: Union[str, bytes, int, float]) -> bytes:
    """A command as a RESP array of bulk strings, the form every Redis server accepts."""
    if not args:
        raise ValueError("a command needs at least a name")
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8")
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            data = str(arg).encode("ascii")
        else:
            raise TypeError("command arguments must be str, bytes or numbers, got %s" % type(arg).__name__)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _line(buf: bytes, start: int) -> Tuple[bytes, int]:
    end = buf.find(CRLF, start)
    if end < 0:
        raise Incomplete()
    return buf[start:end], end + 2


def _int(raw: bytes, what: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise RespProtocolError("invalid %s %r" % (what, raw)) from None


def parse_reply(buf: bytes, start: int = 0) -> Tuple[Any, int]:
    """Parse one reply at ``buf[start:]``: ``(value, end offset)``.

    Simple strings become ``str``, bulk strings ``bytes`` (``None`` for the null bulk string),
    integers ``int``, arrays ``list`` (``None`` for the null array), and error replies a
    :class:`RespError` *instance* (returned, not raised: inside an array an error is just a value).
    Raises :class:`Incomplete` when ``buf`` ends before the reply does, and
    :class:`RespProtocolError` for bytes that are not RESP2.
    """
    if start >= len(buf):
        raise Incomplete()
    kind = buf[start:start + 1]
    line, pos = _line(buf, start + 1)
    if kind == b"+":
        return line.decode("utf-8", "replace"), pos
    if kind == b"-":
        return RespError(line.decode("utf-8", "replace")), pos
    if kind == b":":
        return _int(line, "integer"), pos
    if kind == b"$":
        length = _int(line, "bulk length")
        if length == -1:
            return None, pos
        if length < 0:
            raise RespProtocolError("invalid bulk length %d" % length)
        end = pos + length
        if len(buf) < end + 2:
            raise Incomplete()
        if buf[end:end + 2] != CRLF:
            raise RespProtocolError("bulk string of length %d is not followed by CRLF" % length)
        return buf[pos:end], end + 2
    if kind == b"*":
        count = _int(line, "array length")
        if count == -1:
            return None, pos
        if count < 0:
            raise RespProtocolError("invalid array length %d" % count)
        items = []
        for dummy in range(count):
            item, pos = parse_reply(buf, pos)
            items.append(item)
        return items, pos
    raise RespProtocolError("unexpected reply type byte %r" % kind)


def _number(text: str) -> Union[int, float, str]:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _fields(text: str) -> Dict[str, Union[int, float, str]]:
    """``keys=12,expires=0,avg_ttl=0`` as a dict of numbers where they are numbers."""
    fields = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError("not a key=value list: %r" % text)
        fields[key] = _number(value)
    return fields


def parse_info(text: Union[str, bytes]) -> Dict[str, Any]:
    """The reply of ``INFO`` as one flat dict.

    Numbers become ``int``/``float``; ``dbN`` (keyspace) and ``slaveN`` lines become dicts of their
    ``key=value`` fields; section headers (``# Memory``) and blank lines are skipped. Lines without a
    colon are ignored (they do not occur in real replies).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise TypeError("INFO reply must be str or bytes, got %s" % type(text).__name__)
    info: Dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        is_db = key.startswith("db") and key[2:].isdigit()
        is_replica = key.startswith("slave") and key[5:].isdigit()
        if (is_db or is_replica) and "=" in value:
            try:
                info[key] = _fields(value)
                continue
            except ValueError:
                pass  # not the usual key=value list: kept as text below
        info[key] = _number(value)
    return info


class RespClient:
    """One blocking connection to a Redis server (TCP or unix socket), RESP2."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        unix_socket: Optional[str] = None,
        timeout: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.timeout = timeout
        self._sock: Optional[socket.socket] = None
        self._buf = b""

    @property
    def address(self) -> str:
        return "unix:%s" % self.unix_socket if self.unix_socket else "%s:%s" % (self.host, self.port)

    def connect(self) -> "RespClient":
        if self.unix_socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.unix_socket)
            except Exception:
                sock.close()
                raise
        else:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self._sock = sock
        self._buf = b""
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> "RespClient":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def command(self, *args: Union[str, bytes, int, float]) -> Any:
        """Send one command, return its reply; raise :class:`RespError` for an error reply."""
        if self._sock is None:
            raise RuntimeError("not connected")
        self._sock.sendall(encode_command(*args))
        while True:
            try:
                value, end = parse_reply(self._buf)
            except Incomplete:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                self._buf += chunk
                continue
            self._buf = self._buf[end:]
            if isinstance(value, RespError):
                raise value
            return value
