"""The supervisor role, checked the way an operator would: supervisord runs the queue workers as the
application user, as many as the capacity plan says, brings back a worker that dies, keeps its control
socket to root and its programs' logs bounded.

Acts on the hosts of the `workers` group (skips when there is none). The default program is
`<lmsops_app_name>-worker`; an inventory that sets `supervisor_programs` literally is read for names and
process counts.
"""

from __future__ import annotations

import time


MARKER = "; lmsops.stack.supervisor program"


# ---------------------------------------------------------------- helpers
def _workers(lab) -> list[str]:
    return lab.hosts_or_skip("workers")


def _literal(lab, name: str, var: str, default=None):
    return lab.literal(name, var, default)


def _programs(lab, name: str) -> dict[str, tuple[int, str]]:
    """Program name -> (numprocs, user) as the role is told to run them."""
    user = _literal(lab, name, "lmsops_app_user", "lms")
    given = _literal(lab, name, "supervisor_programs")
    if isinstance(given, list) and all(isinstance(p, dict) for p in given):
        return {p["name"]: (int(p.get("numprocs", 1)), p.get("user", user)) for p in given}
    app = _literal(lab, name, "lmsops_app_name", "lms")
    plan = lab.capacity_plan(name)
    return {f"{app}-worker": (int(plan.get("queue_workers") or 4), user)}


def _status(host) -> dict[str, tuple[str, int]]:
    """supervisorctl status: process -> (state, pid)."""
    out = host.run("supervisorctl status").stdout
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else 0
            states[parts[0]] = (parts[1], pid)
    return states


def _wait_running(host, program: str, count: int, timeout: float = 20.0) -> dict[str, tuple[str, int]]:
    deadline = time.monotonic() + timeout
    states: dict[str, tuple[str, int]] = {}
    while time.monotonic() < deadline:
        states = {k: v for k, v in _status(host).items() if k.startswith(program + ":")}
        if len(states) == count and all(state == "RUNNING" for state, _ in states.values()):
            return states
        time.sleep(0.5)
    return states


# ---------------------------------------------------------------- tests
def test_supervisor_running_and_enabled(lab):
    for name in _workers(lab):
        lab.assert_service_up(name, "supervisor")


def test_control_socket_is_root_only(lab):
    for name in _workers(lab):
        sock = lab.get_host(name).file("/var/run/supervisor.sock")
        assert sock.is_socket, f"{name}: no supervisord control socket"
        assert sock.user == "root" and sock.mode & 0o077 == 0, (
            f"{name}: the control socket is {sock.user} {oct(sock.mode)}: others could start and stop programs")


def test_workers_run_as_the_app_user_as_planned(lab):
    for name in _workers(lab):
        host = lab.get_host(name)
        for program, (numprocs, user) in _programs(lab, name).items():
            states = _wait_running(host, program, numprocs)
            assert len(states) == numprocs, f"{name}: {program} has {len(states)} processes, expected {numprocs}"
            assert all(state == "RUNNING" for state, _ in states.values()), f"{name}: {program}: {states}"
            for process, (_, pid) in states.items():
                owner = host.check_output(f"ps -o user= -p {pid}").strip()
                assert owner == user, f"{name}: {process} runs as {owner}, expected {user}"


def test_program_files_are_marked_and_logs_bounded(lab):
    for name in _workers(lab):
        host = lab.get_host(name)
        for program in _programs(lab, name):
            conf = host.file(f"/etc/supervisor/conf.d/{program}.conf")
            assert conf.exists and MARKER in conf.content_string, f"{name}: {program}.conf is not the role's"
            assert conf.mode & 0o022 == 0, f"{name}: {program}.conf is writable by others"
            assert "stdout_logfile_maxbytes=0" not in conf.content_string, f"{name}: {program}'s log grows without limit"
            assert "stopasgroup=true" in conf.content_string, f"{name}: stopping {program} leaves its children behind"
        logs = host.file("/var/log/supervisor/programs")
        assert logs.is_directory and logs.mode & 0o007 == 0, f"{name}: the programs' logs are readable by everybody"


def test_a_killed_worker_comes_back(lab):
    for name in _workers(lab):
        host = lab.get_host(name)
        program, (numprocs, _) = next(iter(_programs(lab, name).items()))
        before = _wait_running(host, program, numprocs)
        process, (_, pid) = sorted(before.items())[0]
        host.check_output(f"kill -9 {pid}")
        after = _wait_running(host, program, numprocs, timeout=15)
        assert process in after and after[process][0] == "RUNNING" and after[process][1] != pid, (
            f"{name}: {process} was not restarted within 15 s after kill -9 (now {after.get(process)})")
