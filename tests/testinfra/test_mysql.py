"""The mysql role, checked the way an operator would: the server, its network exposure, who can log
in from where and what they see, the tuned values against the capacity plan, the monitoring file.

Fixtures come from conftest.py: ``lab`` (``hosts_in(group)``, ``address(name)``, ``get_host(name)``,
``hostvars``). Every test iterates over the db hosts and skips when the inventory has none.

Passwords: the app user's is read by templating the inventory with ``ansible`` (the lab's come from
password lookups); they go to the client in the MYSQL_PWD environment variable and never into an
assertion message.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, NamedTuple

import pytest
from ansible_collections.lmsops.stack.plugins.module_utils import _capacity
from test_firewall import probe_many

MIB = 1024 * 1024
APP_GROUPS = ("web", "workers")


class Result(NamedTuple):
    """A command's outcome without the command line (which may hold a password)."""

    rc: int
    out: str
    err: str


def _db_hosts(lab) -> list[str]:
    hosts = lab.hosts_in("db")
    if not hosts:
        pytest.skip("no db host in this inventory")
    return hosts


def _var(lab, name: str, key: str, default: Any) -> Any:
    return lab.hostvars[name].get(key, default)


def _sql(host, query: str, user: str | None = None, password: str | None = None, address: str | None = None,
         port: int = 3306, client: str = "mariadb") -> Result:
    """Run one query with the command-line client; over TCP when ``address`` is given, else the socket."""
    parts = [client, "--batch", "--skip-column-names", "--connect-timeout=5"]
    if address:
        parts += ["--protocol=TCP", f"--host={address}", f"--port={port}"]
    if user is not None:
        parts.append(f"--user={user}")
    parts.append(f"--execute={query}")
    env = f"MYSQL_PWD={shlex.quote(password)} " if password else ""
    res = host.run(env + " ".join(shlex.quote(p) for p in parts))
    return Result(res.rc, res.stdout.strip(), res.stderr.strip())


def _root_sql(host, query: str) -> str:
    res = _sql(host, query, client=_client(host))
    assert res.rc == 0, f"root over the socket: {res.err}"
    return res.out


def _client(host) -> str:
    return "mariadb" if host.exists("mariadb") else "mysql"


def _bind_address(lab, name: str) -> str:
    hv = lab.hostvars[name]
    return hv.get("mysql_bind_address") or hv.get("lmsops_private_address") or lab.address(name)


def _port(lab, name: str) -> int:
    return int(_var(lab, name, "mysql_port", 3306))


# ------------------------------------------------------------------------------------ inventory values
@pytest.fixture(scope="session")
def app_users(lab) -> dict[str, list[dict]]:
    """mysql_users of each db host, templated by Ansible (passwords included)."""
    return lab.template(lab.hosts_in("db"), "{{ mysql_users | default([]) | to_json }}")


def _expected_max_connections(lab, db: str) -> int:
    override = lab.hostvars[db].get("mysql_max_connections")
    if override is not None:
        return int(override)
    pools = [lab.capacity_plan(n)["php_fpm"] for n in lab.hosts_in("web")]
    workers = [lab.capacity_plan(n)["queue_workers"] for n in lab.hosts_in("workers")]
    return _capacity.mysql_max_connections(pools, workers)["max_connections"]


# ------------------------------------------------------------------------------------------ app client
@pytest.fixture(scope="module")
def app_client_host(lab):
    """An app-tier host with the MariaDB client installed (apt, in this test only), or the db host."""
    db_hosts = _db_hosts(lab)
    candidates = [n for g in APP_GROUPS for n in lab.hosts_in(g) if n not in db_hosts]
    name = candidates[0] if candidates else db_hosts[0]
    host = lab.get_host(name)
    if not host.exists("mariadb") and not host.exists("mysql"):
        install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mariadb-client"
        res = host.run(f"{install} || (apt-get update -q && {install})")
        assert res.rc == 0, f"cannot install mariadb-client on {name}: {res.stderr[-1000:]}"
    return name, host


# ------------------------------------------------------------------------------------------------ tests
def test_server_running_and_listening_on_the_private_address_only(lab):
    for db in _db_hosts(lab):
        host = lab.get_host(db)
        service = host.service("mariadb") if host.exists("mariadbd") else host.service("mysql")
        assert service.is_running, f"{db}: the database server is not running"
        assert service.is_enabled, f"{db}: the database server would not start at boot"
        port = _port(lab, db)
        listeners = sorted(
            line.split()[3] for line in host.check_output("ss -Hltn").splitlines()
            if line.split()[3].rsplit(":", 1)[-1] == str(port)
        )
        assert listeners == [f"{_bind_address(lab, db)}:{port}"], f"{db}: listeners on {port}: {listeners}"


def test_app_user_connects_from_the_app_tier_and_sees_only_its_databases(lab, app_users, app_client_host):
    name, client_host = app_client_host
    checked = 0
    for db in _db_hosts(lab):
        databases = {d["name"] for d in _var(lab, db, "mysql_databases", [])}
        for user in app_users.get(db, []):
            if not set(user.get("from_groups") or []) & set(lab.groups_of(name)):
                continue
            allowed = {obj.split(".")[0].strip("`") for obj in re.findall(r"([^/:]+)\.[^/:]+:", user["priv"])}
            login = {"user": user["name"], "password": user["password"], "address": _bind_address(lab, db),
                     "port": _port(lab, db), "client": _client(client_host)}
            res = _sql(client_host, "SHOW DATABASES", **login)
            assert res.rc == 0, f"{user['name']} from {name} to {db}: {res.err}"
            seen = set(res.out.split())
            assert seen == {"information_schema"} | (allowed & databases), f"{user['name']} on {db} sees {seen}"
            denied = _sql(client_host, "SELECT COUNT(*) FROM mysql.user", **login)
            assert denied.rc != 0 and "denied" in denied.err, f"{user['name']} can read mysql.user on {db}"
            denied = _sql(client_host, "USE mysql", **login)
            assert denied.rc != 0 and "denied" in denied.err, f"{user['name']} can use the mysql schema on {db}"
            checked += 1
    if not checked:
        pytest.skip("no mysql_users entry connects from an app-tier host")


def test_root_cannot_log_in_over_tcp(lab, app_client_host):
    name, client_host = app_client_host
    for db in _db_hosts(lab):
        host = lab.get_host(db)
        port = _port(lab, db)
        attempts = [(db, host, "127.0.0.1"), (db, host, _bind_address(lab, db)), (name, client_host, _bind_address(lab, db))]
        for src_name, src, address in attempts:
            res = _sql(src, "SELECT 1", user="root", address=address, port=port, client=_client(src))
            assert res.rc != 0, f"root logged in to {db} over TCP at {address} from {src_name}"
            assert "ERROR" in res.err, res.err
        # and over the socket as before
        assert _root_sql(host, "SELECT 1") == "1"


def test_no_anonymous_or_remote_root_accounts_and_no_test_database(lab, app_client_host):
    name, client_host = app_client_host
    for db in _db_hosts(lab):
        host = lab.get_host(db)
        accounts = _root_sql(host, "SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = '' OR User = 'root'")
        assert accounts.split() == ["root@localhost"], f"{db}: {accounts.split()}"
        assert _root_sql(host, "SHOW DATABASES LIKE 'test'") == "", f"{db}: the test database exists"
        assert _root_sql(host, r"SELECT COUNT(*) FROM mysql.db WHERE Db LIKE 'test%'") == "0"
        for src_name, src, kwargs in [(db, host, {}), (name, client_host, {"address": _bind_address(lab, db)})]:
            res = _sql(src, "SELECT CURRENT_USER()", user="nobody-lmsops-test", port=_port(lab, db),
                       client=_client(src), **kwargs)
            assert res.rc != 0, f"an unknown user logged in to {db} from {src_name} as {res.out}"


def test_hardening_settings_and_logs(lab):
    for db in _db_hosts(lab):
        host = lab.get_host(db)
        values = dict(
            line.split("\t", 1) for line in _root_sql(
                host,
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('local_infile', 'skip_name_resolve', 'have_symlink', "
                "'slow_query_log', 'slow_query_log_file', 'long_query_time', 'log_bin', 'log_bin_basename', "
                "'binlog_format', 'binlog_expire_logs_seconds', 'character_set_server', 'version')",
            ).splitlines()
        )
        assert values["local_infile"] == "OFF"
        assert values["skip_name_resolve"] == "ON"
        if "MariaDB" in values["version"]:
            assert values["have_symlink"] == "DISABLED"
        assert values["character_set_server"] == _var(lab, db, "mysql_character_set", "utf8mb4")
        assert values["slow_query_log"] == "ON"
        assert float(values["long_query_time"]) == float(_var(lab, db, "mysql_long_query_time", 1.0))
        assert host.file(values["slow_query_log_file"]).is_file, f"{db}: no slow query log file"
        assert values["log_bin"] == "ON"
        assert values["binlog_format"] == "ROW"
        assert int(values["binlog_expire_logs_seconds"]) == int(_var(lab, db, "mysql_binlog_expire_logs_seconds", 604800))
        binlogs = _root_sql(host, "SHOW BINARY LOGS")
        assert binlogs, f"{db}: no binary log"
        assert host.file(values["log_bin_basename"] + ".index").is_file


def test_sizes_follow_the_capacity_plan(lab):
    for db in _db_hosts(lab):
        host = lab.get_host(db)
        pool, connections = _root_sql(host, "SELECT @@innodb_buffer_pool_size, @@max_connections").split()
        override = lab.hostvars[db].get("mysql_innodb_buffer_pool_size_mb")
        capacity = lab.capacity_plan(db, ("db",))
        expected_pool = int(override) if override is not None else capacity["innodb"]["buffer_pool_size_mb"]
        assert int(pool) == expected_pool * MIB, f"{db}: buffer pool {int(pool) // MIB} MiB, plan {expected_pool} MiB"
        assert int(connections) == _expected_max_connections(lab, db), f"{db}: max_connections {connections}"


def test_monitoring_account_file(lab):
    for db in _db_hosts(lab):
        if not _var(lab, db, "mysql_monitoring_enabled", True):
            continue
        host = lab.get_host(db)
        path = _var(lab, db, "mysql_monitoring_config_file", "/etc/mysql/lmsops-exporter.cnf")
        cnf = host.file(path)
        assert cnf.is_file, f"{db}: {path} is missing"
        assert cnf.user == "root"
        assert cnf.group == _var(lab, db, "mysql_monitoring_config_group", "root")
        assert cnf.mode == 0o640, f"{db}: {path} has mode {oct(cnf.mode)}"
        client = _client(host)
        res = host.run(f"{client} --defaults-file={path} --batch --skip-column-names "
                       "--execute='SELECT CURRENT_USER(); SHOW DATABASES'")
        assert res.rc == 0, f"{db}: the monitoring account cannot log in with {path}: {res.stderr}"
        lines = res.stdout.split()
        assert lines[0] == f"{_var(lab, db, 'mysql_monitoring_user', 'lmsops_exporter')}@localhost"
        assert set(lines[1:]) <= {"information_schema", "performance_schema"}, f"{db}: it sees {lines[1:]}"


def test_db_port_dropped_for_hosts_outside_the_app_tier(lab):
    pairs = [(db, src) for db in _db_hosts(lab)
             for src in lab.outside(*_var(lab, db, "mysql_allowed_groups", list(APP_GROUPS))) if src != db]
    if not pairs:
        pytest.skip("every host is in the app tier or is the db host (all-in-one)")
    results = probe_many(lab, [(src, _bind_address(lab, db), _port(lab, db)) for db, src in pairs])
    for (db, src), result in zip(pairs, results):
        assert result.outcome == "timeout", f"{db}:{_port(lab, db)} from {src} should be dropped, got {result}"
