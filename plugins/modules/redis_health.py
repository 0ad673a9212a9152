#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_health
short_description: Check that a Redis server answers and is healthy
version_added: 0.1.0
description:
  - Connects to a Redis server over TCP or a unix socket, authenticates (password, optionally with
    an ACL user name), sends C(PING) and C(INFO), and judges memory use against C(maxmemory), the
    keyspace hit rate, client connections against C(maxclients), replication link state on a
    replica and the last RDB save and AOF write.
  - Speaks the Redis protocol itself (a small RESP2 client in the collection); the redis Python
    library is not needed on the managed node.
  - A server that cannot be reached, that refuses the credentials or that requires authentication
    when none was given is a C(critical) check, not a module error, so a fleet report can list it.
author:
  - lmsops.stack maintainers (@lmsops)
requirements:
  - python >= 3.8
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
  login_host:
    description:
      - Host name or address of the Redis server. Ignored when O(login_unix_socket) is set.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the Redis server. Ignored when O(login_unix_socket) is set.
    type: int
    default: 6379
  login_unix_socket:
    description:
      - Path of the server's unix socket (for example V(/run/redis/redis-server.sock)); used instead
        of O(login_host) and O(login_port) when set.
    type: path
  login_user:
    description:
      - ACL user name (Redis 6 or later); sent as C(AUTH user password). Needs O(login_password).
    type: str
  login_password:
    description:
      - Password (C(requirepass) or the ACL user's password). Without it no C(AUTH) is sent.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for the connection and for each reply.
    type: float
    default: 5.0
  memory_warn:
    description:
      - Warn when C(used_memory) is above this percentage of C(maxmemory).
      - Memory is judged only when C(maxmemory) is set (greater than 0).
    type: float
    default: 80.0
  memory_crit:
    description:
      - Critical when C(used_memory) is above this percentage of C(maxmemory).
    type: float
    default: 90.0
  hit_rate_warn:
    description:
      - Warn when the keyspace hit rate, C(keyspace_hits / (keyspace_hits + keyspace_misses)) since the
        server started, is below this percentage (the operations plans alert below 70 %).
    type: float
    default: 70.0
  hit_rate_crit:
    description:
      - Critical when the hit rate is below this percentage. Not judged by default (V(null)) - a
        low hit rate costs speed, it is not an outage.
    type: float
  hit_rate_min_lookups:
    description:
      - Judge the hit rate only after at least this many lookups (hits plus misses). A cache that
        has just started or been flushed misses almost everything for a while; without this floor a
        restart would raise a warning.
    type: int
    default: 1000
  clients_warn:
    description:
      - Warn when C(connected_clients) is above this percentage of C(maxclients).
      - C(maxclients) is read from C(INFO) (Redis 7) or C(CONFIG GET maxclients); when neither is
        available the clients are only reported.
    type: float
    default: 80.0
  clients_crit:
    description:
      - Critical when C(connected_clients) is above this percentage of C(maxclients).
    type: float
    default: 90.0
notes:
  - Checks, by name in RV(checks) - C(redis connection), C(redis ping), C(redis memory), C(redis hit
    rate), C(redis clients), C(redis replication) (a replica's link to its master must be C(up)),
    C(redis rdb save) (the last background save must have succeeded - with the default
    C(stop-writes-on-bgsave-error) a failed save stops writes) and C(redis aof) (only when AOF is
    enabled).
  - Counters such as the hit rate and C(evicted_keys) are totals since the server started (or since
    C(CONFIG RESETSTAT)).
  - TLS connections are not supported; check a TLS-only server through a local plain-text port or
    socket.
seealso:
  - module: community.general.redis_info
    description: Returns the whole C(INFO) of a server (needs the redis Python library).
"""

EXAMPLES = r"""
- name: Check the local Redis
  lmsops.stack.redis_health:
    login_password: "{{ redis_password }}"
  no_log: true

- name: Check Redis over its unix socket as an ACL user, collecting the result without failing
  lmsops.stack.redis_health:
    login_unix_socket: /run/redis/redis-server.sock
    login_user: monitor
    login_password: "{{ redis_monitor_password }}"
    fail_on_critical: false
  register: redis_health
  no_log: true

- name: Show the state
  ansible.builtin.debug:
    msg: "{{ redis_health.status }}: {{ redis_health.critical_checks + redis_health.warning_checks }}"
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
      description: Name of the check, for example C(redis memory).
      type: str
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    value:
      description: The measured value (a number, a string or V(null) when it could not be measured).
      type: raw
    unit:
      description: Unit of RV(checks[].value) and the thresholds (C(%), C(s)), or empty.
      type: str
    threshold:
      description: The thresholds or the expected state, for people (C(warn > 80 %, crit > 90 %)).
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
    - name: redis memory
      status: ok
      value: 41.2
      unit: "%"
      threshold: warn > 80 %, crit > 90 %
      warn: 80.0
      crit: 90.0
      message: redis memory is 41.2 %
warning_checks:
  description: Names of the checks with status C(warning).
  returned: always
  type: list
  elements: str
  sample: [redis hit rate]
critical_checks:
  description: Names of the checks with status C(critical).
  returned: always
  type: list
  elements: str
  sample: []
ping:
  description: Whether the server answered C(PING) with C(PONG).
  returned: always
  type: bool
  sample: true
redis_version:
  description: Version of the server.
  returned: when the server answered C(INFO)
  type: str
  sample: 7.0.15
uptime_s:
  description: Seconds since the server started.
  returned: when the server answered C(INFO)
  type: int
  sample: 86400
role:
  description: C(master) or C(replica).
  returned: when the server answered C(INFO)
  type: str
  sample: master
memory:
  description: Memory use.
  returned: when the server answered C(INFO)
  type: dict
  contains:
    used_memory:
      description: Bytes allocated by Redis.
      type: int
    maxmemory:
      description: The C(maxmemory) limit in bytes, C(0) for none.
      type: int
    used_pct:
      description: RV(memory.used_memory) as a percentage of RV(memory.maxmemory), V(null) without a limit.
      type: float
    maxmemory_policy:
      description: What Redis does at the limit, for example C(allkeys-lru).
      type: str
  sample: {used_memory: 1048576, maxmemory: 268435456, used_pct: 0.4, maxmemory_policy: allkeys-lru}
evicted_keys:
  description: Keys evicted because of the C(maxmemory) limit since the server started.
  returned: when the server answered C(INFO)
  type: int
  sample: 0
keyspace_hits:
  description: Successful key lookups since the server started.
  returned: when the server answered C(INFO)
  type: int
  sample: 120345
keyspace_misses:
  description: Failed key lookups since the server started.
  returned: when the server answered C(INFO)
  type: int
  sample: 9876
hit_rate:
  description: Hits as a percentage of all lookups, V(null) before the first lookup.
  returned: when the server answered C(INFO)
  type: float
  sample: 92.4
connected_clients:
  description: Client connections, this check's own included.
  returned: when the server answered C(INFO)
  type: int
  sample: 12
maxclients:
  description: The C(maxclients) limit, V(null) when the server did not tell.
  returned: when the server answered C(INFO)
  type: int
  sample: 10000
replication:
  description: Replication state.
  returned: when the server answered C(INFO)
  type: dict
  contains:
    role:
      description: C(master) or C(replica).
      type: str
    connected_replicas:
      description: Replicas connected to this server.
      type: int
    master_host:
      description: The master of a replica.
      type: str
    master_port:
      description: Port of the master of a replica.
      type: int
    master_link_status:
      description: C(up) or C(down), for a replica.
      type: str
    master_last_io_seconds_ago:
      description: Seconds since the replica last heard from its master.
      type: int
  sample: {role: master, connected_replicas: 0}
persistence:
  description: State of RDB snapshots and the append-only file.
  returned: when the server answered C(INFO)
  type: dict
  contains:
    rdb_last_bgsave_status:
      description: C(ok) or C(err).
      type: str
    rdb_changes_since_last_save:
      description: Writes not yet in a snapshot.
      type: int
    rdb_last_save_time:
      description: Unix time of the last successful save.
      type: int
    aof_enabled:
      description: Whether the append-only file is on.
      type: bool
    aof_last_write_status:
      description: C(ok) or C(err).
      type: str
    aof_last_bgrewrite_status:
      description: C(ok) or C(err).
      type: str
  sample:
    rdb_last_bgsave_status: ok
    rdb_changes_since_last_save: 3
    rdb_last_save_time: 1732233600
    aof_enabled: false
    aof_last_write_status: ok
    aof_last_bgrewrite_status: ok
keyspace:
  description: Keys per database (C(db0) ...), as C(INFO keyspace) reports them.
  returned: when the server answered C(INFO)
  type: dict
  sample: {db0: {keys: 1520, expires: 1490, avg_ttl: 3512000}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lmsops.stack.plugins.module_utils import _health
from ansible_collections.lmsops.stack.plugins.module_utils._resp import RespClient, RespError, RespProtocolError, parse_info

PERSISTENCE_KEYS = (
    "rdb_last_bgsave_status",
    "rdb_changes_since_last_save",
    "rdb_last_save_time",
    "aof_last_write_status",
    "aof_last_bgrewrite_status",
)


def rejected(error: RespError) -> str:
    """Say why the server refused a command, in words an operator reads at a glance."""
    if error.code == "NOAUTH":
        return "redis rejected the command: authentication required"
    if error.code == "WRONGPASS" or error.message.startswith("ERR invalid password"):
        return "redis rejected the credentials: wrong user name or password"
    if error.code == "NOPERM":
        return "redis rejected the command: the user lacks permission (%s)" % error.message
    return "redis rejected the command: %s" % error.message


def auth_without_password_configured(error: RespError) -> bool:
    """True for the replies to AUTH when the server has no password at all (Redis 5 and 6+)."""
    text = error.message
    return "without any password configured" in text or "no password is set" in text


def _int_or_none(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def facts_from_info(info: dict, maxclients=None) -> dict:
    """The module's facts from a parsed ``INFO`` (see parse_info); missing fields become None."""
    used = _int_or_none(info.get("used_memory"))
    maxmemory = _int_or_none(info.get("maxmemory")) or 0
    hits = _int_or_none(info.get("keyspace_hits")) or 0
    misses = _int_or_none(info.get("keyspace_misses")) or 0
    if maxclients is None:
        maxclients = _int_or_none(info.get("maxclients"))
    raw_role = info.get("role")
    role = "replica" if raw_role in ("slave", "replica") else raw_role
    replication = {"role": role, "connected_replicas": _int_or_none(info.get("connected_slaves")) or 0}
    if role == "replica":
        replication.update(
            master_host=info.get("master_host"),
            master_port=_int_or_none(info.get("master_port")),
            master_link_status=info.get("master_link_status"),
            master_last_io_seconds_ago=_int_or_none(info.get("master_last_io_seconds_ago")),
        )
    persistence = {key: info.get(key) for key in PERSISTENCE_KEYS}
    persistence["aof_enabled"] = info.get("aof_enabled") == 1
    version = info.get("redis_version")
    return {
        "redis_version": None if version is None else str(version),
        "uptime_s": _int_or_none(info.get("uptime_in_seconds")),
        "role": role,
        "memory": {
            "used_memory": used,
            "maxmemory": maxmemory,
            "used_pct": _health.percent(used, maxmemory) if used is not None and maxmemory > 0 else None,
            "maxmemory_policy": info.get("maxmemory_policy"),
        },
        "evicted_keys": _int_or_none(info.get("evicted_keys")),
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "hit_rate": _health.percent(hits, hits + misses) if hits + misses > 0 else None,
        "connected_clients": _int_or_none(info.get("connected_clients")),
        "maxclients": maxclients,
        "replication": replication,
        "persistence": persistence,
        "keyspace": {k: v for k, v in info.items() if k.startswith("db") and k[2:].isdigit() and isinstance(v, dict)},
    }


def evaluate(facts: dict, params: dict) -> list:
    """The checks for the facts of one server (after a successful PING and INFO)."""
    checks = []
    memory = facts["memory"]
    if memory["used_pct"] is not None:
        checks.append(_health.above("redis memory", memory["used_pct"], params["memory_warn"], params["memory_crit"], "%"))
    else:
        checks.append(_health.check(
            "redis memory", _health.OK, None,
            "redis memory is not judged: no maxmemory limit is set (%s bytes used)" % _health.fmt(memory["used_memory"]),
        ))

    lookups = facts["keyspace_hits"] + facts["keyspace_misses"]
    if facts["hit_rate"] is not None and lookups >= params["hit_rate_min_lookups"]:
        checks.append(_health.below("redis hit rate", facts["hit_rate"], params["hit_rate_warn"], params["hit_rate_crit"], "%"))
    else:
        checks.append(_health.check(
            "redis hit rate", _health.OK, facts["hit_rate"],
            "redis hit rate is not judged yet: %d lookups, fewer than %d" % (lookups, params["hit_rate_min_lookups"]),
            threshold=_health.threshold_text(params["hit_rate_warn"], params["hit_rate_crit"], "%", higher_is_worse=False),
            unit="%", warn=params["hit_rate_warn"], crit=params["hit_rate_crit"],
        ))

    clients, maxclients = facts["connected_clients"], facts["maxclients"]
    if clients is not None and maxclients:
        checks.append(_health.above("redis clients", _health.percent(clients, maxclients), params["clients_warn"], params["clients_crit"], "%"))

    replication = facts["replication"]
    if replication["role"] == "replica":
        link = replication.get("master_link_status")
        checks.append(_health.expect(
            "redis replication", link == "up", link, "master link up",
            "redis replication link to %s:%s is %s, expected up" % (replication.get("master_host"), replication.get("master_port"), link),
            ok_message="redis replication link to its master is up",
        ))

    persistence = facts["persistence"]
    bgsave = persistence.get("rdb_last_bgsave_status")
    if bgsave is not None:
        checks.append(_health.expect(
            "redis rdb save", bgsave == "ok", bgsave, "ok",
            "redis rdb save: the last background save failed (rdb_last_bgsave_status is %s); see the redis log" % bgsave,
        ))
    if persistence["aof_enabled"]:
        write, rewrite = persistence.get("aof_last_write_status"), persistence.get("aof_last_bgrewrite_status")
        good = write == "ok" and rewrite in ("ok", None)
        checks.append(_health.expect(
            "redis aof", good, write, "ok",
            "redis aof: aof_last_write_status is %s and aof_last_bgrewrite_status is %s, expected ok" % (write, rewrite),
        ))
    return checks


def run(client: RespClient, params: dict):
    """Talk to the server: (checks, facts). Connection and protocol trouble become critical checks."""
    checks = []
    facts = {"ping": False}
    info = {}
    maxclients = None
    name = "redis connection"
    try:
        client.connect()
    except (OSError, ValueError) as e:
        checks.append(_health.check(name, _health.CRITICAL, None, "cannot connect to redis at %s: %s" % (client.address, e), threshold="reachable"))
        return checks, facts
    try:
        if params["login_password"] is not None:
            auth = [params["login_user"], params["login_password"]] if params["login_user"] else [params["login_password"]]
            try:
                client.command("AUTH", *auth)
            except RespError as e:
                if not auth_without_password_configured(e):
                    raise
                checks.append(_health.check(
                    "redis auth", _health.WARNING, False,
                    "redis has no password configured, yet a password was given: anyone who reaches %s can use it" % client.address,
                    threshold="password required",
                ))
        reply = client.command("PING")
        facts["ping"] = reply == "PONG"
        checks.append(_health.expect("redis ping", facts["ping"], reply, "PONG", "redis answered PING with %r, expected PONG" % (reply,)))
        info = parse_info(client.command("INFO"))
        if "maxclients" not in info:
            try:
                pair = client.command("CONFIG", "GET", "maxclients")
                if isinstance(pair, list) and len(pair) == 2:
                    maxclients = int(pair[1])
            except (RespError, ValueError, TypeError):
                maxclients = None  # CONFIG may be renamed or forbidden to this user: clients are then only reported
    except RespError as e:
        checks.append(_health.check(name, _health.CRITICAL, None, rejected(e), threshold="authenticated"))
        return checks, facts
    except (OSError, RespProtocolError) as e:
        checks.append(_health.check(name, _health.CRITICAL, None, "redis at %s failed to answer: %s" % (client.address, e), threshold="reachable"))
        return checks, facts
    finally:
        client.close()
    facts.update(facts_from_info(info, maxclients))
    checks.insert(0, _health.check(name, _health.OK, client.address, "redis at %s answered" % client.address, threshold="reachable"))
    checks.extend(evaluate(facts, params))
    return checks, facts


def build_module() -> AnsibleModule:
    argument_spec = dict(
        login_host=dict(type="str", default="localhost"),
        login_port=dict(type="int", default=6379),
        login_unix_socket=dict(type="path"),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        connect_timeout=dict(type="float", default=5.0),
        memory_warn=dict(type="float", default=80.0),
        memory_crit=dict(type="float", default=90.0),
        hit_rate_warn=dict(type="float", default=70.0),
        hit_rate_crit=dict(type="float"),
        hit_rate_min_lookups=dict(type="int", default=1000),
        clients_warn=dict(type="float", default=80.0),
        clients_crit=dict(type="float", default=90.0),
    )
    argument_spec.update(_health.health_argument_spec())
    return AnsibleModule(
        argument_spec=argument_spec,
        required_by={"login_user": "login_password"},
        supports_check_mode=True,
    )


def main() -> None:
    module = build_module()
    p = module.params
    for warn, crit, higher in (("memory_warn", "memory_crit", True), ("hit_rate_warn", "hit_rate_crit", False),
                               ("clients_warn", "clients_crit", True)):
        error = _health.validate_thresholds(warn, p[warn], crit, p[crit], higher_is_worse=higher)
        if error:
            module.fail_json(msg=error)
    if p["connect_timeout"] <= 0:
        module.fail_json(msg="connect_timeout must be greater than 0, got %s" % p["connect_timeout"])
    if p["hit_rate_min_lookups"] < 0:
        module.fail_json(msg="hit_rate_min_lookups must not be negative, got %d" % p["hit_rate_min_lookups"])
    client = RespClient(host=p["login_host"], port=p["login_port"], unix_socket=p["login_unix_socket"], timeout=p["connect_timeout"])
    checks, facts = run(client, p)
    _health.report(module, checks, p["fail_on_critical"], **facts)


if __name__ == "__main__":
    main()
