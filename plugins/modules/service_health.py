#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, lmsops.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_health
short_description: Check systemd units, listening ports, disk, inodes, memory and load of a host
version_added: 0.1.0
description:
  - Checks that the given systemd units are active and, optionally, that no unit of the host has
    failed.
  - Checks that something listens on each given TCP or UDP port (IPv4 or IPv6), read from
    C(/proc/net/tcp), C(tcp6), C(udp) and C(udp6).
  - Measures disk and inode use of the file system holding each given path, memory in use
    (from C(MemAvailable) in C(/proc/meminfo)) and the 5-minute load average per CPU, and judges
    each against warning and critical thresholds. The defaults are the ones of the operations
    plans this collection serves.
author:
  - lmsops.stack maintainers (@lmsops)
requirements:
  - python >= 3.8
  - Linux (C(/proc)); systemd for O(units) and O(check_failed_units)
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
  units:
    description:
      - systemd units that must be active, for example V(nginx) or V(php8.2-fpm.service). A name
        without a suffix means a C(.service).
      - A unit that is not installed, masked, inactive or failed is C(critical); one still starting
        (C(activating)) is a C(warning).
    type: list
    elements: str
    default: []
  check_failed_units:
    description:
      - Also list every unit of the host in the C(failed) state (C(systemctl list-units --state=failed));
        any is a C(warning).
    type: bool
    default: true
  ports:
    description:
      - Ports something must listen on, each a port number (TCP) or a dict with C(port) and
        C(proto) (V(tcp) or V(udp), default V(tcp)).
      - A port counts as listening on any address, IPv4 or IPv6. No listener is C(critical).
    type: list
    elements: raw
    default: []
  mounts:
    description:
      - Paths whose file system is measured for disk and inode use. Any path works; the file system
        holding it is measured (so V(/var/lib/mysql) measures C(/) when it is not a mount of its own).
      - A path that does not exist is C(critical).
    type: list
    elements: path
    default: ['/']
  disk_warn:
    description:
      - Warn when a file system is more than this percentage full (space usable by non-root users,
        as C(df) counts it).
    type: float
    default: 80.0
  disk_crit:
    description:
      - Critical when a file system is more than this percentage full.
      - The plans put the critical level at 85 % or 90 %; 90 % is the default because the warning at
        80 % already leaves time to act. Set V(85) for the stricter plan.
    type: float
    default: 90.0
  inode_warn:
    description:
      - Warn when more than this percentage of a file system's inodes is used.
      - File systems that do not report inodes (btrfs reports 0) are not judged.
    type: float
    default: 80.0
  inode_crit:
    description:
      - Critical when more than this percentage of a file system's inodes is used.
    type: float
    default: 90.0
  memory_warn:
    description:
      - Warn when more than this percentage of memory is in use, counted as
        C((MemTotal - MemAvailable) / MemTotal); page cache the kernel can reclaim is not "in use".
    type: float
    default: 80.0
  memory_crit:
    description:
      - Critical when more than this percentage of memory is in use.
    type: float
    default: 90.0
  load_warn:
    description:
      - Warn when the 5-minute load average divided by the number of usable CPUs is above this.
      - This is a proxy for the plans' "CPU above 70 %" - a module reading the host once cannot
        measure utilisation over minutes, the kernel's load average can. Load also counts tasks
        waiting for disk I/O, so a host stuck on slow storage shows high load with idle CPUs.
    type: float
    default: 0.7
  load_crit:
    description:
      - Critical when the 5-minute load average per CPU is above this (the plans' "CPU above 85 %").
    type: float
    default: 0.85
notes:
  - Checks, by name in RV(checks) - C(unit NAME), C(failed units), C(port PROTO/PORT),
    C(disk usage PATH), C(inode usage PATH), C(memory usage) and C(load per cpu).
  - In a container without lxcfs, C(/proc/meminfo) and the load average are those of the whole
    machine, not of the container.
"""

EXAMPLES = r"""
- name: Check a web host
  lmsops.stack.service_health:
    units: [ssh, nginx, php8.2-fpm]
    ports:
      - 22
      - 80
      - {port: 443, proto: tcp}
    mounts: [/, /var/www]

- name: Collect the state of every host without failing, with the stricter disk plan
  lmsops.stack.service_health:
    units: [ssh, fail2ban]
    disk_crit: 85
    fail_on_critical: false
  register: health

- name: Show what is not right
  ansible.builtin.debug:
    msg: "{{ health.checks | rejectattr('status', 'eq', 'ok') | map(attribute='message') }}"
"""

RETURN = r"""
status:
  description: The worst status of all checks.
  returned: always
  type: str
  sample: warning
  choices: [ok, warning, critical]
checks:
  description: Every check made, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check, for example C(disk usage /) or C(unit nginx).
      type: str
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    value:
      description: The measured value (a number, a unit state, the listening addresses, or V(null)).
      type: raw
    unit:
      description: Unit of RV(checks[].value) and the thresholds (C(%)), or empty.
      type: str
    threshold:
      description: The thresholds or the expected state, for people (C(warn > 80 %, crit > 90 %), C(active)).
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
    - name: disk usage /
      status: warning
      value: 83.4
      unit: "%"
      threshold: warn > 80 %, crit > 90 %
      warn: 80.0
      crit: 90.0
      message: disk usage / is 83.4 %, above the warning threshold 80 %
warning_checks:
  description: Names of the checks with status C(warning).
  returned: always
  type: list
  elements: str
  sample: [disk usage /]
critical_checks:
  description: Names of the checks with status C(critical).
  returned: always
  type: list
  elements: str
  sample: []
units:
  description: State of each unit in O(units).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name as given.
      type: str
    id:
      description: The unit systemd resolved the name to (C(nginx.service)).
      type: str
    load_state:
      description: C(loaded), C(not-found), C(masked) ...
      type: str
    active_state:
      description: C(active), C(inactive), C(failed), C(activating) ...
      type: str
    sub_state:
      description: C(running), C(exited), C(dead) ...
      type: str
  sample:
    - {name: nginx, id: nginx.service, load_state: loaded, active_state: active, sub_state: running}
failed_units:
  description: Units of the host in the C(failed) state.
  returned: when O(check_failed_units=true) and systemctl is present
  type: list
  elements: str
  sample: [certbot.service]
ports:
  description: Each port of O(ports) and the addresses it listens on.
  returned: always
  type: list
  elements: dict
  contains:
    port:
      description: The port number.
      type: int
    proto:
      description: C(tcp) or C(udp).
      type: str
    listening:
      description: Whether anything listens on the port.
      type: bool
    addresses:
      description: The local addresses of the listening sockets.
      type: list
      elements: str
  sample:
    - {port: 443, proto: tcp, listening: true, addresses: ["0.0.0.0", "::"]}
mounts:
  description: Disk and inode use of the file system of each path in O(mounts).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path as given.
      type: str
    exists:
      description: Whether the path exists.
      type: bool
    size_bytes:
      description: Size of the file system, the blocks reserved for root excluded.
      type: int
    used_bytes:
      description: Bytes in use.
      type: int
    available_bytes:
      description: Bytes available to non-root users.
      type: int
    used_pct:
      description: Percentage in use, as C(df) computes it.
      type: float
    inodes_total:
      description: Inodes of the file system (C(0) when it does not report them).
      type: int
    inodes_used:
      description: Inodes in use.
      type: int
    inodes_used_pct:
      description: Percentage of inodes in use, V(null) when the file system does not report them.
      type: float
  sample:
    - path: /
      exists: true
      size_bytes: 105089261568
      used_bytes: 87654321152
      available_bytes: 17434940416
      used_pct: 83.4
      inodes_total: 6553600
      inodes_used: 412000
      inodes_used_pct: 6.3
memory:
  description: Memory and swap, in bytes.
  returned: when C(/proc/meminfo) is readable
  type: dict
  contains:
    total_bytes:
      description: C(MemTotal).
      type: int
    available_bytes:
      description: C(MemAvailable) (or free + buffers + cache on kernels older than 3.14).
      type: int
    used_pct:
      description: Percentage of memory in use.
      type: float
    swap_total_bytes:
      description: C(SwapTotal).
      type: int
    swap_used_bytes:
      description: C(SwapTotal - SwapFree).
      type: int
  sample: {total_bytes: 8323002368, available_bytes: 5126684672, used_pct: 38.4, swap_total_bytes: 0, swap_used_bytes: 0}
load:
  description: Load averages and usable CPUs.
  returned: always
  type: dict
  contains:
    load1:
      description: 1-minute load average.
      type: float
    load5:
      description: 5-minute load average.
      type: float
    load15:
      description: 15-minute load average.
      type: float
    cpus:
      description: CPUs this process may run on.
      type: int
    load_per_cpu:
      description: RV(load.load5) divided by RV(load.cpus), the value judged.
      type: float
  sample: {load1: 0.52, load5: 0.4, load15: 0.31, cpus: 4, load_per_cpu: 0.1}
"""

import ipaddress
import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lmsops.stack.plugins.module_utils import _health

PROC_NET = "/proc/net"
MEMINFO = "/proc/meminfo"

# Kernel socket states in /proc/net/{tcp,udp}: TCP_LISTEN, and TCP_CLOSE which is how an unconnected
# (bound, "listening") UDP socket shows.
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"
LISTEN_STATE = {"tcp": TCP_LISTEN, "udp": UDP_UNCONNECTED}


# ---------------------------------------------------------------- ports
def decode_address(hexaddr: str, byteorder: str = sys.byteorder) -> str:
    """An address of ``/proc/net/tcp[6]`` (``0100007F``) as text (``127.0.0.1``).

    The kernel prints each 32-bit word of the address in the machine's byte order, so on the usual
    little-endian machines the bytes of every word are reversed.
    """
    try:
        raw = bytes.fromhex(hexaddr)
    except ValueError:
        raise ValueError("not a hex address: %r" % hexaddr) from None
    if len(raw) not in (4, 16):
        raise ValueError("an address has 8 or 32 hex digits, got %r" % hexaddr)
    if byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    elif byteorder != "big":
        raise ValueError("byteorder must be 'little' or 'big', got %r" % byteorder)
    address = ipaddress.ip_address(raw)
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def parse_proc_net(text: str, byteorder: str = sys.byteorder) -> list:
    """The sockets of one ``/proc/net/{tcp,tcp6,udp,udp6}`` file: ``[{address, port, state}]``."""
    sockets = []
    lines = text.splitlines()
    for number, line in enumerate(lines[1:], start=2):  # the first line is the header
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 4 or ":" not in fields[1]:
            raise ValueError("line %d is not a socket entry: %r" % (number, line))
        hexaddr, dummy, hexport = fields[1].partition(":")
        try:
            port = int(hexport, 16)
        except ValueError:
            raise ValueError("line %d has no hex port: %r" % (number, line)) from None
        sockets.append({"address": decode_address(hexaddr, byteorder), "port": port, "state": fields[3].upper()})
    return sockets


def listening(sockets_by_proto: dict, port: int, proto: str) -> list:
    """The addresses listening on ``proto``/``port``, sorted and without repeats."""
    state = LISTEN_STATE[proto]
    found = {s["address"] for s in sockets_by_proto.get(proto, []) if s["port"] == port and s["state"] == state}
    return sorted(found, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))


def normalize_ports(ports: list) -> list:
    """``[22, "80", {port: 53, proto: udp}]`` as ``[{port, proto}]``; ValueError naming a bad item."""
    result = []
    for index, item in enumerate(ports):
        where = "ports[%d]" % index
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"port", "proto"})
            if unknown:
                raise ValueError("%s: unknown keys %s (allowed: port, proto)" % (where, ", ".join(unknown)))
            if "port" not in item:
                raise ValueError("%s: a dict needs a port" % where)
            port, proto = item["port"], item.get("proto", "tcp")
        else:
            port, proto = item, "tcp"
        if isinstance(port, bool):
            raise ValueError("%s: port must be a number from 1 to 65535, got %r" % (where, port))
        if isinstance(port, str) and port.strip().isdigit():
            port = int(port)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError("%s: port must be a number from 1 to 65535, got %r" % (where, port))
        if proto not in LISTEN_STATE:
            raise ValueError("%s: proto must be tcp or udp, got %r" % (where, proto))
        if {"port": port, "proto": proto} not in result:
            result.append({"port": port, "proto": proto})
    return result


# ---------------------------------------------------------------- systemd
def parse_systemctl_show(text: str) -> list:
    """``systemctl show --property=...`` for several units: one dict per unit, in order."""
    units, current = [], {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current:
                units.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError("not a property line: %r" % line)
        current[key] = value
    return units


def parse_failed_units(text: str) -> list:
    """Unit names from ``systemctl list-units --state=failed --no-legend --plain``."""
    names = []
    for line in text.splitlines():
        fields = line.replace("\u25cf", " ").split()  # older systemd marks failed units with a bullet
        if fields:
            names.append(fields[0])
    return names


def unit_check(name: str, props: dict) -> dict:
    load, active, sub = props.get("LoadState"), props.get("ActiveState"), props.get("SubState")
    check_name = "unit %s" % name
    state = "%s (%s)" % (active, sub) if sub else str(active)
    if load == "not-found":
        return _health.check(check_name, _health.CRITICAL, "not-found", "unit %s is not installed" % name, threshold="active")
    if load == "masked":
        return _health.check(check_name, _health.CRITICAL, "masked", "unit %s is masked, expected active" % name, threshold="active")
    if active in ("active", "reloading"):
        return _health.check(check_name, _health.OK, active, "unit %s is %s" % (name, state), threshold="active")
    if active == "activating":
        return _health.check(check_name, _health.WARNING, active, "unit %s is still starting: %s" % (name, state), threshold="active")
    return _health.check(check_name, _health.CRITICAL, active, "unit %s is %s, expected active" % (name, state), threshold="active")


# ---------------------------------------------------------------- disk, memory, load
def parse_meminfo(text: str) -> dict:
    """``/proc/meminfo`` as ``{field: bytes}`` (the kernel prints kB; counts without a unit stay as they are)."""
    info = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        fields = rest.split()
        if not fields:
            continue
        try:
            number = int(fields[0])
        except ValueError:
            continue
        info[key.strip()] = number * 1024 if len(fields) > 1 and fields[1].lower() == "kb" else number
    return info


def memory_usage(meminfo: dict) -> dict:
    """Memory in use from parsed meminfo; ``MemAvailable`` or, on old kernels, free + buffers + cache."""
    total = meminfo.get("MemTotal")
    if not total:
        raise ValueError("/proc/meminfo has no MemTotal")
    available = meminfo.get("MemAvailable")
    if available is None:
        available = meminfo.get("MemFree", 0) + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0)
    available = min(available, total)
    swap_total = meminfo.get("SwapTotal", 0)
    return {
        "total_bytes": total,
        "available_bytes": available,
        "used_pct": _health.percent(total - available, total),
        "swap_total_bytes": swap_total,
        "swap_used_bytes": max(swap_total - meminfo.get("SwapFree", swap_total), 0),
    }


def disk_usage(path: str, st) -> dict:
    """Disk and inode use from an ``os.statvfs`` result, computed the way ``df`` does."""
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    available = st.f_bavail * st.f_frsize
    inodes_used = st.f_files - st.f_ffree
    return {
        "path": path,
        "exists": True,
        "size_bytes": used + available,
        "used_bytes": used,
        "available_bytes": available,
        "used_pct": _health.percent(used, used + available) if used + available > 0 else 0.0,
        "inodes_total": st.f_files,
        "inodes_used": inodes_used,
        "inodes_used_pct": _health.percent(inodes_used, st.f_files),
    }


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0)) or 1
        except OSError:
            pass
    return os.cpu_count() or 1


def load_usage(loadavg, cpus: int) -> dict:
    load1, load5, load15 = loadavg
    return {
        "load1": round(load1, 2),
        "load5": round(load5, 2),
        "load15": round(load15, 2),
        "cpus": cpus,
        "load_per_cpu": round(load5 / cpus, 2),
    }


# ---------------------------------------------------------------- the module
def first_line(text: str) -> str:
    """The first non-empty line of a command's output, for a one-line message."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def unique(items: list) -> list:
    """The items in their order, each once."""
    result = []
    for item in items:
        if item not in result:
            result.append(item)
    return result


class HealthCheck:
    """Reads the host once and turns every measurement into checks."""

    def __init__(self, module: AnsibleModule, ports: list) -> None:
        self.module = module
        self.params = module.params
        self.ports = ports
        self.checks = []
        self.facts = {"units": [], "ports": [], "mounts": []}

    def run(self):
        self.units()
        self.listening_ports()
        self.mounts()
        self.memory()
        self.load()
        return self.checks, self.facts

    def units(self) -> None:
        names = self.params["units"]
        if not names and not self.params["check_failed_units"]:
            return
        systemctl = self.module.get_bin_path("systemctl")
        if systemctl is None:
            for name in names:
                self.checks.append(_health.check(
                    "unit %s" % name, _health.CRITICAL, None, "unit %s cannot be checked: systemctl not found" % name, threshold="active"))
            return
        if names:
            rc, out, err = self.module.run_command(
                [systemctl, "show", "--property=Id,LoadState,ActiveState,SubState", "--"] + names)
            try:
                shown = parse_systemctl_show(out) if rc == 0 else []
            except ValueError:
                shown = []
            if len(shown) != len(names):
                reason = first_line(err) or first_line(out) or "rc %d" % rc
                for name in names:
                    self.checks.append(_health.check(
                        "unit %s" % name, _health.CRITICAL, None,
                        "unit %s cannot be checked: systemctl show failed: %s" % (name, reason), threshold="active"))
            else:
                for name, props in zip(names, shown):
                    self.facts["units"].append({
                        "name": name,
                        "id": props.get("Id"),
                        "load_state": props.get("LoadState"),
                        "active_state": props.get("ActiveState"),
                        "sub_state": props.get("SubState"),
                    })
                    self.checks.append(unit_check(name, props))
        if self.params["check_failed_units"]:
            rc, out, err = self.module.run_command(
                [systemctl, "list-units", "--state=failed", "--no-legend", "--plain", "--no-pager"])
            if rc != 0:
                self.checks.append(_health.check(
                    "failed units", _health.WARNING, None,
                    "failed units cannot be listed: %s" % (first_line(err) or first_line(out) or "rc %d" % rc), threshold="none"))
                return
            failed = parse_failed_units(out)
            self.facts["failed_units"] = failed
            self.checks.append(_health.expect(
                "failed units", not failed, len(failed), "none",
                "%d failed unit%s on the host: %s" % (len(failed), "" if len(failed) == 1 else "s", ", ".join(failed)),
                severity=_health.WARNING, ok_message="no failed units on the host",
            ))

    def listening_ports(self) -> None:
        if not self.ports:
            return
        sockets, unreadable = {"tcp": [], "udp": []}, {}
        for proto in sorted({p["proto"] for p in self.ports}):
            for suffix in ("", "6"):
                path = os.path.join(PROC_NET, proto + suffix)
                if suffix and not os.path.exists(path):
                    continue  # IPv6 disabled
                try:
                    with open(path, "r") as f:
                        sockets[proto].extend(parse_proc_net(f.read()))
                except (OSError, ValueError) as e:
                    unreadable[proto] = "%s: %s" % (path, e)
        for spec in self.ports:
            port, proto = spec["port"], spec["proto"]
            name = "port %s/%d" % (proto, port)
            if proto in unreadable:
                self.checks.append(_health.check(
                    name, _health.CRITICAL, None, "%s cannot be checked: %s" % (name, unreadable[proto]), threshold="listening"))
                continue
            addresses = listening(sockets, port, proto)
            self.facts["ports"].append({"port": port, "proto": proto, "listening": bool(addresses), "addresses": addresses})
            self.checks.append(_health.expect(
                name, bool(addresses), ", ".join(addresses) or None, "listening",
                "nothing listens on %s port %d" % (proto, port),
                ok_message="%s listens on %s" % (name, ", ".join(addresses)),
            ))

    def mounts(self) -> None:
        p = self.params
        for path in p["mounts"]:
            try:
                st = os.statvfs(path)
            except OSError as e:
                self.facts["mounts"].append({"path": path, "exists": os.path.exists(path)})
                self.checks.append(_health.check(
                    "disk usage %s" % path, _health.CRITICAL, None, "disk usage %s cannot be read: %s" % (path, e.strerror or e),
                    threshold=_health.threshold_text(p["disk_warn"], p["disk_crit"], "%"), unit="%",
                    warn=p["disk_warn"], crit=p["disk_crit"]))
                continue
            usage = disk_usage(path, st)
            self.facts["mounts"].append(usage)
            self.checks.append(_health.above("disk usage %s" % path, usage["used_pct"], p["disk_warn"], p["disk_crit"], "%"))
            if usage["inodes_used_pct"] is None:
                self.checks.append(_health.check(
                    "inode usage %s" % path, _health.OK, None,
                    "inode usage %s is not judged: the file system does not report inodes" % path, unit="%"))
            else:
                self.checks.append(_health.above("inode usage %s" % path, usage["inodes_used_pct"], p["inode_warn"], p["inode_crit"], "%"))

    def memory(self) -> None:
        p = self.params
        try:
            with open(MEMINFO, "r") as f:
                usage = memory_usage(parse_meminfo(f.read()))
        except (OSError, ValueError) as e:
            self.checks.append(_health.check(
                "memory usage", _health.WARNING, None, "memory usage cannot be read from %s: %s" % (MEMINFO, e),
                threshold=_health.threshold_text(p["memory_warn"], p["memory_crit"], "%"), unit="%",
                warn=p["memory_warn"], crit=p["memory_crit"]))
            return
        self.facts["memory"] = usage
        self.checks.append(_health.above("memory usage", usage["used_pct"], p["memory_warn"], p["memory_crit"], "%"))

    def load(self) -> None:
        p = self.params
        usage = load_usage(os.getloadavg(), usable_cpus())
        self.facts["load"] = usage
        self.checks.append(_health.above("load per cpu", usage["load_per_cpu"], p["load_warn"], p["load_crit"]))


def build_module() -> AnsibleModule:
    argument_spec = dict(
        units=dict(type="list", elements="str", default=[]),
        check_failed_units=dict(type="bool", default=True),
        ports=dict(type="list", elements="raw", default=[]),
        mounts=dict(type="list", elements="path", default=["/"]),
        disk_warn=dict(type="float", default=80.0),
        disk_crit=dict(type="float", default=90.0),
        inode_warn=dict(type="float", default=80.0),
        inode_crit=dict(type="float", default=90.0),
        memory_warn=dict(type="float", default=80.0),
        memory_crit=dict(type="float", default=90.0),
        load_warn=dict(type="float", default=0.7),
        load_crit=dict(type="float", default=0.85),
    )
    argument_spec.update(_health.health_argument_spec())
    return AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)


def main() -> None:
    module = build_module()
    p = module.params
    for kind in ("disk", "inode", "memory", "load"):
        error = _health.validate_thresholds(kind + "_warn", p[kind + "_warn"], kind + "_crit", p[kind + "_crit"])
        if error:
            module.fail_json(msg=error)
    for name in p["units"]:
        if not name.strip() or name.startswith("-") or any(c.isspace() for c in name):
            module.fail_json(msg="units must be unit names, got %r" % name)
    # The same unit or path named twice (a host in two groups) is checked once.
    p["units"] = unique(p["units"])
    p["mounts"] = unique(p["mounts"])
    ports = []
    try:
        ports = normalize_ports(p["ports"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    checks, facts = HealthCheck(module, ports).run()
    _health.report(module, checks, p["fail_on_critical"], **facts)


if __name__ == "__main__":
    main()
