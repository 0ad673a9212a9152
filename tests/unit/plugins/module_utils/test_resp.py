from __future__ import annotations

import socket
import threading

import pytest

from ansible_collections.lmsops.stack.plugins.module_utils import _resp


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("PING",), b"*1\r\n$4\r\nPING\r\n"),
        (("AUTH", "user", "p@ss word"), b"*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$9\r\np@ss word\r\n"),
        (("CONFIG", b"GET", "maxclients"), b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nmaxclients\r\n"),
        (("SELECT", 0), b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"),
        (("SET", "k", "é"), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"),  # lengths count bytes
        (("SET", "k", ""), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"),
    ],
)
def test_encode_command(args, expected):
    assert _resp.encode_command(*args) == expected


@pytest.mark.parametrize(("args", "error"), [((), ValueError), (("SET", None), TypeError), (("SET", True), TypeError)])
def test_encode_command_bad_input(args, error):
    with pytest.raises(error):
        _resp.encode_command(*args)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"+PONG\r\n", "PONG"),
        (b"+OK\r\n", "OK"),
        (b":1000\r\n", 1000),
        (b":-3\r\n", -3),
        (b"$5\r\nhello\r\n", b"hello"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # bulk strings are binary-safe
        (b"*0\r\n", []),
        (b"*-1\r\n", None),
        (b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n", [b"maxclients", b"10000"]),
        (b"*3\r\n:1\r\n*1\r\n+x\r\n$-1\r\n", [1, ["x"], None]),
    ],
)
def test_parse_reply(raw, value):
    assert _resp.parse_reply(raw) == (value, len(raw))


def test_parse_reply_leaves_the_rest_of_the_buffer():
    assert _resp.parse_reply(b"+OK\r\n:5\r\n") == ("OK", 5)
    assert _resp.parse_reply(b"+OK\r\n:5\r\n", 5) == (5, 9)


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (b"-NOAUTH Authentication required.\r\n", "NOAUTH", "NOAUTH Authentication required."),
        (b"-WRONGPASS invalid username-password pair or user is disabled.\r\n", "WRONGPASS",
         "WRONGPASS invalid username-password pair or user is disabled."),
        (b"-ERR unknown command 'FOO'\r\n", "ERR", "ERR unknown command 'FOO'"),
    ],
)
def test_parse_error_reply(raw, code, message):
    value, end = _resp.parse_reply(raw)
    assert isinstance(value, _resp.RespError)
    assert (value.code, value.message, end) == (code, message, len(raw))


@pytest.mark.parametrize("raw", [b"", b"+PON", b"$5\r\nhel", b"$5\r\nhello", b"*2\r\n:1\r\n", b":12"])
def test_parse_incomplete(raw):
    with pytest.raises(_resp.Incomplete):
        _resp.parse_reply(raw)


@pytest.mark.parametrize(
    "raw",
    [b"?what\r\n", b":12x\r\n", b"$abc\r\n", b"$-2\r\n", b"*-5\r\n", b"$3\r\nhelloo\r\n", b"HTTP/1.1 400 Bad\r\n"],
)
def test_parse_protocol_error(raw):
    with pytest.raises(_resp.RespProtocolError):
        _resp.parse_reply(raw)


INFO = (
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:standalone\r\n"
    "uptime_in_seconds:86400\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:1048576\r\n"
    "used_memory_human:1.00M\r\n"
    "mem_fragmentation_ratio:1.25\r\n"
    "maxmemory_policy:allkeys-lru\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:1\r\n"
    "slave0:ip=10.0.0.42,port=6379,state=online,offset=1234,lag=0\r\n"
    "\r\n"
    "# Keyspace\r\n"
    "db0:keys=1520,expires=1490,avg_ttl=3512000\r\n"
    "db12:keys=3,expires=0,avg_ttl=0\r\n"
    "dbsize_note:something=else\r\n"
)


def test_parse_info():
    info = _resp.parse_info(INFO)
    assert info["redis_version"] == "7.0.15"
    assert info["uptime_in_seconds"] == 86400
    assert info["mem_fragmentation_ratio"] == 1.25
    assert info["used_memory_human"] == "1.00M"
    assert info["maxmemory_policy"] == "allkeys-lru"
    assert info["slave0"] == {"ip": "10.0.0.42", "port": 6379, "state": "online", "offset": 1234, "lag": 0}
    assert info["db0"] == {"keys": 1520, "expires": 1490, "avg_ttl": 3512000}
    assert info["db12"]["keys"] == 3
    assert info["dbsize_note"] == "something=else"  # only dbN lines are key=value lists
    assert not any(k.startswith("#") for k in info)


def test_parse_info_bytes_and_odd_lines():
    assert _resp.parse_info(b"a:1\nno colon here\n\n# S\nb:x:y\n") == {"a": 1, "b": "x:y"}
    assert _resp.parse_info("db0:garbage=1,broken\r\n") == {"db0": "garbage=1,broken"}
    assert _resp.parse_info("") == {}
    with pytest.raises(TypeError):
        _resp.parse_info(None)


class OneShotServer:
    """A socket that answers each command with the next canned reply, sent in pieces (None: hang up)."""

    def __init__(self, replies):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.received = []
        self.thread = threading.Thread(target=self._serve, args=(list(replies),), daemon=True)
        self.thread.start()

    def _serve(self, replies):
        conn, dummy = self.listener.accept()
        with conn:
            buf = b""
            for reply in replies:
                while True:
                    try:
                        dummy, end = _resp.parse_reply(buf)
                        break
                    except _resp.Incomplete:
                        chunk = conn.recv(4096)
                        if not chunk:
                            return
                        buf += chunk
                self.received.append(buf[:end])
                buf = buf[end:]
                if reply is None:  # read the command, then hang up without answering
                    break
                for i in range(0, len(reply), 3):  # the client must reassemble partial reads
                    conn.sendall(reply[i:i + 3])
        self.listener.close()


def test_client_round_trip():
    server = OneShotServer([b"+PONG\r\n", b"$8\r\nrole:x\r\n\r\n", b"-NOAUTH Authentication required.\r\n"])
    with _resp.RespClient(port=server.port, timeout=5) as client:
        assert client.command("PING") == "PONG"
        assert client.command("INFO") == b"role:x\r\n"
        with pytest.raises(_resp.RespError) as err:
            client.command("GET", "k")
        assert err.value.code == "NOAUTH"
    server.thread.join(5)
    assert server.received == [b"*1\r\n$4\r\nPING\r\n", b"*1\r\n$4\r\nINFO\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"]


def test_client_server_hangs_up():
    server = OneShotServer([None])
    client = _resp.RespClient(port=server.port, timeout=5).connect()
    try:
        with pytest.raises(ConnectionError, match="closed the connection"):
            client.command("PING")
    finally:
        client.close()


def test_client_address():
    assert _resp.RespClient("db", 6380).address == "db:6380"
    assert _resp.RespClient(unix_socket="/run/redis/redis.sock").address == "unix:/run/redis/redis.sock"
    with pytest.raises(RuntimeError, match="not connected"):
        _resp.RespClient().command("PING")
