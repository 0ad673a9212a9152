#!/usr/bin/python3
# Managed by lmsops.stack.exporters: local changes are overwritten.
"""Textfile collector of lmsops.stack: PHP-FPM pools and supervisor processes as Prometheus metrics.

Run by lmsops-textfile-collector.timer. For every PHP-FPM pool file matched by --phpfpm-pools it asks
the pool's status page (pm.status_path) straight over the pool's FastCGI socket - no web server needed,
so it works on any host that runs pools - and reads pm.max_children from the pool file. With
--supervisorctl it reads `supervisorctl status`. Each part is written to its own file in --textfile-dir,
atomically (a temporary file in the same directory, then rename), for node exporter's textfile collector:

  lmsops_phpfpm_up{pool}                          1 when the pool answered its status page
  lmsops_phpfpm_active_processes{pool}
  lmsops_phpfpm_idle_processes{pool}
  lmsops_phpfpm_max_children{pool}                from the pool file
  lmsops_phpfpm_max_children_reached_total{pool}  times the pool hit pm.max_children since it started
  lmsops_phpfpm_listen_queue{pool}                requests waiting for a free worker
  lmsops_supervisor_up                            1 when supervisord answered
  lmsops_supervisor_process_running{group,process}
  lmsops_supervisor_processes_expected{group}
  lmsops_supervisor_processes_running{group}
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile

TIMEOUT_S = 3.0

# FastCGI (https://fastcgi-archives.github.io/FastCGI_Specification.html): just what a status request needs.
FCGI_VERSION = 1
FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6
FCGI_RESPONDER = 1


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    return struct.pack("!BBHHBx", FCGI_VERSION, kind, request_id, len(content), 0) + content


def _pair(name: str, value: str) -> bytes:
    out = b""
    for item in (name.encode(), value.encode()):
        n = len(item)
        out += struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    return out + name.encode() + value.encode()


def fastcgi_get(address: str, path: str, query: str = "") -> bytes:
    """GET `path` from the FastCGI server at `address` (a socket path, or host:port); the response body."""
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = address
    else:
        host, _sep, port = address.rpartition(":")
        sock = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_STREAM)
        target = (host.strip("[]") or "127.0.0.1", int(port))
    sock.settimeout(TIMEOUT_S)
    with sock:
        sock.connect(target)
        params = {
            "GATEWAY_INTERFACE": "FastCGI/1.0", "REQUEST_METHOD": "GET", "SCRIPT_NAME": path,
            "SCRIPT_FILENAME": path, "REQUEST_URI": path + ("?" + query if query else ""), "QUERY_STRING": query,
            "SERVER_SOFTWARE": "lmsops-textfile-collector", "REMOTE_ADDR": "127.0.0.1",
        }
        body = b"".join(_pair(k, v) for k, v in params.items())
        sock.sendall(_record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", FCGI_RESPONDER, 0))
                     + _record(FCGI_PARAMS, body) + _record(FCGI_PARAMS, b"") + _record(FCGI_STDIN, b""))
        data, out = b"", b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            ended = False
            while len(data) >= 8:
                _version, kind, _request_id, length, padding = struct.unpack("!BBHHB", data[:7])
                if len(data) < 8 + length + padding:
                    break
                content, data = data[8:8 + length], data[8 + length + padding:]
                if kind == FCGI_STDOUT:
                    out += content
                elif kind == FCGI_END_REQUEST:
                    ended = True
            if ended:
                break
    head, _sep, payload = out.partition(b"\r\n\r\n")
    status = re.search(rb"^Status:\s*(\d+)", head, re.MULTILINE | re.IGNORECASE)
    if status and status.group(1) != b"200":
        raise OSError(f"status page answered {status.group(1).decode()}")
    return payload


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _pool_files(pattern: str) -> list[dict[str, str]]:
    """name, listen, status path and max_children of every pool in the files matching `pattern`."""
    pools: list[dict[str, str]] = []
    for path in sorted(glob.glob(pattern)):
        current: dict[str, str] | None = None
        with open(path, encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                line = raw.split(";", 1)[0].strip()
                section = re.match(r"^\[(.+)\]$", line)
                if section:
                    current = {"pool": section.group(1)}
                    pools.append(current)
                    continue
                key, sep, value = line.partition("=")
                if current is not None and sep:
                    current[key.strip()] = value.strip().strip('"')
    # The global section of php-fpm.conf is not a pool; a pool without a status page cannot be read.
    return [p for p in pools if p["pool"] != "global" and p.get("listen")]


def phpfpm_metrics(pattern: str) -> list[str]:
    names = {
        "up": "1 when the pool answered its status page (pm.status_path) over its socket.",
        "active_processes": "Workers serving a request.",
        "idle_processes": "Idle workers.",
        "max_children": "pm.max_children of the pool.",
        "max_children_reached_total": "Times the pool reached pm.max_children since it started.",
        "listen_queue": "Requests waiting in the pool's listen queue for a free worker.",
    }
    samples: dict[str, list[str]] = {n: [] for n in names}
    for pool in _pool_files(pattern):
        label = f'{{pool="{_escape(pool["pool"])}"}}'
        if pool.get("pm.max_children", "").isdigit():
            samples["max_children"].append(f"lmsops_phpfpm_max_children{label} {pool['pm.max_children']}")
        status_path = pool.get("pm.status_path")
        try:
            if not status_path:
                raise OSError("no pm.status_path")
            status = json.loads(fastcgi_get(pool["listen"], status_path, "json"))
        except (OSError, ValueError) as exc:
            print(f"pool {pool['pool']}: {exc}", file=sys.stderr)
            samples["up"].append(f"lmsops_phpfpm_up{label} 0")
            continue
        samples["up"].append(f"lmsops_phpfpm_up{label} 1")
        for metric, key in (("active_processes", "active processes"), ("idle_processes", "idle processes"),
                            ("max_children_reached_total", "max children reached"), ("listen_queue", "listen queue")):
            if key in status:
                samples[metric].append(f"lmsops_phpfpm_{metric}{label} {int(status[key])}")
    lines: list[str] = []
    for metric, help_text in names.items():
        kind = "counter" if metric.endswith("_total") else "gauge"
        lines += [f"# HELP lmsops_phpfpm_{metric} {help_text}", f"# TYPE lmsops_phpfpm_{metric} {kind}"]
        lines += samples[metric]
    return lines


def supervisor_metrics(supervisorctl: str) -> list[str]:
    lines = [
        "# HELP lmsops_supervisor_up 1 when supervisord answered supervisorctl status.",
        "# TYPE lmsops_supervisor_up gauge",
    ]
    try:
        # Exit status 3 means "some process is not running": the output is still complete.
        result = subprocess.run([supervisorctl, "status"], capture_output=True, text=True, timeout=TIMEOUT_S * 3,
                                check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"supervisorctl: {exc}", file=sys.stderr)
        return lines + ["lmsops_supervisor_up 0"]
    processes: list[tuple[str, str, int]] = []
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) < 2 or not re.match(r"^[A-Z]+$", fields[1]):
            continue
        group, _sep, name = fields[0].rpartition(":")
        processes.append((group or name, name, 1 if fields[1] == "RUNNING" else 0))
    if result.returncode not in (0, 3) and not processes:
        print(f"supervisorctl status: {(result.stdout + result.stderr).strip()}", file=sys.stderr)
        return lines + ["lmsops_supervisor_up 0"]
    lines.append("lmsops_supervisor_up 1")
    lines += ["# HELP lmsops_supervisor_process_running 1 when the process is RUNNING.",
              "# TYPE lmsops_supervisor_process_running gauge"]
    lines += [f'lmsops_supervisor_process_running{{group="{_escape(g)}",process="{_escape(p)}"}} {r}'
              for g, p, r in processes]
    groups = sorted({proc[0] for proc in processes})
    lines += ["# HELP lmsops_supervisor_processes_expected Processes supervisord is configured to run, per group.",
              "# TYPE lmsops_supervisor_processes_expected gauge"]
    lines += [f'lmsops_supervisor_processes_expected{{group="{_escape(g)}"}} '
              f"{sum(1 for proc in processes if proc[0] == g)}" for g in groups]
    lines += ["# HELP lmsops_supervisor_processes_running Processes RUNNING, per group.",
              "# TYPE lmsops_supervisor_processes_running gauge"]
    lines += [f'lmsops_supervisor_processes_running{{group="{_escape(g)}"}} '
              f"{sum(proc[2] for proc in processes if proc[0] == g)}" for g in groups]
    return lines


def write_atomically(directory: str, name: str, lines: list[str]) -> None:
    """Write the file whole or not at all: node exporter never reads a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textfile-dir", required=True)
    parser.add_argument("--phpfpm-pools", help="glob of the PHP-FPM pool files")
    parser.add_argument("--supervisorctl", help="path of supervisorctl")
    args = parser.parse_args(argv)
    if args.phpfpm_pools:
        write_atomically(args.textfile_dir, "lmsops_phpfpm.prom", phpfpm_metrics(args.phpfpm_pools))
    if args.supervisorctl:
        write_atomically(args.textfile_dir, "lmsops_supervisor.prom", supervisor_metrics(args.supervisorctl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
