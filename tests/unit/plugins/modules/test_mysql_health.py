from __future__ import annotations

import types

import pytest

from ansible_collections.lmsops.stack.plugins.modules import mysql_health


# ------------------------------------------------------------------ a fake PyMySQL
class MySQLError(Exception):
    pass


class OperationalError(MySQLError):
    pass


class ProgrammingError(MySQLError):
    pass


STATUS = [("Max_used_connections", "40"), ("Slow_queries", "1440"), ("Threads_connected", "11"),
          ("Threads_running", "1"), ("Uptime", "864000")]
VARIABLES = [("log_bin", "ON"), ("max_connections", "151"), ("read_only", "OFF")]
# MySQL 8.0.22+ columns of SHOW REPLICA STATUS (a subset)
MYSQL_REPLICA = {"Replica_IO_State": "Waiting for source to send event", "Source_Host": "10.0.0.31", "Source_Port": 3306,
                 "Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Last_IO_Error": "", "Last_SQL_Error": "",
                 "Seconds_Behind_Source": 0}
# MariaDB keeps the Slave_/Master_ names, also for SHOW REPLICA STATUS
MARIADB_REPLICA = {"Slave_IO_State": "Waiting for master to send event", "Master_Host": "10.0.0.31", "Master_Port": 3306,
                   "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Last_IO_Error": "", "Last_SQL_Error": "",
                   "Seconds_Behind_Master": 0}


class FakeServer:
    """What the fake connection answers: columns and rows per statement, or an error to raise."""

    def __init__(self, version="10.11.6-MariaDB-0+deb12u1"):
        self.answers = {
            "SELECT VERSION() AS version": (["version"], [(version,)]),
            "SHOW GLOBAL STATUS": (["Variable_name", "Value"], STATUS),
            "SHOW GLOBAL VARIABLES": (["Variable_name", "Value"], VARIABLES),
            "SHOW REPLICA STATUS": ([], []),
            "SHOW SLAVE STATUS": ([], []),
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST": (["n"], [(0,)]),
        }
        self.errors = {}  # statement prefix -> the exception it raises
        self.executed = []
        self.connect_args = None
        self.connect_error = None
        self.closed = False

    def replica(self, row, statement="SHOW REPLICA STATUS"):
        self.answers[statement] = (list(row), [tuple(row.values())])

    def answer(self, statement):
        self.executed.append(statement)
        for prefix, error in self.errors.items():
            if statement.startswith(prefix):
                raise error
        for prefix, answer in self.answers.items():
            if statement.startswith(prefix):
                return answer
        raise ProgrammingError(1064, "You have an error in your SQL syntax near '%s'" % statement)


class FakeCursor:
    def __init__(self, server):
        self.server, self.description, self.rows = server, None, []

    def execute(self, statement):
        columns, self.rows = self.server.answer(statement)
        self.description = [(c, None, None, None, None, None, None) for c in columns] or None

    def fetchall(self):
        return tuple(self.rows)

    def close(self):
        pass


class FakeConnection:
    def __init__(self, server):
        self.server = server

    def cursor(self):
        return FakeCursor(self.server)

    def close(self):
        if self.server.closed:
            raise MySQLError("Already closed")
        self.server.closed = True


@pytest.fixture
def mysql(monkeypatch):
    server = FakeServer()

    def connect(**kwargs):
        server.connect_args = kwargs
        if server.connect_error is not None:
            raise server.connect_error
        return FakeConnection(server)

    fake = types.SimpleNamespace(connect=connect, err=types.SimpleNamespace(MySQLError=MySQLError))
    monkeypatch.setattr(mysql_health, "pymysql", fake)
    return server


PARAMS = {"login_user": None, "login_password": None, "login_host": None, "login_port": 3306,
          "login_unix_socket": "/run/mysqld/mysqld.sock", "config_file": "/root/.my.cnf", "connect_timeout": 10,
          "connections_warn": 80.0, "connections_crit": 90.0, "replication_lag_warn": 10.0, "replication_lag_crit": 30.0,
          "slow_queries_warn": None, "slow_queries_crit": None}


def by_name(checks):
    return {c["name"]: c for c in checks}


# ------------------------------------------------------------------ pure parts
@pytest.mark.parametrize(
    ("changes", "config_exists", "expected"),
    [
        ({}, False, {"connect_timeout": 10, "autocommit": True, "unix_socket": "/run/mysqld/mysqld.sock"}),
        ({}, True, {"connect_timeout": 10, "autocommit": True, "unix_socket": "/run/mysqld/mysqld.sock",
                    "read_default_file": "/root/.my.cnf"}),
        ({"login_host": "10.0.0.31", "login_user": "monitor", "login_password": "pw"}, False,
         {"connect_timeout": 10, "autocommit": True, "host": "10.0.0.31", "port": 3306, "user": "monitor", "password": "pw"}),
        ({"login_unix_socket": "/var/run/mysqld/mysqld.sock", "login_password": ""}, False,
         {"connect_timeout": 10, "autocommit": True, "unix_socket": "/var/run/mysqld/mysqld.sock", "password": ""}),
    ],
)
def test_connection_args(changes, config_exists, expected):
    assert mysql_health.connection_args(dict(PARAMS, **changes), config_exists) == expected


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (OperationalError(1045, "Access denied for user 'root'@'localhost'"), "Access denied for user 'root'@'localhost' (1045)"),
        (OperationalError(2002, "Can't connect to local server through socket"), "Can't connect to local server through socket (2002)"),
        (ValueError("bad"), "bad"),
        (MySQLError(), "MySQLError"),
    ],
)
def test_error_text(error, text):
    assert mysql_health.error_text(error) == text


def test_name_values():
    assert mysql_health.name_values([{"Variable_name": "Uptime", "Value": "5"}, {"x": 1}]) == {"uptime": "5"}


def raw(**changes):
    base = {
        "version": "10.11.6-MariaDB-0+deb12u1",
        "status": {k.lower(): v for k, v in STATUS},
        "variables": dict(VARIABLES),
        "replica_rows": [],
        "replica_statement": "SHOW REPLICA STATUS",
        "replica_error": None,
        "replicas_connected": 0,
    }
    base.update(changes)
    return base


def test_evaluate_standalone():
    checks, facts = mysql_health.evaluate(raw(), PARAMS)
    assert [c["name"] for c in checks] == ["mysql connection", "mysql connections", "mysql replication"]
    assert all(c["status"] == "ok" for c in checks)
    assert facts == {
        "version": "10.11.6-MariaDB-0+deb12u1",
        "flavor": "mariadb",
        "uptime_s": 864000,
        "connections": {"threads_connected": 11, "threads_running": 1, "max_connections": 151, "used_pct": 7.3,
                        "max_used_connections": 40},
        "slow_queries": 1440,
        "slow_queries_per_min": 0.1,
        "replication": {"role": "standalone", "replicas_connected": 0},
    }
    assert by_name(checks)["mysql replication"]["message"] == "mysql is not a replica: standalone (0 replicas connected)"


@pytest.mark.parametrize(
    ("count", "role", "message"),
    [
        (2, "primary", "mysql is not a replica: primary (2 replicas connected)"),
        (1, "primary", "mysql is not a replica: primary (1 replica connected)"),
        (None, "standalone", "mysql is not a replica: standalone (connected replicas unknown)"),
    ],
)
def test_evaluate_primary_and_mysql_flavor(count, role, message):
    checks, facts = mysql_health.evaluate(raw(version="8.0.36", replicas_connected=count), PARAMS)
    assert facts["flavor"] == "mysql"
    assert facts["replication"] == {"role": role, "replicas_connected": count}
    assert by_name(checks)["mysql replication"]["value"] == role
    assert by_name(checks)["mysql replication"]["message"] == message


@pytest.mark.parametrize(
    ("connected", "status", "message"),
    [
        ("120", "ok", "mysql connections is 79.5 %"),
        ("125", "warning", "mysql connections is 82.8 %, above the warning threshold 80 %"),
        ("140", "critical", "mysql connections is 92.7 %, above the critical threshold 90 %"),
    ],
)
def test_evaluate_connections(connected, status, message):
    status_values = dict(raw()["status"], threads_connected=connected)
    checks, dummy = mysql_health.evaluate(raw(status=status_values), PARAMS)
    check = by_name(checks)["mysql connections"]
    assert (check["status"], check["message"]) == (status, message)


def test_evaluate_connections_unknown():
    checks, facts = mysql_health.evaluate(raw(variables={}), PARAMS)
    assert by_name(checks)["mysql connections"]["status"] == "warning"
    assert facts["connections"]["used_pct"] is None


@pytest.mark.parametrize(
    ("warn", "crit", "status"),
    [(None, None, None), (0.05, None, "warning"), (0.01, 0.05, "critical"), (1.0, 5.0, "ok")],
)
def test_evaluate_slow_queries(warn, crit, status):
    checks, dummy = mysql_health.evaluate(raw(), dict(PARAMS, slow_queries_warn=warn, slow_queries_crit=crit))
    check = by_name(checks).get("mysql slow queries")
    assert (check["status"] if check else None) == status
    if check:
        assert check["unit"] == "/min" and check["value"] == 0.1


def test_evaluate_slow_queries_right_after_start():
    status_values = dict(raw()["status"], uptime="0")
    dummy, facts = mysql_health.evaluate(raw(status=status_values), PARAMS)
    assert facts["slow_queries_per_min"] == 0.0


@pytest.mark.parametrize("row", [MYSQL_REPLICA, MARIADB_REPLICA], ids=["mysql", "mariadb"])
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"mysql replication": "ok", "mysql replication lag": "ok"}),
        ({"lag": 12}, {"mysql replication": "ok", "mysql replication lag": "warning"}),
        ({"lag": 45}, {"mysql replication": "ok", "mysql replication lag": "critical"}),
        ({"io": "Connecting", "lag": None}, {"mysql replication": "critical"}),
        ({"sql": "No", "lag": None}, {"mysql replication": "critical"}),
        ({"lag": None}, {"mysql replication": "ok", "mysql replication lag": "warning"}),
    ],
)
def test_evaluate_replica(row, changes, expected):
    row = dict(row)
    names = {"io": ("Replica_IO_Running", "Slave_IO_Running"), "sql": ("Replica_SQL_Running", "Slave_SQL_Running"),
             "lag": ("Seconds_Behind_Source", "Seconds_Behind_Master")}
    for key, value in changes.items():
        for column in names[key]:
            if column in row:
                row[column] = value
    checks, facts = mysql_health.evaluate(raw(replica_rows=[row]), PARAMS)
    got = {c["name"]: c["status"] for c in checks if c["name"].startswith("mysql replication")}
    assert got == expected
    assert facts["replication"]["role"] == "replica"
    assert facts["replication"]["source_host"] == "10.0.0.31"
    assert facts["replication"]["source_port"] == 3306


def test_evaluate_replica_message_carries_the_error():
    row = dict(MARIADB_REPLICA, Slave_SQL_Running="No", Seconds_Behind_Master=None,
               Last_SQL_Error=b"Error 'Duplicate entry' on query")
    checks, facts = mysql_health.evaluate(raw(replica_rows=[row]), PARAMS)
    assert by_name(checks)["mysql replication"]["message"] == (
        "mysql replication from 10.0.0.31 is not running: io thread Yes, sql thread No (Error 'Duplicate entry' on query)")
    assert facts["replication"]["last_sql_error"] == "Error 'Duplicate entry' on query"
    assert facts["replication"]["seconds_behind"] is None


def test_evaluate_replica_status_unreadable():
    checks, facts = mysql_health.evaluate(raw(replica_error="SHOW REPLICA STATUS failed: Access denied", replicas_connected=None), PARAMS)
    check = by_name(checks)["mysql replication"]
    assert check["status"] == "warning"
    assert check["message"] == "mysql replication status cannot be read: SHOW REPLICA STATUS failed: Access denied"
    assert facts["replication"] == {"role": "unknown", "replicas_connected": None}


# ------------------------------------------------------------------ collect() against the fake connection
def test_collect_falls_back_to_show_slave_status(mysql):
    mysql.errors["SHOW REPLICA STATUS"] = ProgrammingError(1064, "You have an error in your SQL syntax")
    mysql.replica(MARIADB_REPLICA, "SHOW SLAVE STATUS")
    result = mysql_health.collect(FakeConnection(mysql))
    assert result["replica_statement"] == "SHOW SLAVE STATUS"
    assert result["replica_error"] is None
    assert result["replica_rows"][0]["Slave_IO_Running"] == "Yes"


def test_collect_does_not_fall_back_on_missing_privilege(mysql):
    mysql.errors["SHOW REPLICA STATUS"] = OperationalError(1227, "Access denied; you need the REPLICA MONITOR privilege")
    mysql.errors["SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST"] = OperationalError(1227, "no PROCESS")
    result = mysql_health.collect(FakeConnection(mysql))
    assert "SHOW SLAVE STATUS" not in mysql.executed
    assert result["replica_error"] == "SHOW REPLICA STATUS failed: Access denied; you need the REPLICA MONITOR privilege"
    assert result["replicas_connected"] is None


def test_collect_asks_only_for_fixed_names(mysql):
    mysql_health.collect(FakeConnection(mysql))
    assert mysql.executed[1] == ("SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Threads_connected', "
                                 "'Threads_running', 'Max_used_connections', 'Slow_queries')")


# ------------------------------------------------------------------ the module
def test_module_ok_over_the_socket(run_module, mysql, tmp_path):
    result = run_module(mysql_health.main, {"config_file": str(tmp_path / "absent.cnf")})
    assert result["status"] == "ok", result
    assert result["changed"] is False
    assert result["version"] == "10.11.6-MariaDB-0+deb12u1"
    assert result["connections"]["used_pct"] == 7.3
    assert result["replication"]["role"] == "standalone"
    assert mysql.connect_args == {"connect_timeout": 10, "autocommit": True, "unix_socket": "/run/mysqld/mysqld.sock"}
    assert mysql.closed is True


def test_module_reads_the_config_file(run_module, mysql, tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\nuser=monitor\npassword=pw\n")
    result = run_module(mysql_health.main, {"config_file": str(cnf), "login_host": "db1", "login_port": 3307,
                                            "login_password": "s3cret"})
    assert result["status"] == "ok"
    assert mysql.connect_args == {"connect_timeout": 10, "autocommit": True, "host": "db1", "port": 3307,
                                  "password": "s3cret", "read_default_file": str(cnf)}
    assert "s3cret" not in str(result)  # no_log on the password


def test_module_replica_lag_critical(run_module, mysql, tmp_path):
    mysql.replica(dict(MYSQL_REPLICA, Seconds_Behind_Source=45))
    mysql.answers["SELECT VERSION() AS version"] = (["version"], [("8.0.36",)])
    result = run_module(mysql_health.main, {"config_file": str(tmp_path / "absent.cnf")})
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: mysql replication lag is 45 s, above the critical threshold 30 s"
    assert result["replication"]["seconds_behind"] == 45
    assert result["replication"]["status_statement"] == "SHOW REPLICA STATUS"
    assert result["flavor"] == "mysql"


def test_module_cannot_connect(run_module, mysql, tmp_path):
    mysql.connect_error = OperationalError(2002, "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)")
    result = run_module(mysql_health.main, {"config_file": str(tmp_path / "absent.cnf"), "fail_on_critical": False})
    assert result.get("failed") is not True
    assert result["status"] == "critical"
    assert result["checks"][0]["message"] == (
        "cannot connect to mysql at unix:/run/mysqld/mysqld.sock: "
        "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2) (2002)")
    assert "version" not in result


def test_module_access_denied(run_module, mysql, tmp_path):
    mysql.connect_error = OperationalError(1045, "Access denied for user 'monitor'@'10.0.0.21' (using password: YES)")
    result = run_module(mysql_health.main, {"login_host": "10.0.0.31", "login_user": "monitor", "login_password": "pw",
                                            "config_file": str(tmp_path / "absent.cnf")})
    assert result["failed"] is True
    assert result["msg"] == ("1 critical health check: cannot connect to mysql at 10.0.0.31:3306: "
                             "Access denied for user 'monitor'@'10.0.0.21' (using password: YES) (1045)")


def test_module_query_fails(run_module, mysql, tmp_path):
    mysql.errors["SHOW GLOBAL STATUS"] = OperationalError(2013, "Lost connection to MySQL server during query")
    result = run_module(mysql_health.main, {"config_file": str(tmp_path / "absent.cnf")})
    assert result["failed"] is True
    assert result["msg"] == ("1 critical health check: mysql at unix:/run/mysqld/mysqld.sock did not answer: "
                             "SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Threads_connected', 'Threads_running', "
                             "'Max_used_connections', 'Slow_queries') failed: Lost connection to MySQL server during query")


def test_module_without_pymysql(run_module, monkeypatch):
    monkeypatch.setattr(mysql_health, "pymysql", None)
    result = run_module(mysql_health.main, {})
    assert result["failed"] is True
    assert "PyMySQL" in result["msg"]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"connections_warn": 95}, "connections_warn (95) must not be greater than connections_crit (90)"),
        ({"replication_lag_warn": 60}, "replication_lag_warn (60) must not be greater than replication_lag_crit (30)"),
        ({"slow_queries_warn": 5, "slow_queries_crit": 1}, "slow_queries_warn (5) must not be greater than slow_queries_crit (1)"),
        ({"connect_timeout": 0}, "connect_timeout must be greater than 0, got 0"),
    ],
)
def test_module_bad_input(run_module, mysql, args, msg):
    result = run_module(mysql_health.main, args)
    assert result["failed"] is True
    assert result["msg"] == msg
    assert mysql.connect_args is None
