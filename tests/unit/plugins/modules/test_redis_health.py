from __future__ import annotations

import socket
import socketserver
import threading

import pytest

from ansible_collections.lmsops.stack.plugins.module_utils import _resp
from ansible_collections.lmsops.stack.plugins.modules import redis_health

BASE_INFO = {
    "redis_version": "7.0.15",
    "uptime_in_seconds": 86400,
    "connected_clients": 12,
    "maxclients": 10000,
    "used_memory": 100 * 1024 * 1024,
    "maxmemory": 256 * 1024 * 1024,
    "maxmemory_policy": "allkeys-lru",
    "rdb_changes_since_last_save": 3,
    "rdb_last_save_time": 1732233600,
    "rdb_last_bgsave_status": "ok",
    "aof_enabled": 0,
    "aof_last_bgrewrite_status": "ok",
    "aof_last_write_status": "ok",
    "evicted_keys": 7,
    "keyspace_hits": 9000,
    "keyspace_misses": 1000,
    "role": "master",
    "connected_slaves": 0,
    "db0": "keys=1520,expires=1490,avg_ttl=3512000",
}


def info_text(**changes):
    fields = dict(BASE_INFO, **changes)
    lines = ["# Server"]
    for key, value in fields.items():
        if value is not None:
            lines.append("%s:%s" % (key, value))
    return ("\r\n".join(lines) + "\r\n").encode()


class FakeRedis(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Enough of a Redis server: AUTH (requirepass or ACL user), PING, INFO, CONFIG GET maxclients."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address=("127.0.0.1", 0), family=socket.AF_INET):
        self.address_family = family
        super().__init__(address, FakeRedisHandler)
        self.password = None
        self.user = "default"
        self.info = info_text()
        self.maxclients = b"10000"
        self.commands = []


class FakeRedisUnix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        super().__init__(path, FakeRedisHandler)
        self.password = None
        self.user = "default"
        self.info = info_text()
        self.maxclients = b"10000"
        self.commands = []


class FakeRedisHandler(socketserver.BaseRequestHandler):
    def handle(self):
        server, buf, authed = self.server, b"", False
        while True:
            try:
                command, end = _resp.parse_reply(buf)
            except _resp.Incomplete:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                buf += chunk
                continue
            buf = buf[end:]
            name = command[0].decode().upper()
            server.commands.append(name)
            if name == "AUTH":
                args = [a.decode() for a in command[1:]]
                user, password = (args[0], args[1]) if len(args) == 2 else ("default", args[0])
                if server.password is None:
                    reply = (b"-ERR AUTH <password> called without any password configured for the default user. "
                             b"Are you sure your configuration is correct?\r\n")
                elif user == server.user and password == server.password:
                    authed, reply = True, b"+OK\r\n"
                else:
                    reply = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            elif server.password is not None and not authed:
                reply = b"-NOAUTH Authentication required.\r\n"
            elif name == "PING":
                reply = b"+PONG\r\n"
            elif name == "INFO":
                reply = b"$%d\r\n%s\r\n" % (len(server.info), server.info)
            elif name == "CONFIG" and server.maxclients is not None:
                reply = b"*2\r\n$10\r\nmaxclients\r\n$%d\r\n%s\r\n" % (len(server.maxclients), server.maxclients)
            else:
                reply = b"-ERR unknown command '%s'\r\n" % name.encode()
            self.request.sendall(reply)


@pytest.fixture
def redis():
    server = FakeRedis()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def args_for(server, **extra):
    return dict({"login_host": "127.0.0.1", "login_port": server.server_address[1], "connect_timeout": 5}, **extra)


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


# ------------------------------------------------------------------ pure functions
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("NOAUTH Authentication required.", "redis rejected the command: authentication required"),
        ("WRONGPASS invalid username-password pair or user is disabled.",
         "redis rejected the credentials: wrong user name or password"),
        ("ERR invalid password", "redis rejected the credentials: wrong user name or password"),
        ("NOPERM this user has no permissions to run the 'info' command",
         "redis rejected the command: the user lacks permission (NOPERM this user has no permissions to run the 'info' command)"),
        ("ERR unknown command 'INFO'", "redis rejected the command: ERR unknown command 'INFO'"),
    ],
)
def test_rejected(message, expected):
    assert redis_health.rejected(_resp.RespError(message)) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("ERR AUTH <password> called without any password configured for the default user. Are you sure?", True),
        ("ERR Client sent AUTH, but no password is set", True),
        ("WRONGPASS invalid username-password pair or user is disabled.", False),
    ],
)
def test_auth_without_password_configured(message, expected):
    assert redis_health.auth_without_password_configured(_resp.RespError(message)) is expected


def test_facts_from_info():
    facts = redis_health.facts_from_info(_resp.parse_info(info_text()))
    assert facts["redis_version"] == "7.0.15"
    assert facts["role"] == "master"
    assert facts["memory"] == {"used_memory": 104857600, "maxmemory": 268435456, "used_pct": 39.1,
                               "maxmemory_policy": "allkeys-lru"}
    assert facts["hit_rate"] == 90.0
    assert facts["maxclients"] == 10000
    assert facts["replication"] == {"role": "master", "connected_replicas": 0}
    assert facts["persistence"]["aof_enabled"] is False
    assert facts["keyspace"] == {"db0": {"keys": 1520, "expires": 1490, "avg_ttl": 3512000}}


def test_facts_from_an_empty_info():
    facts = redis_health.facts_from_info({})
    assert facts["memory"]["used_pct"] is None
    assert facts["hit_rate"] is None
    assert facts["redis_version"] is None
    assert facts["keyspace_hits"] == 0


PARAMS = {"memory_warn": 80.0, "memory_crit": 90.0, "hit_rate_warn": 70.0, "hit_rate_crit": None,
          "hit_rate_min_lookups": 1000, "clients_warn": 80.0, "clients_crit": 90.0}


@pytest.mark.parametrize(
    ("changes", "check", "status", "message"),
    [
        ({}, "redis memory", "ok", "redis memory is 39.1 %"),
        ({"used_memory": 220 * 1024 * 1024}, "redis memory", "warning",
         "redis memory is 85.9 %, above the warning threshold 80 %"),
        ({"used_memory": 250 * 1024 * 1024}, "redis memory", "critical",
         "redis memory is 97.7 %, above the critical threshold 90 %"),
        ({"maxmemory": 0}, "redis memory", "ok",
         "redis memory is not judged: no maxmemory limit is set (104857600 bytes used)"),
        ({"keyspace_hits": 500, "keyspace_misses": 1500}, "redis hit rate", "warning",
         "redis hit rate is 25 %, below the warning threshold 70 %"),
        ({"keyspace_hits": 5, "keyspace_misses": 500}, "redis hit rate", "ok",
         "redis hit rate is not judged yet: 505 lookups, fewer than 1000"),  # a cold cache
        ({"keyspace_hits": 0, "keyspace_misses": 0}, "redis hit rate", "ok",
         "redis hit rate is not judged yet: 0 lookups, fewer than 1000"),
        ({"connected_clients": 9500}, "redis clients", "critical", "redis clients is 95 %, above the critical threshold 90 %"),
        ({"rdb_last_bgsave_status": "err"}, "redis rdb save", "critical",
         "redis rdb save: the last background save failed (rdb_last_bgsave_status is err); see the redis log"),
        ({"aof_enabled": 1, "aof_last_write_status": "err"}, "redis aof", "critical",
         "redis aof: aof_last_write_status is err and aof_last_bgrewrite_status is ok, expected ok"),
        ({"aof_enabled": 1}, "redis aof", "ok", "redis aof is ok"),
        ({"role": "slave", "master_host": "10.0.0.41", "master_port": 6379, "master_link_status": "down"},
         "redis replication", "critical", "redis replication link to 10.0.0.41:6379 is down, expected up"),
        ({"role": "slave", "master_host": "10.0.0.41", "master_port": 6379, "master_link_status": "up"},
         "redis replication", "ok", "redis replication link to its master is up"),
    ],
)
def test_evaluate(changes, check, status, message):
    facts = redis_health.facts_from_info(_resp.parse_info(info_text(**changes)))
    checks = {c["name"]: c for c in redis_health.evaluate(facts, PARAMS)}
    assert (checks[check]["status"], checks[check]["message"]) == (status, message)


def test_evaluate_leaves_out_what_does_not_apply():
    facts = redis_health.facts_from_info(_resp.parse_info(info_text(maxclients=None, rdb_last_bgsave_status=None)))
    names = [c["name"] for c in redis_health.evaluate(facts, PARAMS)]
    assert names == ["redis memory", "redis hit rate"]  # no maxclients, no replica, no aof, no rdb status


# ------------------------------------------------------------------ the module against a fake server
def test_module_ok(run_module, redis):
    result = run_module(redis_health.main, args_for(redis))
    assert result["status"] == "ok", result
    assert result["changed"] is False
    assert result["ping"] is True
    assert [c["name"] for c in result["checks"]] == [
        "redis connection", "redis ping", "redis memory", "redis hit rate", "redis clients", "redis rdb save"]
    assert result["memory"]["used_pct"] == 39.1
    assert result["evicted_keys"] == 7
    assert result["uptime_s"] == 86400
    assert redis.commands == ["PING", "INFO"]  # no AUTH without a password; maxclients came with INFO


def test_module_auth_required(run_module, redis):
    redis.password = "s3cret"
    result = run_module(redis_health.main, args_for(redis))
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: redis rejected the command: authentication required"
    assert result["ping"] is False
    assert by_name(result)["redis connection"]["status"] == "critical"


def test_module_wrong_password(run_module, redis):
    redis.password = "s3cret"
    result = run_module(redis_health.main, args_for(redis, login_password="guess"))
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: redis rejected the credentials: wrong user name or password"
    assert "guess" not in str(result)  # no_log on the password


def test_module_password_and_acl_user(run_module, redis):
    redis.password, redis.user = "s3cret", "monitor"
    result = run_module(redis_health.main, args_for(redis, login_user="monitor", login_password="s3cret"))
    assert result["status"] == "ok", result
    assert redis.commands[0] == "AUTH"
    assert "s3cret" not in str(result)


def test_module_password_given_but_none_configured(run_module, redis, warnings_of):
    result = run_module(redis_health.main, args_for(redis, login_password="s3cret"))
    assert result["status"] == "warning"
    assert result["warning_checks"] == ["redis auth"]
    assert any("redis has no password configured" in w for w in warnings_of(result))


def test_module_maxclients_from_config_get(run_module, redis):
    redis.info = info_text(maxclients=None, connected_clients=90)
    redis.maxclients = b"100"
    result = run_module(redis_health.main, args_for(redis, fail_on_critical=False))
    assert result["maxclients"] == 100
    assert by_name(result)["redis clients"]["status"] == "warning"
    assert redis.commands == ["PING", "INFO", "CONFIG"]


def test_module_config_get_refused(run_module, redis):
    redis.info = info_text(maxclients=None)
    redis.maxclients = None  # CONFIG renamed away: clients are only reported
    result = run_module(redis_health.main, args_for(redis))
    assert result["status"] == "ok"
    assert result["maxclients"] is None
    assert "redis clients" not in by_name(result)


def test_module_critical_collected(run_module, redis, warnings_of):
    redis.info = info_text(used_memory=250 * 1024 * 1024, rdb_last_bgsave_status="err")
    result = run_module(redis_health.main, args_for(redis, fail_on_critical=False))
    assert result.get("failed") is not True
    assert result["status"] == "critical"
    assert result["critical_checks"] == ["redis memory", "redis rdb save"]
    assert "critical: redis memory is 97.7 %, above the critical threshold 90 %" in warnings_of(result)


def test_module_connection_refused(run_module):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = run_module(redis_health.main, {"login_host": "127.0.0.1", "login_port": port})
    assert result["failed"] is True
    assert result["msg"].startswith("1 critical health check: cannot connect to redis at 127.0.0.1:%d: " % port)
    assert result["ping"] is False


def test_module_not_redis(run_module):
    """Something else answers on the port (an HTTP server, say)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, dummy = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        result = run_module(redis_health.main, {"login_host": "127.0.0.1", "login_port": listener.getsockname()[1],
                                                "fail_on_critical": False})
    finally:
        listener.close()
    assert result["status"] == "critical"
    assert "failed to answer: unexpected reply type byte b'H'" in by_name(result)["redis connection"]["message"]


def test_module_unix_socket(run_module, tmp_path):
    path = str(tmp_path / "redis.sock")
    server = FakeRedisUnix(path)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        result = run_module(redis_health.main, {"login_unix_socket": path, "login_port": 1})
    finally:
        server.shutdown()
        server.server_close()
    assert result["status"] == "ok", result
    assert by_name(result)["redis connection"]["value"] == "unix:%s" % path


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"memory_warn": 95.0}, "memory_warn (95) must not be greater than memory_crit (90)"),
        ({"hit_rate_warn": 50.0, "hit_rate_crit": 60.0}, "hit_rate_warn (50) must not be less than hit_rate_crit (60)"),
        ({"connect_timeout": 0}, "connect_timeout must be greater than 0, got 0.0"),
        ({"hit_rate_min_lookups": -1}, "hit_rate_min_lookups must not be negative, got -1"),
        ({"login_user": "monitor"}, "missing parameter(s) required by 'login_user': login_password"),
    ],
)
def test_module_bad_input(run_module, args, msg):
    result = run_module(redis_health.main, args)
    assert result["failed"] is True
    assert result["msg"] == msg
