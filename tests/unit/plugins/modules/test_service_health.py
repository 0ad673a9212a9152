from __future__ import annotations

import os
from collections import namedtuple

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lmsops.stack.plugins.modules import service_health

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20387 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 23163 1 0000000000000000 100 0 0 10 0
   2: 0F02000A:0016 0202000A:C4B2 01 00000000:00000000 02:0009AA8E 00000000     0        0 61251 2 0000000000000000 20 4 29 10 -1
   3: 0F02000A:0050 0202000A:C4B4 06 00000000:00000000 03:00001740 00000000     0        0 0 3 0000000000000000
"""
# (the columns after the state are cut to keep the lines short; the parser reads up to the state)
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000
   2: 0000000000000000FFFF00000100007F:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000
"""
UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   102        0 17393 2 0000000000000000 0
  456: 0F02000A:D431 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 17999 2 0000000000000000 0
"""
MEMINFO = """\
MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    1200000 kB
Buffers:          100000 kB
Cached:          2000000 kB
SwapTotal:       1000000 kB
SwapFree:         750000 kB
HugePages_Total:       0
"""


# ------------------------------------------------------------------ pure functions
@pytest.mark.parametrize(
    ("hexaddr", "byteorder", "expected"),
    [
        ("0100007F", "little", "127.0.0.1"),
        ("00000000", "little", "0.0.0.0"),
        ("0F02000A", "little", "10.0.2.15"),
        ("7F000001", "big", "127.0.0.1"),
        ("00000000000000000000000001000000", "little", "::1"),
        ("00000000000000000000000000000001", "big", "::1"),
        ("0000000000000000FFFF00000100007F", "little", "127.0.0.1"),  # IPv4-mapped shows as IPv4
        ("B80D0120000000000000000001000000", "little", "2001:db8::1"),
    ],
)
def test_decode_address(hexaddr, byteorder, expected):
    assert service_health.decode_address(hexaddr, byteorder) == expected


@pytest.mark.parametrize(
    ("hexaddr", "byteorder", "match"),
    [("0100007G", "little", "not a hex"), ("01007F", "little", "8 or 32"), ("0100007F", "middle", "byteorder")],
)
def test_decode_address_bad_input(hexaddr, byteorder, match):
    with pytest.raises(ValueError, match=match):
        service_health.decode_address(hexaddr, byteorder)


def test_parse_proc_net():
    sockets = service_health.parse_proc_net(TCP, "little")
    assert sockets[:2] == [
        {"address": "0.0.0.0", "port": 22, "state": "0A"},
        {"address": "127.0.0.1", "port": 3306, "state": "0A"},
    ]
    assert [s["state"] for s in sockets] == ["0A", "0A", "01", "06"]
    assert service_health.parse_proc_net(TCP.splitlines()[0]) == []  # only a header: no sockets
    assert service_health.parse_proc_net("") == []


@pytest.mark.parametrize("text", ["header\n  0: garbage\n", "header\n 0: 0100007F:XYZ 00000000:0000 0A\n"])
def test_parse_proc_net_bad_input(text):
    with pytest.raises(ValueError, match="line 2"):
        service_health.parse_proc_net(text, "little")


def _sockets():
    return {
        "tcp": service_health.parse_proc_net(TCP, "little") + service_health.parse_proc_net(TCP6, "little"),
        "udp": service_health.parse_proc_net(UDP, "little"),
    }


@pytest.mark.parametrize(
    ("port", "proto", "expected"),
    [
        (22, "tcp", ["0.0.0.0", "::"]),
        (3306, "tcp", ["127.0.0.1"]),
        (8080, "tcp", ["::1"]),
        (6379, "tcp", ["127.0.0.1"]),
        (80, "tcp", []),  # only a closing connection from port 80: not listening
        (53, "udp", ["127.0.0.53"]),
        (54321, "udp", []),  # a connected client socket is not a listener
        (22, "udp", []),
    ],
)
def test_listening(port, proto, expected):
    assert service_health.listening(_sockets(), port, proto) == expected


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ([], []),
        ([22, "80", {"port": 443}, {"port": 53, "proto": "udp"}, {"port": "8080", "proto": "tcp"}],
         [{"port": 22, "proto": "tcp"}, {"port": 80, "proto": "tcp"}, {"port": 443, "proto": "tcp"},
          {"port": 53, "proto": "udp"}, {"port": 8080, "proto": "tcp"}]),
        ([22, {"port": 22, "proto": "tcp"}], [{"port": 22, "proto": "tcp"}]),  # repeats collapse
    ],
)
def test_normalize_ports(ports, expected):
    assert service_health.normalize_ports(ports) == expected


@pytest.mark.parametrize(
    ("ports", "match"),
    [
        ([0], r"ports\[0\]: port must be a number from 1 to 65535, got 0"),
        ([22, 70000], r"ports\[1\]: port must be"),
        (["ssh"], r"got 'ssh'"),
        ([True], r"got True"),
        ([None], r"got None"),
        ([{"proto": "tcp"}], r"a dict needs a port"),
        ([{"port": 53, "proto": "icmp"}], r"proto must be tcp or udp, got 'icmp'"),
        ([{"port": 53, "protocol": "udp"}], r"unknown keys protocol"),
    ],
)
def test_normalize_ports_bad_input(ports, match):
    with pytest.raises(ValueError, match=match):
        service_health.normalize_ports(ports)


SHOW = """\
Id=nginx.service
LoadState=loaded
ActiveState=active
SubState=running

Id=mariadb.service
LoadState=loaded
ActiveState=failed
SubState=failed

Id=nope.service
LoadState=not-found
ActiveState=inactive
SubState=dead
"""


def test_parse_systemctl_show():
    units = service_health.parse_systemctl_show(SHOW)
    assert [u["Id"] for u in units] == ["nginx.service", "mariadb.service", "nope.service"]
    assert units[1] == {"Id": "mariadb.service", "LoadState": "loaded", "ActiveState": "failed", "SubState": "failed"}
    assert service_health.parse_systemctl_show("") == []
    assert service_health.parse_systemctl_show("Id=a\nDescription=x=y\n") == [{"Id": "a", "Description": "x=y"}]
    with pytest.raises(ValueError, match="not a property line"):
        service_health.parse_systemctl_show("Id=a\ngarbage\n")


def test_parse_failed_units():
    text = "certbot.service loaded failed failed Certbot\n\u25cf php8.2-fpm.service loaded failed failed PHP\n\n"
    assert service_health.parse_failed_units(text) == ["certbot.service", "php8.2-fpm.service"]
    assert service_health.parse_failed_units("") == []


@pytest.mark.parametrize(
    ("props", "status", "message"),
    [
        ({"LoadState": "loaded", "ActiveState": "active", "SubState": "running"}, "ok", "unit nginx is active (running)"),
        ({"LoadState": "loaded", "ActiveState": "reloading", "SubState": "reload"}, "ok", "unit nginx is reloading (reload)"),
        ({"LoadState": "loaded", "ActiveState": "activating", "SubState": "start"}, "warning",
         "unit nginx is still starting: activating (start)"),
        ({"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed"}, "critical",
         "unit nginx is failed (failed), expected active"),
        ({"LoadState": "loaded", "ActiveState": "inactive", "SubState": "dead"}, "critical",
         "unit nginx is inactive (dead), expected active"),
        ({"LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead"}, "critical", "unit nginx is not installed"),
        ({"LoadState": "masked", "ActiveState": "inactive", "SubState": "dead"}, "critical", "unit nginx is masked, expected active"),
    ],
)
def test_unit_check(props, status, message):
    result = service_health.unit_check("nginx", props)
    assert (result["name"], result["status"], result["message"], result["threshold"]) == ("unit nginx", status, message, "active")


def test_parse_meminfo_and_memory_usage():
    info = service_health.parse_meminfo(MEMINFO + "garbage line\nEmpty:\nWeird: x kB\n")
    assert info["MemTotal"] == 8000000 * 1024
    assert info["HugePages_Total"] == 0
    assert "Weird" not in info and "Empty" not in info
    usage = service_health.memory_usage(info)
    assert usage == {
        "total_bytes": 8000000 * 1024,
        "available_bytes": 1200000 * 1024,
        "used_pct": 85.0,
        "swap_total_bytes": 1000000 * 1024,
        "swap_used_bytes": 250000 * 1024,
    }


def test_memory_usage_without_memavailable():
    info = {"MemTotal": 1000, "MemFree": 100, "Buffers": 50, "Cached": 250}  # kernels before 3.14
    assert service_health.memory_usage(info)["used_pct"] == 60.0
    assert service_health.memory_usage({"MemTotal": 100, "MemAvailable": 500})["used_pct"] == 0.0  # clamped
    with pytest.raises(ValueError, match="no MemTotal"):
        service_health.memory_usage({"MemFree": 1})


Statvfs = namedtuple("Statvfs", "f_frsize f_blocks f_bfree f_bavail f_files f_ffree")


@pytest.mark.parametrize(
    ("st", "used_pct", "inodes_pct"),
    [
        # 1000 blocks, 100 free of which 50 usable by non-root: df counts 900 / (900 + 50)
        (Statvfs(4096, 1000, 100, 50, 1000, 900), 94.7, 10.0),
        (Statvfs(4096, 1000, 1000, 950, 1000, 1000), 0.0, 0.0),
        (Statvfs(4096, 1000, 0, 0, 0, 0), 100.0, None),  # full; no inodes reported (btrfs)
        (Statvfs(4096, 0, 0, 0, 0, 0), 0.0, None),  # an empty pseudo file system
    ],
)
def test_disk_usage(st, used_pct, inodes_pct):
    usage = service_health.disk_usage("/x", st)
    assert (usage["used_pct"], usage["inodes_used_pct"]) == (used_pct, inodes_pct)
    assert usage["used_bytes"] == (st.f_blocks - st.f_bfree) * st.f_frsize
    assert usage["size_bytes"] == usage["used_bytes"] + usage["available_bytes"]


def test_load_usage():
    assert service_health.load_usage((3.3, 2.8, 1.0), 4) == {
        "load1": 3.3, "load5": 2.8, "load15": 1.0, "cpus": 4, "load_per_cpu": 0.7}


def test_unique():
    assert service_health.unique(["nginx", "ssh", "nginx"]) == ["nginx", "ssh"]


# ------------------------------------------------------------------ the module
@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake host: /proc files in tmp_path, systemctl answers from a table, fixed load."""
    proc_net = tmp_path / "net"
    proc_net.mkdir()
    (proc_net / "tcp").write_text(TCP)
    (proc_net / "tcp6").write_text(TCP6)
    (proc_net / "udp").write_text(UDP)  # no udp6: IPv6 off for UDP is fine
    (tmp_path / "meminfo").write_text(MEMINFO.replace("1200000", "4000000"))
    monkeypatch.setattr(service_health, "PROC_NET", str(proc_net))
    monkeypatch.setattr(service_health, "MEMINFO", str(tmp_path / "meminfo"))
    monkeypatch.setattr(service_health.os, "getloadavg", lambda: (0.4, 0.5, 0.6))
    monkeypatch.setattr(service_health, "usable_cpus", lambda: 2)

    units = {u["Id"].split(".")[0]: u for u in service_health.parse_systemctl_show(SHOW)}
    state = {"units": units, "failed": "", "calls": [], "systemctl": "/bin/systemctl", "show_rc": 0}

    def run_command(self, args, **kwargs):
        state["calls"].append(args)
        if args[1] == "show":
            if state["show_rc"]:
                return state["show_rc"], "", "Failed to connect to bus"
            blocks = ["\n".join("%s=%s" % kv for kv in state["units"][name].items()) for name in args[4:]]
            return 0, "\n\n".join(blocks) + "\n", ""
        if args[1] == "list-units":
            return 0, state["failed"], ""
        raise AssertionError("unexpected command %r" % (args,))

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **k: state["systemctl"])
    state["tmp"] = tmp_path
    return state


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def test_module_all_ok(run_module, host):
    result = run_module(service_health.main, {
        "units": ["nginx"], "ports": [22, {"port": 53, "proto": "udp"}], "mounts": [str(host["tmp"])]})
    assert result["status"] == "ok", result
    assert result["changed"] is False
    checks = by_name(result)
    assert list(checks) == ["unit nginx", "failed units", "port tcp/22", "port udp/53", "disk usage %s" % host["tmp"],
                            "inode usage %s" % host["tmp"], "memory usage", "load per cpu"]
    assert checks["port tcp/22"]["value"] == "0.0.0.0, ::"
    assert checks["memory usage"]["value"] == 50.0
    assert checks["load per cpu"]["value"] == 0.25
    assert result["units"] == [{"name": "nginx", "id": "nginx.service", "load_state": "loaded",
                                "active_state": "active", "sub_state": "running"}]
    assert result["ports"][0] == {"port": 22, "proto": "tcp", "listening": True, "addresses": ["0.0.0.0", "::"]}
    assert result["load"] == {"load1": 0.4, "load5": 0.5, "load15": 0.6, "cpus": 2, "load_per_cpu": 0.25}
    assert result["failed_units"] == []
    assert host["calls"][0] == ["/bin/systemctl", "show", "--property=Id,LoadState,ActiveState,SubState", "--", "nginx"]


def test_module_fails_on_critical_naming_each_check(run_module, warnings_of, host):
    host["failed"] = "certbot.service loaded failed failed Certbot\n"
    result = run_module(service_health.main, {
        "units": ["nginx", "mariadb", "nope", "nginx"], "ports": [80, 3306], "mounts": ["/does/not/exist"],
        "memory_warn": 40, "load_warn": 0.1, "load_crit": 0.2})
    assert result["failed"] is True
    assert result["status"] == "critical"
    assert result["critical_checks"] == [
        "unit mariadb", "unit nope", "port tcp/80", "disk usage /does/not/exist", "load per cpu"]
    assert result["warning_checks"] == ["failed units", "memory usage"]
    assert result["msg"].startswith("5 critical health checks: unit mariadb is failed (failed), expected active; "
                                    "unit nope is not installed; nothing listens on tcp port 80; ")
    assert "load per cpu is 0.25, above the critical threshold 0.2" in result["msg"]
    assert "1 failed unit on the host: certbot.service" in warnings_of(result)
    assert "memory usage is 50 %, above the warning threshold 40 %" in warnings_of(result)
    assert result["mounts"] == [{"path": "/does/not/exist", "exists": False}]
    assert len(result["units"]) == 3  # nginx named twice is checked once


def test_module_collects_without_failing(run_module, warnings_of, host):
    result = run_module(service_health.main, {"units": ["mariadb"], "mounts": [], "fail_on_critical": False})
    assert "failed" not in result or result["failed"] is False
    assert result["status"] == "critical"
    assert "critical: unit mariadb is failed (failed), expected active" in warnings_of(result)


def test_module_without_systemctl(run_module, host):
    host["systemctl"] = None
    result = run_module(service_health.main, {"units": ["nginx"], "mounts": [], "fail_on_critical": False})
    assert by_name(result)["unit nginx"]["message"] == "unit nginx cannot be checked: systemctl not found"
    assert "failed units" not in by_name(result)


def test_module_when_systemctl_show_fails(run_module, host):
    host["show_rc"] = 1
    result = run_module(service_health.main, {"units": ["nginx"], "mounts": [], "check_failed_units": False})
    assert result["failed"] is True
    assert result["msg"] == "1 critical health check: unit nginx cannot be checked: systemctl show failed: Failed to connect to bus"
    assert len(host["calls"]) == 1  # no list-units when check_failed_units is false


def test_module_unreadable_proc(run_module, host, monkeypatch):
    monkeypatch.setattr(service_health, "PROC_NET", str(host["tmp"] / "missing"))
    monkeypatch.setattr(service_health, "MEMINFO", str(host["tmp"] / "missing" / "meminfo"))
    result = run_module(service_health.main, {"ports": [22], "mounts": [], "check_failed_units": False,
                                              "fail_on_critical": False})
    checks = by_name(result)
    assert checks["port tcp/22"]["status"] == "critical"
    assert "cannot be checked" in checks["port tcp/22"]["message"]
    assert checks["memory usage"]["status"] == "warning"
    assert "memory" not in result


def test_module_check_mode_reads_the_same(run_module, host):
    result = run_module(service_health.main, {"mounts": ["/"], "check_failed_units": False, "_ansible_check_mode": True})
    assert result["changed"] is False
    assert [c["name"] for c in result["checks"]] == ["disk usage /", "inode usage /", "memory usage", "load per cpu"]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"disk_warn": 95}, "disk_warn (95) must not be greater than disk_crit (90)"),
        ({"load_warn": 0.9, "load_crit": 0.8}, "load_warn (0.9) must not be greater than load_crit (0.8)"),
        ({"ports": [{"port": 99999}]}, "ports[0]: port must be a number from 1 to 65535, got 99999"),
        ({"units": ["--all"]}, "units must be unit names, got '--all'"),
        ({"units": ["nginx php-fpm"]}, "units must be unit names, got 'nginx php-fpm'"),
    ],
)
def test_module_bad_input(run_module, host, args, msg):
    result = run_module(service_health.main, args)
    assert result["failed"] is True
    assert result["msg"] == msg
    assert host["calls"] == []


def test_module_real_host_smoke(run_module, monkeypatch):
    """On the machine running the tests: reads real /proc and statvfs without error."""
    if not os.path.exists("/proc/meminfo"):
        pytest.skip("needs Linux /proc")
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result = run_module(service_health.main, {"check_failed_units": False, "fail_on_critical": False,
                                              "ports": [1], "disk_crit": 100, "disk_warn": 100})
    assert result["mounts"][0]["path"] == "/"
    assert result["memory"]["total_bytes"] > 0
    assert result["load"]["cpus"] >= 1
