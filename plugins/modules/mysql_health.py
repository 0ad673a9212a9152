#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_health
short_description: Check that a MariaDB or MySQL server answers, has connections to spare and replicates
version_added: 0.1.0
description:
  - Connects to a MariaDB (10.5 or later, 10.11 on Debian 12) or MySQL (8.0) server and reports
    its version, uptime, connections in use against C(max_connections), the highest number of
    connections since it started, slow queries and its replication role.
  - On a replica, checks that the I/O and SQL replication threads run and judges the replication
    lag (C(Seconds_Behind_Source), C(Seconds_Behind_Master) on MariaDB) against warning and critical
    thresholds. Uses C(SHOW REPLICA STATUS) and falls back to C(SHOW SLAVE STATUS) on servers that
    do not know it.
  - A server that cannot be reached or refuses the login is a C(critical) check, not a module
    error, so a fleet report can list it.
author:
  - lmsops.stack maintainers (@lmsops)
requirements:
  - python >= 3.8
  - PyMySQL (Debian and Ubuntu package C(python3-pymysql))
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - lmsops.stack.health
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  login_user:
    description:
      - User to log in as. Without it, the user of O(config_file), else the name of the user the
        module runs as (C(root) with C(become), which the unix socket authenticates without a
        password on Debian and Ubuntu).
    type: str
  login_password:
    description:
      - Password of O(login_user). Without it, the password of O(config_file), if any.
    type: str
  login_host:
    description:
      - Host to connect to over TCP. When not set, the module connects over O(login_unix_socket).
    type: str
  login_port:
    description:
      - TCP port, with O(login_host).
    type: int
    default: 3306
  login_unix_socket:
    description:
      - The server's unix socket, used when O(login_host) is not set.
    type: path
    default: /run/mysqld/mysqld.sock
  config_file:
    description:
      - A client option file (C([client]) section) to read the user, password and other client
        settings from, like C(mysql --defaults-file). Read only when it exists. Explicit C(login_*)
        options win over it.
    type: path
    default: ~/.my.cnf
  connect_timeout:
    description:
      - Seconds to wait for the connection.
    type: int
    default: 10
  connections_warn:
    description:
      - Warn when the connections in use (C(Threads_connected)) are above this percentage of
        C(max_connections).
    type: float
    default: 80.0
  connections_crit:
    description:
      - Critical when the connections in use are above this percentage of C(max_connections).
    type: float
    default: 90.0
  replication_lag_warn:
    description:
      - Warn when a replica is more than this many seconds behind its source.
    type: float
    default: 10.0
  replication_lag_crit:
    description:
      - Critical when a replica is more than this many seconds behind its source.
    type: float
    default: 30.0
  slow_queries_warn:
    description:
      - Warn when slow queries (slower than C(long_query_time)) average more than this many per
        minute since the server started. Not judged by default (V(null)).
      - The average is over the whole uptime, so it moves slowly; use it for a trend, and the slow
        query log to find them.
    type: float
  slow_queries_crit:
    description:
      - Critical when slow queries average more than this many per minute since the server started.
        Not judged by default (V(null)).
    type: float
notes:
  - Checks, by name in RV(checks) - C(mysql connection), C(mysql connections), C(mysql slow queries)
    (when a threshold is set), C(mysql replication) and, on a replica, C(mysql replication lag).
  - The user needs C(REPLICATION CLIENT) (C(SLAVE MONITOR) on MariaDB 10.5 and later) to read the
    replica status, without which the replication check is a C(warning), and C(PROCESS) to count
    the connected replicas (without it a primary shows as C(standalone)). C(root) over the socket
    has both.
  - On MariaDB with several replication sources, only the default connection is checked.
seealso:
  - module: community.mysql.mysql_info
    description: Gathers much more about a server, for inventory rather than alerting.
"""

EXAMPLES = r"""
- name: Check the local database server as root over its socket
  lmsops.stack.mysql_health:
  become: true

- name: Check a replica over TCP with a monitoring user, collecting the result
  lmsops.stack.mysql_health:
    login_host: 10.0.0.32
    login_user: monitor
    login_password: "{{ mysql_monitor_password }}"
    replication_lag_crit: 60
    fail_on_critical: false
  register: db_health
  no_log: true

- name: Check with the Debian maintenance credentials
  lmsops.stack.mysql_health:
    config_file: /etc/mysql/debian.cnf
  become: true
"""

RETURN = r"""
status:
  description: The worst status of all checks.
  returned: always
  type: str
  sample: ok
  choices: [ok, warning, critical]
checks:
  description: Every check made, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check, for example C(mysql connections).
      type: str
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    value:
      description: The measured value (a number, a state, or V(null) when it could not be measured).
      type: raw
    unit:
      description: Unit of RV(checks[].value) and the thresholds (C(%), C(s), C(/min)), or empty.
      type: str
    threshold:
      description: The thresholds or the expected state, for people (C(warn > 10 s, crit > 30 s)).
      type: str
    warn:
      description: The warning threshold, when the check has one.
      type: float
    crit:
      description: The critical threshold, when the check has one.
      type: float
    message:
      description: One sentence saying what was found, and which threshold was crossed.
      type: str
  sample:
    - name: mysql connections
      status: ok
      value: 7.3
      unit: "%"
      threshold: warn > 80 %, crit > 90 %
      warn: 80.0
      crit: 90.0
      message: mysql connections is 7.3 %
warning_checks:
  description: Names of the checks with status C(warning).
  returned: always
  type: list
  elements: str
  sample: []
critical_checks:
  description: Names of the checks with status C(critical).
  returned: always
  type: list
  elements: str
  sample: [mysql replication lag]
version:
  description: Server version as it reports it.
  returned: when connected
  type: str
  sample: 10.11.6-MariaDB-0+deb12u1
flavor:
  description: C(mariadb) or C(mysql).
  returned: when connected
  type: str
  sample: mariadb
uptime_s:
  description: Seconds since the server started.
  returned: when connected
  type: int
  sample: 864000
connections:
  description: Client connections.
  returned: when connected
  type: dict
  contains:
    threads_connected:
      description: Connections open now, this one included.
      type: int
    threads_running:
      description: Connections running a statement now.
      type: int
    max_connections:
      description: The server's limit.
      type: int
    used_pct:
      description: RV(connections.threads_connected) as a percentage of RV(connections.max_connections).
      type: float
    max_used_connections:
      description: The most connections open at once since the server started.
      type: int
  sample: {threads_connected: 11, threads_running: 1, max_connections: 151, used_pct: 7.3, max_used_connections: 40}
slow_queries:
  description: Queries slower than C(long_query_time) since the server started.
  returned: when connected
  type: int
  sample: 12
slow_queries_per_min:
  description: RV(slow_queries) averaged per minute of uptime.
  returned: when connected
  type: float
  sample: 0.01
replication:
  description: Replication role and, on a replica, its threads and lag.
  returned: when connected
  type: dict
  contains:
    role:
      description: >-
        C(replica) when the server replicates from a source; C(primary) when at least one replica
        is connected to it now; C(standalone) otherwise; C(unknown) when the replica status cannot
        be read.
      type: str
    replicas_connected:
      description: >-
        Replicas reading this server's binary log now, counted in the process list. Without the
        C(PROCESS) privilege a user sees only its own threads, so the count is 0.
      type: int
    source_host:
      description: The source a replica reads from.
      type: str
    source_port:
      description: Port of the source.
      type: int
    io_running:
      description: C(Yes), C(No) or C(Connecting).
      type: str
    sql_running:
      description: C(Yes) or C(No).
      type: str
    seconds_behind:
      description: Replication lag in seconds, V(null) when the threads do not run.
      type: int
    last_io_error:
      description: The last error of the I/O thread.
      type: str
    last_sql_error:
      description: The last error of the SQL thread.
      type: str
    status_statement:
      description: The statement that read the replica status.
      type: str
  sample: {role: standalone, replicas_connected: 0}
"""

import configparser
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.lmsops.stack.plugins.module_utils import _health

PYMYSQL_IMPORT_ERROR = None
try:
    import pymysql
except ImportError:
    pymysql = None
    PYMYSQL_IMPORT_ERROR = traceback.format_exc()

ER_PARSE_ERROR = 1064

STATUS_NAMES = ("Uptime", "Threads_connected", "Threads_running", "Max_used_connections", "Slow_queries")
VARIABLE_NAMES = ("max_connections", "read_only", "log_bin")
REPLICA_STATUS_STATEMENTS = ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS")
# MySQL 8.0.22+ names the columns Replica_/Source_; MariaDB and older MySQL say Slave_/Master_.
REPLICA_COLUMNS = {
    "io_running": ("Replica_IO_Running", "Slave_IO_Running"),
    "sql_running": ("Replica_SQL_Running", "Slave_SQL_Running"),
    "seconds_behind": ("Seconds_Behind_Source", "Seconds_Behind_Master"),
    "source_host": ("Source_Host", "Master_Host"),
    "source_port": ("Source_Port", "Master_Port"),
    "last_io_error": ("Last_IO_Error",),
    "last_sql_error": ("Last_SQL_Error",),
}


class QueryError(Exception):
    """A statement failed; ``code`` is the server's error number when there is one."""

    def __init__(self, statement: str, error: Exception) -> None:
        self.statement = statement
        self.code = error.args[0] if error.args and isinstance(error.args[0], int) else None
        detail = error.args[1] if len(error.args) > 1 else str(error)
        super().__init__("%s failed: %s" % (statement, detail))


def error_text(error: Exception) -> str:
    """``(1045, "Access denied ...")`` from PyMySQL as ``Access denied ... (1045)``."""
    if len(error.args) >= 2 and isinstance(error.args[0], int):
        return "%s (%d)" % (error.args[1], error.args[0])
    return str(error) or type(error).__name__


def connection_args(params: dict, config_exists: bool) -> dict:
    """Keyword arguments for ``pymysql.connect``: TCP with login_host, else the unix socket."""
    args = {"connect_timeout": params["connect_timeout"], "autocommit": True}
    if params["login_user"] is not None:
        args["user"] = params["login_user"]
    if params["login_password"] is not None:
        args["password"] = params["login_password"]
    if params["login_host"]:
        args["host"] = params["login_host"]
        args["port"] = params["login_port"]
    else:
        args["unix_socket"] = params["login_unix_socket"]
    if config_exists:
        args["read_default_file"] = params["config_file"]
    return args


def target(params: dict) -> str:
    if params["login_host"]:
        return "%s:%d" % (params["login_host"], params["login_port"])
    return "unix:%s" % params["login_unix_socket"]


def query(connection, statement: str) -> list:
    """Rows of a statement as dicts keyed by column name."""
    cursor = connection.cursor()
    try:
        try:
            cursor.execute(statement)
            rows = cursor.fetchall()
        except pymysql.err.MySQLError as e:
            raise QueryError(statement, e) from None
        names = [d[0] for d in cursor.description or ()]
    finally:
        cursor.close()
    return [dict(zip(names, row)) for row in rows]


def name_values(rows: list) -> dict:
    """``SHOW STATUS``/``SHOW VARIABLES`` rows as ``{lowercase name: value}``."""
    values = {}
    for row in rows:
        items = list(row.values())
        if len(items) >= 2:
            values[str(items[0]).lower()] = items[1]
    return values


def _in_list(names) -> str:
    """``'a', 'b'`` for an SQL IN list; only for the fixed names above, never for user input."""
    return ", ".join("'%s'" % n for n in names)


def collect(connection) -> dict:
    """Everything the checks need, read from the server; unreadable optional parts hold an error."""
    raw = {"replica_error": None, "replicas_connected": None}
    raw["version"] = str(query(connection, "SELECT VERSION() AS version")[0]["version"])
    raw["status"] = name_values(query(connection, "SHOW GLOBAL STATUS WHERE Variable_name IN (%s)" % _in_list(STATUS_NAMES)))
    raw["variables"] = name_values(query(connection, "SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s)" % _in_list(VARIABLE_NAMES)))
    raw["replica_rows"], raw["replica_statement"] = [], None
    for statement in REPLICA_STATUS_STATEMENTS:
        try:
            raw["replica_rows"], raw["replica_statement"] = query(connection, statement), statement
            raw["replica_error"] = None
            break
        except QueryError as e:
            raw["replica_error"] = str(e)
            if e.code != ER_PARSE_ERROR:
                break  # a missing privilege: the older statement would fail the same way
    try:
        rows = query(connection, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
        raw["replicas_connected"] = int(rows[0]["n"])
    except QueryError:
        raw["replicas_connected"] = None
    return raw


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _column(row: dict, key: str):
    for column in REPLICA_COLUMNS[key]:
        if column in row:
            return row[column]
    return None


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def evaluate(raw: dict, params: dict) -> tuple:
    """Checks and facts from what :func:`collect` read. Pure: unit-tested with plain dicts."""
    status, variables = raw["status"], raw["variables"]
    version = raw["version"]
    uptime = _int(status.get("uptime")) or 0
    connected = _int(status.get("threads_connected"))
    max_connections = _int(variables.get("max_connections"))
    slow = _int(status.get("slow_queries")) or 0
    facts = {
        "version": version,
        "flavor": "mariadb" if "mariadb" in version.lower() else "mysql",
        "uptime_s": uptime,
        "connections": {
            "threads_connected": connected,
            "threads_running": _int(status.get("threads_running")),
            "max_connections": max_connections,
            "used_pct": _health.percent(connected, max_connections) if connected is not None and max_connections else None,
            "max_used_connections": _int(status.get("max_used_connections")),
        },
        "slow_queries": slow,
        "slow_queries_per_min": round(slow / (uptime / 60.0), 2) if uptime > 0 else 0.0,
    }
    checks = [_health.check("mysql connection", _health.OK, version, "mysql at %s answered (%s)" % (target(params), version),
                            threshold="reachable")]

    used = facts["connections"]["used_pct"]
    if used is None:
        checks.append(_health.check("mysql connections", _health.WARNING, None,
                                    "mysql connections cannot be judged: Threads_connected or max_connections is missing", unit="%"))
    else:
        checks.append(_health.above("mysql connections", used, params["connections_warn"], params["connections_crit"], "%"))

    if params["slow_queries_warn"] is not None or params["slow_queries_crit"] is not None:
        checks.append(_health.above("mysql slow queries", facts["slow_queries_per_min"],
                                    params["slow_queries_warn"], params["slow_queries_crit"], "/min"))

    replication = {"role": "standalone", "replicas_connected": raw["replicas_connected"]}
    facts["replication"] = replication
    rows = raw["replica_rows"]
    if raw["replica_error"] is not None:
        replication["role"] = "unknown"
        checks.append(_health.check("mysql replication", _health.WARNING, None,
                                    "mysql replication status cannot be read: %s" % raw["replica_error"], threshold="readable"))
    elif rows:
        row = rows[0]
        replication.update({key: _text(_column(row, key)) for key in REPLICA_COLUMNS})
        replication["role"] = "replica"
        replication["seconds_behind"] = _int(replication["seconds_behind"])
        replication["source_port"] = _int(replication["source_port"])
        replication["status_statement"] = raw["replica_statement"]
        io, sql = replication["io_running"], replication["sql_running"]
        running = io == "Yes" and sql == "Yes"
        errors = "; ".join(e for e in (replication["last_io_error"], replication["last_sql_error"]) if e)
        checks.append(_health.expect(
            "mysql replication", running, "io %s, sql %s" % (io, sql), "io Yes, sql Yes",
            "mysql replication from %s is not running: io thread %s, sql thread %s%s"
            % (replication["source_host"], io, sql, " (%s)" % errors if errors else ""),
            ok_message="mysql replication from %s is running" % replication["source_host"]))
        lag = replication["seconds_behind"]
        if lag is not None:
            checks.append(_health.above("mysql replication lag", lag, params["replication_lag_warn"], params["replication_lag_crit"], "s"))
        elif running:
            checks.append(_health.check("mysql replication lag", _health.WARNING, None,
                                        "mysql replication lag is unknown although both threads run", unit="s",
                                        threshold=_health.threshold_text(params["replication_lag_warn"], params["replication_lag_crit"], "s")))
    else:
        if raw["replicas_connected"]:
            replication["role"] = "primary"
        count = raw["replicas_connected"]
        if count is None:
            detail = "connected replicas unknown"
        else:
            detail = "%d replica%s connected" % (count, "" if count == 1 else "s")
        checks.append(_health.check("mysql replication", _health.OK, replication["role"],
                                    "mysql is not a replica: %s (%s)" % (replication["role"], detail), threshold="not a replica"))
    return checks, facts


def run(params: dict, config_exists: bool) -> tuple:
    """Connect, read, judge: ``(checks, facts)``. Failing to connect or read is a critical check."""
    try:
        connection = pymysql.connect(**connection_args(params, config_exists))
    except (pymysql.err.MySQLError, OSError, ValueError, configparser.Error) as e:
        return [_health.check("mysql connection", _health.CRITICAL, None,
                              "cannot connect to mysql at %s: %s" % (target(params), error_text(e)), threshold="reachable")], {}
    try:
        raw = collect(connection)
    except (QueryError, KeyError, IndexError) as e:
        return [_health.check("mysql connection", _health.CRITICAL, None,
                              "mysql at %s did not answer: %s" % (target(params), e), threshold="reachable")], {}
    finally:
        try:
            connection.close()
        except pymysql.err.MySQLError:
            pass  # already closed by the server: nothing left to release
    return evaluate(raw, params)


def build_module() -> AnsibleModule:
    argument_spec = dict(
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        login_host=dict(type="str"),
        login_port=dict(type="int", default=3306),
        login_unix_socket=dict(type="path", default="/run/mysqld/mysqld.sock"),
        config_file=dict(type="path", default="~/.my.cnf"),
        connect_timeout=dict(type="int", default=10),
        connections_warn=dict(type="float", default=80.0),
        connections_crit=dict(type="float", default=90.0),
        replication_lag_warn=dict(type="float", default=10.0),
        replication_lag_crit=dict(type="float", default=30.0),
        slow_queries_warn=dict(type="float"),
        slow_queries_crit=dict(type="float"),
    )
    argument_spec.update(_health.health_argument_spec())
    return AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)


def main() -> None:
    module = build_module()
    p = module.params
    if pymysql is None:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    for kind in ("connections", "replication_lag", "slow_queries"):
        error = _health.validate_thresholds(kind + "_warn", p[kind + "_warn"], kind + "_crit", p[kind + "_crit"])
        if error:
            module.fail_json(msg=error)
    if p["connect_timeout"] <= 0:
        module.fail_json(msg="connect_timeout must be greater than 0, got %d" % p["connect_timeout"])
    config_exists = os.path.isfile(p["config_file"])
    if config_exists and not os.access(p["config_file"], os.R_OK):
        module.fail_json(msg="config_file %s exists but cannot be read (run with become?)" % p["config_file"])
    checks, facts = run(p, config_exists)
    _health.report(module, checks, p["fail_on_critical"], **facts)


if __name__ == "__main__":
    main()
