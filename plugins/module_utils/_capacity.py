"""Capacity arithmetic for lmsops.stack: one place decides every memory size and pool size.

Private to the collection (leading underscore): the filters in ``plugins/filter/capacity.py`` are
thin wrappers around these functions. Everything here is plain Python (stdlib only, no Ansible
imports, Python 3.8+) and raises ``ValueError``/``TypeError`` with a message meant for the user,
naming the argument and what is allowed; the wrappers turn those into ``AnsibleFilterError``.

Units: memory is in MiB (whole numbers) everywhere, time in seconds. Every result is made of plain
dicts, lists, ints, floats, strings and None, so Jinja can use it as is.

The model, in one paragraph. A host's RAM is split into an OS reserve, fixed slices for the light
services it runs (nginx on ``web``/``loadbalancers``, Prometheus on ``monitoring``), the queue
workers' processes (``workers``: count × RSS), and what is left is shared by the heavy services
(PHP-FPM on ``web``, MySQL/MariaDB on ``db``, Redis on ``cache``) by weights normalised over the
ones present on the host, each one first getting its minimum. The MySQL slice is split into the
InnoDB buffer pool and the server's memory outside it (per-connection buffers, performance schema).
From its slice, each service's settings follow: the PHP-FPM pool, the InnoDB buffer pool geometry,
Redis ``maxmemory``. Fleet-wide, MySQL's ``max_connections`` is the sum of everything that can hold a
connection (every PHP worker, every queue worker, monitoring/backup/admin) plus headroom.

Every tunable number is a named setting in ``SETTINGS`` with a default and a short rationale;
functions take an optional ``settings`` mapping overriding some of them (unknown names are an error,
so a typo cannot silently fall back to a default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

Number = Union[int, float]

# Inventory groups that carry services, in the order services are listed.
GROUPS = ("loadbalancers", "web", "workers", "db", "cache", "monitoring")

# RAM sizes (GiB) the fleet planner chooses from when it sizes a database or cache host.
STANDARD_RAM_GIB = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# Sanity bounds: more than 16 TiB of RAM or 4096 CPUs is almost surely a unit mistake (bytes, KiB).
MAX_RAM_MB = 16 * 1024 * 1024
MAX_CPUS = 4096

# php-fpm's OPcache cannot be smaller than this (opcache.memory_consumption minimum).
_OPCACHE_MIN_MB = 8
# MySQL refuses a chunk below 1 MiB; a buffer pool keeps at least this many chunks per instance before
# the chunk shrinks, so rounding to a multiple of chunk × instances loses at most 1/8 of the budget.
_CHUNKS_PER_INSTANCE_MIN = 8
# Smallest budgets the per-service functions accept on their own.
_INNODB_MIN_BUDGET_MB = 8
_REDIS_MIN_BUDGET_MB = 16


class _Setting(NamedTuple):
    section: str
    kind: str  # "int", "float" or "choice"
    default: Any
    minimum: Number | None = None
    maximum: Number | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""


# Sections: which functions read a setting (documented per filter in the sidecar docs).
SECTIONS = ("budget", "php", "innodb", "mysql", "redis", "fleet")

# fmt: off
# (a table: section, kind, default, minimum, maximum on one line, the rationale below it)
SETTINGS: dict[str, _Setting] = {
    # --- memory_budget -------------------------------------------------------------------------
    "reserve_min_mb": _Setting(
        "budget", "int", 512, 0, None,
        doc="Smallest OS reserve: kernel, systemd, journald, sshd, fail2ban, chrony, exporters, "
        "unattended-upgrades and the Ansible run itself, with some page cache.",
    ),
    "reserve_percent": _Setting(
        "budget", "float", 10, 0, 90,
        doc="OS reserve as a share of RAM when that is more than reserve_min_mb (page cache, slab, "
        "page tables grow with the host).",
    ),
    "reserve_max_mb": _Setting(
        "budget", "int", 4096, 0, None,
        doc="Largest OS reserve: beyond it, big hosts give the memory to their services.",
    ),
    "nginx_mb": _Setting(
        "budget", "int", 64, 0, None,
        doc="Fixed slice for nginx on web and loadbalancers hosts (workers, shared zones, buffers).",
    ),
    "monitoring_mb": _Setting(
        "budget", "int", 512, 0, None,
        doc="Fixed slice for Prometheus and Alertmanager on monitoring hosts (a few hosts' series "
        "at a 15 s scrape); the rest of a monitoring host stays free for its page cache.",
    ),
    "queue_workers": _Setting(
        "budget", "int", 0, 0, 1024,
        doc="Queue worker processes on a workers host; 0 picks them automatically "
        "(queue_workers_per_cpu × CPUs, at most queue_workers_max, fewer when memory is short).",
    ),
    "queue_worker_rss_mb": _Setting(
        "budget", "int", 128, 8, None,
        doc="Memory of one queue worker (Laravel's queue:work restarts a worker above --memory=128).",
    ),
    "queue_workers_per_cpu": _Setting(
        "budget", "int", 2, 1, 64,
        doc="Automatic queue workers per CPU (jobs wait on the database and network half the time).",
    ),
    "queue_workers_max": _Setting(
        "budget", "int", 8, 1, 1024,
        doc="Most automatic queue workers on one host.",
    ),
    "queue_workers_shared_percent": _Setting(
        "budget", "float", 25, 1, 100,
        doc="Most of the memory automatic queue workers may take on a host that also runs PHP-FPM, "
        "MySQL or Redis.",
    ),
    "php_weight": _Setting(
        "budget", "float", 40, 0.001, None,
        doc="PHP-FPM's weight when it shares the host's remaining memory with MySQL and/or Redis.",
    ),
    "db_weight": _Setting(
        "budget", "float", 45, 0.001, None,
        doc="MySQL's weight when it shares the host's remaining memory with PHP-FPM and/or Redis.",
    ),
    "redis_weight": _Setting(
        "budget", "float", 15, 0.001, None,
        doc="Redis's weight when it shares the host's remaining memory with PHP-FPM and/or MySQL.",
    ),
    "php_min_children": _Setting(
        "budget", "int", 2, 1, None,
        doc="PHP-FPM workers a web host must at least fit (one slow request must not block the site).",
    ),
    "innodb_min_mb": _Setting(
        "budget", "int", 128, _INNODB_MIN_BUDGET_MB, None,
        doc="Smallest InnoDB buffer pool budget a db host must fit.",
    ),
    "mysql_overhead_percent": _Setting(
        "budget", "float", 17, 0, 50,
        doc="Share of the MySQL slice kept outside the buffer pool (per-connection buffers, "
        "temporary tables, performance schema); 17 % leaves a dedicated big db host ~75 % of RAM "
        "for InnoDB.",
    ),
    "mysql_overhead_min_mb": _Setting(
        "budget", "int", 384, 0, None,
        doc="Smallest MySQL memory outside the buffer pool (server, performance schema, connections).",
    ),
    "redis_min_mb": _Setting(
        "budget", "int", 64, _REDIS_MIN_BUDGET_MB, None,
        doc="Smallest Redis slice a cache host must fit.",
    ),
    # --- php_fpm_pool --------------------------------------------------------------------------
    "php_worker_rss_mb": _Setting(
        "php", "int", 64, 8, None,
        doc="Memory of one PHP-FPM worker (measure: ps -ylC php-fpm8.2 --sort:rss, RSS column).",
    ),
    "php_opcache_mb": _Setting(
        "php", "int", 128, 0, None,
        doc="OPcache shared memory (opcache.memory_consumption), counted once per pool; shrinks to a "
        "quarter of a small budget; 0 leaves it out of the arithmetic.",
    ),
    "php_max_children_per_cpu": _Setting(
        "php", "int", 10, 0, None,
        doc="Most PHP-FPM workers per CPU (0: no CPU cap); more only queue on the CPUs and open more "
        "database connections.",
    ),
    "php_pm": _Setting(
        "php", "choice", "auto", choices=("auto", "dynamic", "ondemand", "static"),
        doc="Process manager; auto picks ondemand for pools below php_ondemand_below workers and "
        "dynamic otherwise (static only when asked: it holds every worker's memory while idle).",
    ),
    "php_ondemand_below": _Setting(
        "php", "int", 5, 0, None,
        doc="With php_pm auto, pools with fewer workers than this use ondemand.",
    ),
    "php_min_spare_per_cpu": _Setting(
        "php", "int", 1, 1, None,
        doc="pm.min_spare_servers per CPU (clamped to the pool).",
    ),
    "php_max_spare_per_cpu": _Setting(
        "php", "int", 4, 1, None,
        doc="pm.max_spare_servers per CPU (clamped to the pool).",
    ),
    "php_max_requests": _Setting(
        "php", "int", 500, 0, None,
        doc="pm.max_requests: a worker is recycled after this many requests (0: never).",
    ),
    "php_process_idle_timeout_s": _Setting(
        "php", "int", 10, 1, None,
        doc="pm.process_idle_timeout in seconds (ondemand).",
    ),
    # --- innodb_settings -----------------------------------------------------------------------
    "innodb_chunk_mb": _Setting(
        "innodb", "int", 128, 1, 1024,
        doc="innodb_buffer_pool_chunk_size; halved on small pools until every instance holds at "
        "least 8 chunks.",
    ),
    "innodb_instances_max": _Setting(
        "innodb", "int", 8, 1, 64,
        doc="Most buffer pool instances (one per GiB of pool, never more than CPUs; one below 1 GiB).",
    ),
    "innodb_redo_percent": _Setting(
        "innodb", "float", 25, 1, 100,
        doc="Redo log capacity as a share of the buffer pool.",
    ),
    "innodb_redo_min_mb": _Setting(
        "innodb", "int", 32, 8, None,
        doc="Smallest redo log capacity.",
    ),
    "innodb_redo_max_mb": _Setting(
        "innodb", "int", 2048, 8, None,
        doc="Largest redo log capacity (longer crash recovery beyond; an LMS mostly reads).",
    ),
    # --- mysql_max_connections -----------------------------------------------------------------
    "mysql_extra_connections": _Setting(
        "mysql", "int", 10, 0, None,
        doc="Connections besides PHP and queue workers: mysqld_exporter, backups, the scheduler, "
        "admin shells.",
    ),
    "mysql_headroom_percent": _Setting(
        "mysql", "float", 20, 0, 1000,
        doc="Headroom added on top of every connection that can exist at once.",
    ),
    "mysql_per_connection_mb": _Setting(
        "mysql", "float", 2, 0, None,
        doc="Typical memory of one connection (thread stack, sort/join/read buffers); in-memory "
        "temporary tables can take far more.",
    ),
    "mysql_base_mb": _Setting(
        "mysql", "int", 192, 0, None,
        doc="MySQL server memory outside the buffer pool and connections (performance schema, "
        "dictionary, log buffer).",
    ),
    # --- redis_maxmemory -----------------------------------------------------------------------
    "redis_persistence": _Setting(
        "redis", "choice", "rdb", choices=("none", "rdb", "aof", "rdb+aof"),
        doc="Redis persistence; with any, a fork for the snapshot/rewrite needs copy-on-write room.",
    ),
    "redis_use": _Setting(
        "redis", "choice", "mixed", choices=("cache", "sessions", "queue", "mixed"),
        doc="What Redis holds; only a pure cache may evict (allkeys-lru), anything else uses "
        "noeviction (an error beats silently losing sessions or queued jobs).",
    ),
    "redis_maxmemory_percent": _Setting(
        "redis", "float", 85, 10, 100,
        doc="maxmemory as a share of the Redis slice without persistence (the rest: fragmentation, "
        "client buffers).",
    ),
    "redis_maxmemory_percent_persistent": _Setting(
        "redis", "float", 55, 10, 100,
        doc="maxmemory as a share of the Redis slice with persistence (the rest: copy-on-write "
        "while a child process writes the snapshot or rewrites the AOF).",
    ),
    # --- fleet_plan / growth_plan --------------------------------------------------------------
    "requests_per_user_per_s": _Setting(
        "fleet", "float", 0.05, 0, None,
        doc="PHP requests per concurrent user per second (one every 20 s of think time: page views, "
        "AJAX, progress beacons; static files and video come from nginx or a CDN).",
    ),
    "php_request_time_s": _Setting(
        "fleet", "float", 0.2, 0.001, None,
        doc="Mean PHP request time (wall clock, seconds); busy workers = requests/s × this "
        "(Little's law).",
    ),
    "php_cpu_time_s": _Setting(
        "fleet", "float", 0.08, 0, None,
        doc="Mean CPU time of one PHP request (seconds); CPUs needed = requests/s × this.",
    ),
    "target_utilisation": _Setting(
        "fleet", "float", 0.7, 0.05, 1,
        doc="Planned peak utilisation of PHP workers and CPUs (the plans' 70 % CPU scaling trigger).",
    ),
    "web_host_ram_mb": _Setting(
        "fleet", "int", 16384, 256, MAX_RAM_MB,
        doc="RAM of one planned web host (seed plan: 4 vCPU, 16 GB).",
    ),
    "web_host_cpus": _Setting(
        "fleet", "int", 4, 1, MAX_CPUS,
        doc="CPUs of one planned web host.",
    ),
    "min_web_hosts": _Setting(
        "fleet", "int", 2, 1, None,
        doc="Fewest web hosts (two: one can fail or be deployed to while the other serves).",
    ),
    "queue_jobs_per_user_per_s": _Setting(
        "fleet", "float", 0.005, 0, None,
        doc="Queued jobs per concurrent user per second (mail, grading, reports, video processing).",
    ),
    "queue_job_time_s": _Setting(
        "fleet", "float", 0.5, 0.001, None,
        doc="Mean queued job time (seconds).",
    ),
    "min_queue_workers": _Setting(
        "fleet", "int", 2, 1, None,
        doc="Fewest queue workers in the fleet.",
    ),
    "worker_host_ram_mb": _Setting(
        "fleet", "int", 4096, 256, MAX_RAM_MB,
        doc="RAM of one planned queue-worker host.",
    ),
    "worker_host_cpus": _Setting(
        "fleet", "int", 2, 1, MAX_CPUS,
        doc="CPUs of one planned queue-worker host.",
    ),
    "db_host_cpus": _Setting(
        "fleet", "int", 8, 1, MAX_CPUS,
        doc="CPUs of the planned database host (seed plan: 8 vCPU).",
    ),
    "cache_host_cpus": _Setting(
        "fleet", "int", 2, 1, MAX_CPUS,
        doc="CPUs of the planned cache host (seed plan: 2 vCPU).",
    ),
    "db_size_per_user_mb": _Setting(
        "fleet", "float", 200, 0, None,
        doc="Database size per concurrent user when the growth table has no database_size_gb "
        "(seed plan: 10 GB for 50 concurrent users).",
    ),
    "db_working_set_percent": _Setting(
        "fleet", "float", 25, 1, 100,
        doc="Share of the database that is hot and should fit the buffer pool.",
    ),
    "db_disk_factor": _Setting(
        "fleet", "float", 2, 1, None,
        doc="Database disk per GB of data: binary logs, temporary files, a local dump before upload.",
    ),
    "storage_per_user_mb": _Setting(
        "fleet", "float", 20480, 0, None,
        doc="File storage (uploads, media) per concurrent user when the growth table has no "
        "storage_gb (seed plan: 1 TB for 50 concurrent users).",
    ),
    "redis_session_kb": _Setting(
        "fleet", "float", 16, 0, None,
        doc="Memory of one session in Redis, key overhead included.",
    ),
    "sessions_per_user": _Setting(
        "fleet", "float", 5, 0, None,
        doc="Live sessions per concurrent user (sessions outlive their visit by SESSION_LIFETIME).",
    ),
    "redis_cache_base_mb": _Setting(
        "fleet", "float", 256, 0, None,
        doc="Application cache in Redis independent of users (config, routes, course catalogue).",
    ),
    "redis_cache_per_user_kb": _Setting(
        "fleet", "float", 256, 0, None,
        doc="Application cache in Redis per concurrent user (progress, rendered fragments).",
    ),
}
# fmt: on


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------


def _bounds(minimum: Number | None, maximum: Number | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    floor: bool = False,
    minimum: Number | None = None,
    maximum: Number | None = None,
    unit: str = "",
) -> Any:
    """``value`` as an int (``integer``) or float, within bounds, or a ValueError/TypeError naming ``name``.

    Numeric strings ("2048", " 0.7 ") are accepted: inventory and ``-e`` values often arrive as text.
    Booleans are refused although Python counts them as ints. With ``floor``, a fractional value is
    rounded down (MiB amounts computed in Jinja are often floats); otherwise an integer argument must
    be whole.
    """
    kind = "a whole number" if integer else "a number"
    wanted = f"{kind}{' of ' + unit if unit else ''}{_bounds(minimum, maximum)}"
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {wanted}, got a boolean ({value})")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{name} must be {wanted}, got the string {value!r}") from None
    if not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__} {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be {wanted}, got {value!r}")
        if integer:
            if floor:
                value = math.floor(value)
            elif not value.is_integer():
                raise ValueError(f"{name} must be {wanted}, got {value!r}")
            value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value if integer else float(value)


def _mib(name: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    return _number(name, value, integer=True, floor=True, minimum=minimum, maximum=maximum, unit="MiB")


def _cpus(value: Any, name: str = "cpus") -> int:
    return _number(name, value, integer=True, minimum=1, maximum=MAX_CPUS)


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value.strip().lower()


def _groups(groups: Any) -> list[str]:
    """The service groups among ``groups`` (e.g. ``group_names``), in canonical order.

    Other group names are ignored: hosts are commonly in more groups (``lab``, ``production``).
    """
    if isinstance(groups, (str, bytes)) or not isinstance(groups, (Sequence, set, frozenset)):
        raise TypeError(
            f"groups must be a list of inventory group names (e.g. group_names), got {type(groups).__name__} {groups!r}"
        )
    names = set()
    for group in groups:
        if not isinstance(group, str):
            raise TypeError(f"groups must hold group names (strings), got {type(group).__name__} {group!r}")
        names.add(group)
    return [g for g in GROUPS if g in names]


def _setting_value(name: str, spec: _Setting, value: Any) -> Any:
    label = f"setting {name}"
    if spec.kind == "choice":
        return _choice(label, value, spec.choices)
    return _number(label, value, integer=spec.kind == "int", minimum=spec.minimum, maximum=spec.maximum)


def default_settings() -> dict[str, Any]:
    """Every setting with its default value (float settings as floats)."""
    return {name: float(spec.default) if spec.kind == "float" else spec.default for name, spec in SETTINGS.items()}


def resolve_settings(settings: Any = None) -> dict[str, Any]:
    """Defaults overridden by ``settings``, validated.

    ``None`` (or a missing ``settings``) means no override; a setting whose value is None keeps its
    default. 0 and other falsy values are kept as given. Unknown names are an error.
    """
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise TypeError(
            f"settings must be a mapping of capacity setting names to values, got {type(settings).__name__}"
        )
    unknown = sorted(str(k) for k in settings if k not in SETTINGS)
    if unknown:
        raise ValueError(
            "unknown capacity setting(s) {}; known settings: {}".format(", ".join(unknown), ", ".join(sorted(SETTINGS)))
        )
    resolved = default_settings()
    for name, value in settings.items():
        if value is not None:
            resolved[name] = _setting_value(name, SETTINGS[name], value)
    if resolved["reserve_max_mb"] < resolved["reserve_min_mb"]:
        raise ValueError(
            f"setting reserve_max_mb ({resolved['reserve_max_mb']}) must not be less than "
            f"reserve_min_mb ({resolved['reserve_min_mb']})"
        )
    if resolved["innodb_redo_max_mb"] < resolved["innodb_redo_min_mb"]:
        raise ValueError(
            f"setting innodb_redo_max_mb ({resolved['innodb_redo_max_mb']}) must not be less than "
            f"innodb_redo_min_mb ({resolved['innodb_redo_min_mb']})"
        )
    return resolved


def _merge_settings(base: Any, extra: Any) -> dict[str, Any]:
    """Two settings mappings, ``extra`` winning; both validated."""
    merged: dict[str, Any] = {}
    for part in (base, extra):
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise TypeError(
                f"settings must be a mapping of capacity setting names to values, got {type(part).__name__}"
            )
        merged.update(part)
    resolve_settings(merged)
    return merged


# --------------------------------------------------------------------------------------------------
# 1. Memory budget of one host
# --------------------------------------------------------------------------------------------------


def _php_split(budget: int, rss: int, opcache_mb: int) -> tuple[int, int]:
    """(workers, OPcache MiB) of a PHP-FPM budget.

    OPcache gets the setting, shrunk to a quarter of a small budget but not below 8 MiB (its
    minimum); when that leaves no room for a worker, one worker gets ``rss`` and OPcache the rest.
    The worker count never decreases as the budget grows.
    """
    if opcache_mb <= 0:
        return budget // rss, 0
    smallest = min(opcache_mb, _OPCACHE_MIN_MB)
    opcache = max(min(opcache_mb, budget // 4), smallest)
    workers = (budget - opcache) // rss
    if workers < 1 and budget - smallest >= rss:
        return 1, min(opcache_mb, budget - rss)
    return max(0, workers), opcache


def php_min_budget(children: int, rss: int, opcache_mb: int) -> int:
    """Smallest PHP-FPM budget (MiB) that fits ``children`` workers of ``rss`` MiB plus OPcache."""
    low, high = children * rss, children * rss + max(opcache_mb, _OPCACHE_MIN_MB)
    while low < high:
        middle = (low + high) // 2
        if _php_split(middle, rss, opcache_mb)[0] >= children:
            high = middle
        else:
            low = middle + 1
    return low


def _split(pool: int, weights: Mapping[str, float], minimums: Mapping[str, int]) -> dict[str, int]:
    """``pool`` MiB shared by weight; a share below its minimum is raised to it, the rest re-shared.

    The caller guarantees ``pool >= sum(minimums)``; shares are rounded down, so they never sum past
    ``pool``.
    """
    result: dict[str, int] = {}
    active = dict(weights)
    remaining = pool
    while active:
        total = sum(active.values())
        shares = {name: remaining * weight / total for name, weight in active.items()}
        below = [name for name, share in shares.items() if share < minimums[name]]
        if not below:
            for name, share in shares.items():
                result[name] = int(share)
            break
        for name in below:
            result[name] = minimums[name]
            remaining -= minimums[name]
            del active[name]
    return result


def _reserve(ram: int, s: Mapping[str, Any]) -> int:
    share = int(ram * s["reserve_percent"] / 100)
    return min(max(s["reserve_min_mb"], share), s["reserve_max_mb"])


def memory_budget(ram_mb: Any, groups: Any, settings: Any = None, cpus: Any = None) -> dict[str, Any]:
    """How one host's RAM is shared between the OS and the services of its groups.

    ``ram_mb`` is the host's RAM in MiB, ``groups`` its inventory groups (``group_names``; groups
    other than loadbalancers, web, workers, db, cache, monitoring are ignored), ``cpus`` its CPU count
    (only used for the automatic queue worker count; 1 when unknown).

    The parts (``other_mb``, ``workers_mb``, ``php_fpm_mb``, ``mysql_mb``, ``redis_mb``) never sum past
    ``ram_mb - reserve_mb``; ``free_mb`` is the rest (rounding, or the page cache of hosts without a
    heavy service). Raises ValueError when the RAM cannot hold the services at their minimums.
    """
    s = resolve_settings(settings)
    ram = _mib("ram_mb", ram_mb, minimum=1, maximum=MAX_RAM_MB)
    ncpus = 1 if cpus is None else _cpus(cpus)
    present = _groups(groups)

    reserve = _reserve(ram, s)
    usable = ram - reserve
    nginx = s["nginx_mb"] if ("web" in present or "loadbalancers" in present) else 0
    monitoring = s["monitoring_mb"] if "monitoring" in present else 0
    fixed = nginx + monitoring

    weights: dict[str, float] = {}
    minimums: dict[str, int] = {}
    if "web" in present:
        weights["php"] = s["php_weight"]
        minimums["php"] = php_min_budget(s["php_min_children"], s["php_worker_rss_mb"], s["php_opcache_mb"])
    if "db" in present:
        weights["db"] = s["db_weight"]
        minimums["db"] = s["innodb_min_mb"] + s["mysql_overhead_min_mb"]
    if "cache" in present:
        weights["redis"] = s["redis_weight"]
        minimums["redis"] = s["redis_min_mb"]
    heavy_min = sum(minimums.values())

    worker_rss = s["queue_worker_rss_mb"]
    workers_min = 0
    if "workers" in present:
        workers_min = (s["queue_workers"] or 1) * worker_rss

    needed = fixed + workers_min + heavy_min
    if needed > usable:
        parts = [f"OS reserve {reserve}"]
        if nginx:
            parts.append(f"nginx {nginx}")
        if monitoring:
            parts.append(f"prometheus {monitoring}")
        if workers_min:
            parts.append(f"{workers_min // worker_rss} queue worker(s) {workers_min}")
        labels = {"php": "php-fpm", "db": "mysql", "redis": "redis"}
        parts.extend(f"{labels[name]} {minimum}" for name, minimum in minimums.items())
        raise ValueError(
            f"ram_mb {ram} MiB is too small for the groups {', '.join(present) or '(none)'}: they need at least "
            f"{reserve + needed} MiB ({', '.join(parts)}, in MiB)"
        )

    workers = 0
    if "workers" in present:
        if s["queue_workers"]:
            workers = s["queue_workers"]
        else:
            wanted = min(max(1, ncpus * s["queue_workers_per_cpu"]), s["queue_workers_max"])
            share = 1.0 if not weights else s["queue_workers_shared_percent"] / 100
            by_share = int((usable - fixed) * share) // worker_rss
            by_room = (usable - fixed - heavy_min) // worker_rss
            workers = max(1, min(wanted, by_share, by_room))
    workers_mb = workers * worker_rss

    shares = _split(usable - fixed - workers_mb, weights, minimums)
    php = shares.get("php", 0)
    mysql = shares.get("db", 0)
    redis = shares.get("redis", 0)
    overhead = 0
    innodb = 0
    if mysql:
        overhead = max(s["mysql_overhead_min_mb"], int(mysql * s["mysql_overhead_percent"] / 100))
        overhead = min(overhead, mysql - s["innodb_min_mb"])
        innodb = mysql - overhead

    services = []
    if nginx:
        services.append("nginx")
    if php:
        services.append("php-fpm")
    if workers:
        services.append("queue-workers")
    if mysql:
        services.append("mysql")
    if redis:
        services.append("redis")
    if monitoring:
        services.append("prometheus")

    used = fixed + workers_mb + php + mysql + redis
    return {
        "ram_mb": ram,
        "cpus": ncpus,
        "groups": present,
        "services": services,
        "reserve_mb": reserve,
        "usable_mb": usable,
        "nginx_mb": nginx,
        "monitoring_mb": monitoring,
        "other_mb": fixed,
        "queue_workers": workers,
        "queue_worker_rss_mb": worker_rss if workers else 0,
        "workers_mb": workers_mb,
        "php_fpm_mb": php,
        "mysql_mb": mysql,
        "innodb_mb": innodb,
        "mysql_overhead_mb": overhead,
        "redis_mb": redis,
        "free_mb": usable - used,
    }


# --------------------------------------------------------------------------------------------------
# 2. PHP-FPM pool
# --------------------------------------------------------------------------------------------------


def php_fpm_pool(budget_mb: Any, worker_rss_mb: Any = None, cpus: Any = None, settings: Any = None) -> dict[str, Any]:
    """A PHP-FPM pool that fits ``budget_mb`` MiB, valid for php-fpm whatever the input.

    ``max_children = (budget_mb - opcache_memory_mb) // worker_rss_mb``, capped at
    ``cpus × php_max_children_per_cpu``; raises ValueError when not even one worker fits.
    ``worker_rss_mb`` defaults to the setting php_worker_rss_mb; ``cpus`` (unknown: 1) sets the spare
    servers and the CPU cap (no cap when unknown).

    ``pm``: the setting php_pm, or with ``auto`` ``ondemand`` below php_ondemand_below workers (a small
    pool on a small host gives idle memory back) and ``dynamic`` otherwise. Spare servers always
    satisfy ``1 <= min_spare_servers <= start_servers <= max_spare_servers <= max_children``, whatever
    ``pm`` is, so the values can always be written to the pool file.
    """
    s = resolve_settings(settings)
    budget = _mib("budget_mb", budget_mb, minimum=1)
    rss = s["php_worker_rss_mb"] if worker_rss_mb is None else _mib("worker_rss_mb", worker_rss_mb, minimum=8)
    ncpus = None if cpus is None else _cpus(cpus)

    by_memory, opcache = _php_split(budget, rss, s["php_opcache_mb"])
    if by_memory < 1:
        raise ValueError(
            f"budget_mb {budget} MiB cannot hold one PHP-FPM worker of {rss} MiB and OPcache; give PHP-FPM at "
            f"least {php_min_budget(1, rss, s['php_opcache_mb'])} MiB"
        )
    max_children = by_memory
    limited_by = "memory"
    if ncpus is not None and s["php_max_children_per_cpu"] > 0:
        by_cpu = ncpus * s["php_max_children_per_cpu"]
        if by_cpu < by_memory:
            max_children = by_cpu
            limited_by = "cpu"

    pm = s["php_pm"]
    if pm == "auto":
        pm = "ondemand" if max_children < s["php_ondemand_below"] else "dynamic"

    spare_cpus = ncpus or 1
    min_spare = min(max(1, spare_cpus * s["php_min_spare_per_cpu"]), max_children)
    max_spare = min(max(min_spare, spare_cpus * s["php_max_spare_per_cpu"]), max_children)
    start = min_spare + (max_spare - min_spare) // 2  # php-fpm's own default for start_servers

    return {
        "pm": pm,
        "max_children": max_children,
        "start_servers": start,
        "min_spare_servers": min_spare,
        "max_spare_servers": max_spare,
        "max_requests": s["php_max_requests"],
        "process_idle_timeout": f"{s['php_process_idle_timeout_s']}s",
        "worker_rss_mb": rss,
        "opcache_memory_mb": opcache,
        "memory_mb": max_children * rss + opcache,
        "budget_mb": budget,
        "limited_by": limited_by,
    }


# --------------------------------------------------------------------------------------------------
# 3. InnoDB
# --------------------------------------------------------------------------------------------------


def innodb_settings(budget_mb: Any, cpus: Any = None, settings: Any = None) -> dict[str, Any]:
    """InnoDB buffer pool geometry and redo log size for a buffer pool budget of ``budget_mb`` MiB.

    MySQL rounds the buffer pool UP to a multiple of chunk size × instances, which can overshoot the
    budget; here it is rounded DOWN instead. Instances: 1 below 1 GiB, else one per GiB up to
    innodb_instances_max and never more than ``cpus``. The chunk (innodb_chunk_mb) is halved until
    every instance holds at least 8 chunks, so rounding loses at most an eighth of a small budget.
    The redo log is innodb_redo_percent of the pool within [innodb_redo_min_mb, innodb_redo_max_mb];
    ``redo_log_capacity_mb`` (MySQL >= 8.0.30) and ``log_file_size_mb`` (MariaDB, one file) carry the
    same number. MariaDB >= 10.5 ignores the instance count; the pool is a multiple of the chunk all
    the same.
    """
    s = resolve_settings(settings)
    budget = _mib("budget_mb", budget_mb, minimum=_INNODB_MIN_BUDGET_MB)
    ncpus = None if cpus is None else _cpus(cpus)

    instances = 1
    if budget >= 1024:
        instances = min(s["innodb_instances_max"], budget // 1024)
        if ncpus is not None:
            instances = min(instances, ncpus)
    chunk = s["innodb_chunk_mb"]
    while chunk > 1 and budget < chunk * instances * _CHUNKS_PER_INSTANCE_MIN:
        chunk //= 2
    unit = chunk * instances
    pool = budget // unit * unit

    redo = int(pool * s["innodb_redo_percent"] / 100)
    redo = min(max(redo, s["innodb_redo_min_mb"]), s["innodb_redo_max_mb"])
    return {
        "buffer_pool_size_mb": pool,
        "buffer_pool_instances": instances,
        "buffer_pool_chunk_size_mb": chunk,
        "redo_log_capacity_mb": redo,
        "log_file_size_mb": redo,
        "budget_mb": budget,
        "unused_mb": budget - pool,
    }


# --------------------------------------------------------------------------------------------------
# 4. MySQL connections
# --------------------------------------------------------------------------------------------------


def _pool_children(index: int, pool: Any) -> int:
    if isinstance(pool, Mapping):
        if "max_children" not in pool:
            raise ValueError(
                f"web_pools[{index}] must be a PHP-FPM pool with max_children (a php_fpm_pool result) "
                f"or a number of workers; it has the keys {', '.join(sorted(map(str, pool))) or '(none)'}"
            )
        pool = pool["max_children"]
    return _number(f"web_pools[{index}] max_children", pool, integer=True, minimum=0)


def _count_list(name: str, value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return sum(_number(f"{name}[{i}]", v, integer=True, minimum=0) for i, v in enumerate(value))
    return _number(name, value, integer=True, minimum=0)


def mysql_max_connections(
    web_pools: Any,
    worker_count: Any = 0,
    extra_connections: Any = None,
    headroom_percent: Any = None,
    settings: Any = None,
) -> dict[str, Any]:
    """The database connection budget of a fleet.

    ``web_pools``: one entry per web host, either its pool (a php_fpm_pool result; None entries are
    skipped) or its max_children. ``worker_count``: queue worker processes, a number or a list of
    per-host counts. Each PHP and queue worker can hold one connection; ``extra_connections``
    (default: setting mysql_extra_connections) covers exporters, backups and admins;
    ``headroom_percent`` (default: setting mysql_headroom_percent) is added on top and rounded up.
    ``memory_mb`` estimates what the server needs outside the buffer pool with every connection open
    (mysql_base_mb + max_connections × mysql_per_connection_mb).
    """
    s = resolve_settings(settings)
    if isinstance(web_pools, (str, bytes, Mapping)) or not isinstance(web_pools, Sequence):
        raise TypeError(
            "web_pools must be a list with one PHP-FPM pool (or max_children number) per web host, "
            f"got {type(web_pools).__name__}"
        )
    php = sum(_pool_children(i, pool) for i, pool in enumerate(web_pools) if pool is not None)
    workers = _count_list("worker_count", worker_count)
    extra = (
        s["mysql_extra_connections"]
        if extra_connections is None
        else _number("extra_connections", extra_connections, integer=True, minimum=0)
    )
    headroom = (
        s["mysql_headroom_percent"]
        if headroom_percent is None
        else _number("headroom_percent", headroom_percent, minimum=0, maximum=1000)
    )
    needed = php + workers + extra
    total = max(1, math.ceil(needed * (100 + headroom) / 100 - 1e-9))
    per_connection = s["mysql_per_connection_mb"]
    connections_mb = math.ceil(total * per_connection)
    return {
        "max_connections": total,
        "php_connections": php,
        "worker_connections": workers,
        "extra_connections": extra,
        "needed_connections": needed,
        "headroom_percent": headroom,
        "headroom_connections": total - needed,
        "per_connection_mb": per_connection,
        "connections_memory_mb": connections_mb,
        "memory_mb": s["mysql_base_mb"] + connections_mb,
    }


# --------------------------------------------------------------------------------------------------
# 5. Redis
# --------------------------------------------------------------------------------------------------

_REDIS_POLICIES = {"cache": "allkeys-lru", "sessions": "noeviction", "queue": "noeviction", "mixed": "noeviction"}


def redis_maxmemory(budget_mb: Any, persistence: Any = None, use: Any = None, settings: Any = None) -> dict[str, Any]:
    """Redis ``maxmemory`` and eviction policy for a Redis slice of ``budget_mb`` MiB.

    ``persistence`` (none, rdb, aof, rdb+aof; default: setting redis_persistence): with any, a forked
    child writes the snapshot or rewrites the AOF while the parent keeps changing pages, so up to the
    dataset's size may be copied: maxmemory is redis_maxmemory_percent_persistent of the budget and
    the rest is ``fork_headroom_mb``. Without, redis_maxmemory_percent (the rest absorbs
    fragmentation and client buffers). ``use`` (cache, sessions, queue, mixed; default: setting
    redis_use): ``allkeys-lru`` only for a pure cache; ``noeviction`` otherwise, because silently
    evicting a session or a queued job is worse than an error the application reports.
    """
    s = resolve_settings(settings)
    budget = _mib("budget_mb", budget_mb, minimum=_REDIS_MIN_BUDGET_MB)
    mode = (
        s["redis_persistence"]
        if persistence is None
        else _choice("persistence", persistence, SETTINGS["redis_persistence"].choices)
    )
    purpose = s["redis_use"] if use is None else _choice("use", use, SETTINGS["redis_use"].choices)
    persistent = mode != "none"
    percent = s["redis_maxmemory_percent_persistent"] if persistent else s["redis_maxmemory_percent"]
    maxmemory = max(1, int(budget * percent / 100))
    return {
        "maxmemory_mb": maxmemory,
        "maxmemory_policy": _REDIS_POLICIES[purpose],
        "fork_headroom_mb": budget - maxmemory if persistent else 0,
        "persistence": mode,
        "appendonly": mode in ("aof", "rdb+aof"),
        "snapshots": mode in ("rdb", "rdb+aof"),
        "use": purpose,
        "budget_mb": budget,
    }


# --------------------------------------------------------------------------------------------------
# 7a. One call per host
# --------------------------------------------------------------------------------------------------


def host_capacity(ram_mb: Any, cpus: Any, groups: Any, settings: Any = None) -> dict[str, Any]:
    """Every memory size of one host in one call: its budget and each of its services' settings.

    ``php_fpm`` (web), ``innodb`` (db) and ``redis`` (cache) are None on hosts without that service;
    ``queue_workers`` is 0 on hosts outside ``workers``.
    """
    budget = memory_budget(ram_mb, groups, settings, cpus=cpus)
    ncpus = budget["cpus"]
    return {
        "ram_mb": budget["ram_mb"],
        "cpus": ncpus,
        "groups": budget["groups"],
        "services": budget["services"],
        "budget": budget,
        "php_fpm": php_fpm_pool(budget["php_fpm_mb"], None, ncpus, settings) if budget["php_fpm_mb"] else None,
        "innodb": innodb_settings(budget["innodb_mb"], ncpus, settings) if budget["innodb_mb"] else None,
        "redis": redis_maxmemory(budget["redis_mb"], None, None, settings) if budget["redis_mb"] else None,
        "queue_workers": budget["queue_workers"],
    }


# --------------------------------------------------------------------------------------------------
# 7b. Inventory-wide consistency
# --------------------------------------------------------------------------------------------------

_HOST_KEYS = ("name", "ram_mb", "cpus", "groups")
_HOST_OVERRIDES = (
    "php_max_children",
    "queue_workers",
    "innodb_buffer_pool_mb",
    "redis_maxmemory_mb",
    "mysql_max_connections",
)


def _host_entry(index: int, host: Any, seen: set) -> dict[str, Any]:
    if not isinstance(host, Mapping):
        raise TypeError(
            f"hosts[{index}] must be a mapping with name, ram_mb, cpus and groups, got {type(host).__name__}"
        )
    label = f"hosts[{index}]" + (f" ({host['name']!r})" if isinstance(host.get("name"), str) else "")
    missing = [key for key in _HOST_KEYS if key not in host]
    if missing:
        raise ValueError(f"{label} is missing {', '.join(missing)} (each host needs {', '.join(_HOST_KEYS)})")
    unknown = sorted(str(k) for k in host if k not in _HOST_KEYS + _HOST_OVERRIDES + ("settings",))
    if unknown:
        raise ValueError(
            f"{label} has unknown key(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(_HOST_KEYS + _HOST_OVERRIDES + ('settings',))}"
        )
    name = host["name"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"hosts[{index}] name must be a non-empty string, got {name!r}")
    if name in seen:
        raise ValueError(f"hosts[{index}] repeats the host name {name!r}")
    seen.add(name)
    entry = {
        "name": name,
        "ram_mb": _mib(f"{label} ram_mb", host["ram_mb"], minimum=1, maximum=MAX_RAM_MB),
        "cpus": _cpus(host["cpus"], f"{label} cpus"),
        "groups": _groups(host["groups"]),
        "settings": host.get("settings"),
    }
    for key in _HOST_OVERRIDES:
        value = host.get(key)
        entry[key] = None if value is None else _number(f"{label} {key}", value, integer=True, minimum=0)
    return entry


def _problem(host: str, check: str, message: str) -> dict[str, str]:
    return {"host": host, "check": check, "message": message}


def capacity_check(hosts: Any, settings: Any = None) -> list[dict[str, str]]:
    """Inventory-wide consistency problems; an empty list means consistent.

    ``hosts``: one mapping per host with ``name``, ``ram_mb``, ``cpus``, ``groups`` and optionally
    ``settings`` (merged over ``settings``) and the values a role was told to use instead of the
    computed ones: ``php_max_children``, ``queue_workers``, ``innodb_buffer_pool_mb``,
    ``redis_maxmemory_mb``, ``mysql_max_connections``. Malformed input raises; a capacity problem is
    returned as ``{host, check, message}`` (``host`` is ``all`` for fleet-wide problems). Checks:

    - ``fit``: the host's RAM cannot hold its services at their minimums;
    - ``memory``: with the overrides, the host commits more than its RAM;
    - ``topology``: web or workers hosts without a db or cache host, loadbalancers without web hosts;
    - ``connections``: a db host's max_connections is below what the PHP and queue workers (plus
      the extra connections) can open at once;
    - ``mysql_memory``: a db host's memory outside the buffer pool cannot hold its max_connections.
    """
    base = resolve_settings(settings) if settings is not None else None
    if isinstance(hosts, (str, bytes, Mapping)) or not isinstance(hosts, Sequence):
        raise TypeError(f"hosts must be a list of per-host mappings, got {type(hosts).__name__}")
    seen: set = set()
    entries = [_host_entry(i, host, seen) for i, host in enumerate(hosts)]

    problems: list[dict[str, str]] = []
    capacities: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name = entry["name"]
        merged = _merge_settings(base, entry["settings"])
        entry["resolved"] = resolve_settings(merged)
        if entry["queue_workers"] is not None and "workers" in entry["groups"]:
            merged["queue_workers"] = entry["queue_workers"] or None
        try:
            capacity = host_capacity(entry["ram_mb"], entry["cpus"], entry["groups"], merged)
        except ValueError as exc:
            problems.append(_problem(name, "fit", str(exc)))
            continue
        capacities[name] = capacity
        committed = _committed(entry, capacity)
        total = sum(committed.values())
        if total > entry["ram_mb"]:
            parts = ", ".join(f"{part} {mb}" for part, mb in committed.items() if mb)
            problems.append(
                _problem(
                    name,
                    "memory",
                    f"{name} commits {total} MiB but has {entry['ram_mb']} MiB of RAM ({parts}, in MiB); "
                    "lower the overrides or give the host more memory",
                )
            )

    def members(group: str) -> list[dict[str, Any]]:
        return [e for e in entries if group in e["groups"]]

    web, workers, db, cache = members("web"), members("workers"), members("db"), members("cache")
    if (web or workers) and not db:
        problems.append(_problem("all", "topology", "there are web or workers hosts but no db host"))
    if (web or workers) and not cache:
        problems.append(
            _problem(
                "all",
                "topology",
                "there are web or workers hosts but no cache host (sessions, cache and queue use Redis)",
            )
        )
    if members("loadbalancers") and not web:
        problems.append(_problem("all", "topology", "there are loadbalancers hosts but no web host to send traffic to"))

    php_total = 0
    for entry in web:
        if entry["php_max_children"] is not None:
            php_total += entry["php_max_children"]
        elif entry["name"] in capacities:
            php_total += capacities[entry["name"]]["php_fpm"]["max_children"]
    workers_total = 0
    for entry in workers:
        if entry["queue_workers"]:
            workers_total += entry["queue_workers"]
        elif entry["name"] in capacities:
            workers_total += capacities[entry["name"]]["queue_workers"]

    for entry in db:
        s = entry["resolved"]
        budget = mysql_max_connections([php_total], workers_total, settings=s)
        allowed = entry["mysql_max_connections"]
        if allowed is None:
            allowed = budget["max_connections"]
        elif allowed < budget["needed_connections"]:
            problems.append(
                _problem(
                    entry["name"],
                    "connections",
                    f"max_connections {allowed} is below the {budget['needed_connections']} connections the fleet can "
                    f"open at once ({php_total} PHP-FPM workers + {workers_total} queue workers + "
                    f"{budget['extra_connections']} extra); raise it to at least {budget['max_connections']} or "
                    "lower the pools",
                )
            )
        capacity = capacities.get(entry["name"])
        if capacity is None:
            continue
        needed_mb = s["mysql_base_mb"] + math.ceil(allowed * s["mysql_per_connection_mb"])
        have_mb = capacity["budget"]["mysql_overhead_mb"] + capacity["innodb"]["unused_mb"]
        if entry["innodb_buffer_pool_mb"] is not None:
            have_mb = capacity["budget"]["mysql_mb"] - entry["innodb_buffer_pool_mb"]
        if needed_mb > have_mb:
            problems.append(
                _problem(
                    entry["name"],
                    "mysql_memory",
                    f"{allowed} connections need about {needed_mb} MiB outside the buffer pool "
                    f"({s['mysql_base_mb']} MiB server + {s['mysql_per_connection_mb']:g} MiB each) but only "
                    f"{have_mb} MiB is left there; give the db host more memory, a smaller buffer pool or fewer "
                    "PHP workers",
                )
            )
    return problems


def _committed(entry: Mapping[str, Any], capacity: Mapping[str, Any]) -> dict[str, int]:
    """What a host commits, in MiB, with its overrides applied."""
    budget = capacity["budget"]
    s = entry["resolved"]
    committed = {
        "reserve": budget["reserve_mb"],
        "nginx": budget["nginx_mb"],
        "prometheus": budget["monitoring_mb"],
        "queue workers": budget["workers_mb"],
        "php-fpm": budget["php_fpm_mb"],
        "mysql": budget["mysql_mb"],
        "redis": budget["redis_mb"],
    }
    pool = capacity["php_fpm"]
    if pool is not None and entry["php_max_children"] is not None:
        committed["php-fpm"] = entry["php_max_children"] * pool["worker_rss_mb"] + pool["opcache_memory_mb"]
    if capacity["innodb"] is not None and entry["innodb_buffer_pool_mb"] is not None:
        committed["mysql"] = budget["mysql_overhead_mb"] + entry["innodb_buffer_pool_mb"]
    redis = capacity["redis"]
    if redis is not None and entry["redis_maxmemory_mb"] is not None:
        percent = (
            s["redis_maxmemory_percent_persistent"] if redis["persistence"] != "none" else s["redis_maxmemory_percent"]
        )
        committed["redis"] = math.ceil(entry["redis_maxmemory_mb"] * 100 / percent)
    return committed


# --------------------------------------------------------------------------------------------------
# 6. Fleet sizing from expected load
# --------------------------------------------------------------------------------------------------


def _smallest_host(fits: Any, cpus: int, groups: list[str], settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The capacity of the smallest standard RAM size for which ``fits(capacity)`` holds, or None."""
    for gib in STANDARD_RAM_GIB:
        try:
            capacity = host_capacity(gib * 1024, cpus, groups, settings)
        except ValueError:
            continue
        if fits(capacity):
            return capacity
    return None


def fleet_plan(
    concurrent_users: Any, settings: Any = None, database_size_gb: Any = None, storage_gb: Any = None
) -> dict[str, Any]:
    """Hosts and sizes for ``concurrent_users`` users at once.

    PHP: requests/s = users × requests_per_user_per_s; busy workers = requests/s × php_request_time_s
    (Little's law); workers needed = busy / target_utilisation; CPUs needed = requests/s ×
    php_cpu_time_s / target_utilisation. Web hosts (web_host_ram_mb, web_host_cpus, sized by
    host_capacity) = the most of workers needed / max_children per host, CPUs needed / CPUs per host and
    min_web_hosts. Queue workers likewise from queue_jobs_per_user_per_s × queue_job_time_s.
    Database: size ``database_size_gb`` (GB taken as GiB) or users × db_size_per_user_mb, of which
    db_working_set_percent should fit the buffer pool; the db host is the smallest standard RAM size
    (db_host_cpus) whose buffer pool holds it and whose memory outside the pool holds the fleet's
    max_connections. Redis: sessions plus cache, on the smallest cache host whose maxmemory holds them.
    Disk: the database × db_disk_factor, plus file storage (``storage_gb`` or users ×
    storage_per_user_mb). ``notes`` explains anything the standard sizes cannot hold.
    """
    s = resolve_settings(settings)
    users = _number("concurrent_users", concurrent_users, integer=True, minimum=0)
    util = s["target_utilisation"]
    notes: list[str] = []

    requests = users * s["requests_per_user_per_s"]
    busy = requests * s["php_request_time_s"]
    workers_needed = max(1, math.ceil(busy / util - 1e-9))
    cpus_needed = requests * s["php_cpu_time_s"] / util

    web = host_capacity(s["web_host_ram_mb"], s["web_host_cpus"], ["web"], s)
    children = web["php_fpm"]["max_children"]
    by_workers = math.ceil(workers_needed / children)
    by_cpu = math.ceil(cpus_needed / s["web_host_cpus"] - 1e-9)
    web_hosts = max(s["min_web_hosts"], by_workers, by_cpu)
    if s["min_web_hosts"] >= max(by_workers, by_cpu):
        limited_by = "minimum"
    elif by_cpu >= by_workers:
        limited_by = "cpu"
    else:
        limited_by = "workers"

    jobs_busy = users * s["queue_jobs_per_user_per_s"] * s["queue_job_time_s"]
    queue_needed = max(s["min_queue_workers"], math.ceil(jobs_busy / util - 1e-9))
    worker_host = host_capacity(s["worker_host_ram_mb"], s["worker_host_cpus"], ["workers"], s)
    per_worker_host = worker_host["queue_workers"]
    worker_hosts = math.ceil(queue_needed / per_worker_host)

    connections = mysql_max_connections([children] * web_hosts, worker_hosts * per_worker_host, settings=s)

    if database_size_gb is None:
        db_size_mb = math.ceil(users * s["db_size_per_user_mb"])
    else:
        db_size_mb = math.ceil(_number("database_size_gb", database_size_gb, minimum=0) * 1024)
    working_set = math.ceil(db_size_mb * s["db_working_set_percent"] / 100)
    connections_mb = connections["memory_mb"]

    def db_fits(capacity: Mapping[str, Any]) -> bool:
        innodb = capacity["innodb"]
        outside = capacity["budget"]["mysql_overhead_mb"] + innodb["unused_mb"]
        return innodb["buffer_pool_size_mb"] >= working_set and outside >= connections_mb

    db_host = _smallest_host(db_fits, s["db_host_cpus"], ["db"], s)
    if db_host is None:
        notes.append(
            f"no single db host up to {STANDARD_RAM_GIB[-1]} GiB holds a {working_set} MiB working set: "
            "split the data or add read replicas"
        )

    redis_needed = math.ceil(
        users * s["sessions_per_user"] * s["redis_session_kb"] / 1024
        + s["redis_cache_base_mb"]
        + users * s["redis_cache_per_user_kb"] / 1024
    )
    cache_host = _smallest_host(
        lambda c: c["redis"]["maxmemory_mb"] >= redis_needed, s["cache_host_cpus"], ["cache"], s
    )
    if cache_host is None:
        notes.append(f"no single cache host up to {STANDARD_RAM_GIB[-1]} GiB holds {redis_needed} MiB of Redis data")

    if storage_gb is None:
        storage = users * s["storage_per_user_mb"] / 1024
    else:
        storage = _number("storage_gb", storage_gb, minimum=0)
    db_disk = db_size_mb / 1024 * s["db_disk_factor"]

    return {
        "concurrent_users": users,
        "php_requests_per_s": round(requests, 2),
        "php_busy_workers": round(busy, 2),
        "php_workers_needed": workers_needed,
        "php_cpus_needed": round(cpus_needed, 2),
        "web_host": {
            "ram_mb": web["ram_mb"],
            "cpus": web["cpus"],
            "max_children": children,
            "pm": web["php_fpm"]["pm"],
        },
        "web_hosts": web_hosts,
        "web_hosts_limited_by": limited_by,
        "php_workers": web_hosts * children,
        "queue_workers_needed": queue_needed,
        "worker_host": {
            "ram_mb": worker_host["ram_mb"],
            "cpus": worker_host["cpus"],
            "queue_workers": per_worker_host,
        },
        "worker_hosts": worker_hosts,
        "queue_workers": worker_hosts * per_worker_host,
        "mysql_max_connections": connections["max_connections"],
        "mysql_connections_memory_mb": connections_mb,
        "db_size_mb": db_size_mb,
        "db_working_set_mb": working_set,
        "db_host_ram_mb": db_host["ram_mb"] if db_host else None,
        "db_host_cpus": s["db_host_cpus"],
        "db_buffer_pool_mb": db_host["innodb"]["buffer_pool_size_mb"] if db_host else None,
        "redis_needed_mb": redis_needed,
        "cache_host_ram_mb": cache_host["ram_mb"] if cache_host else None,
        "redis_maxmemory_mb": cache_host["redis"]["maxmemory_mb"] if cache_host else None,
        "db_disk_gb": round(db_disk, 1),
        "storage_gb": round(storage, 1),
        "disk_gb": round(db_disk + storage, 1),
        "notes": notes,
    }


_ROW_KEYS = ("year", "concurrent_users", "database_size_gb", "storage_gb", "label")


def growth_plan(table: Any, settings: Any = None) -> list[dict[str, Any]]:
    """``fleet_plan`` for every row of a growth table, with the disk growth per year.

    ``table``: rows ``{year, concurrent_users}`` with optional ``database_size_gb``, ``storage_gb``
    (used instead of the per-user estimates) and ``label``, in strictly increasing ``year`` order
    (0 = now). Each result is the row's fleet_plan plus ``year``, ``label`` and, from the second row
    on, ``disk_growth_gb_per_year``, ``db_disk_growth_gb_per_year`` and
    ``storage_growth_gb_per_year`` (the change since the previous row divided by the years between
    them; None on the first row).
    """
    s = resolve_settings(settings)
    if isinstance(table, (str, bytes, Mapping)) or not isinstance(table, Sequence):
        raise TypeError(f"table must be a list of rows with year and concurrent_users, got {type(table).__name__}")
    if not table:
        raise ValueError("table must have at least one row with year and concurrent_users")
    plans: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for index, row in enumerate(table):
        if not isinstance(row, Mapping):
            raise TypeError(
                f"table[{index}] must be a mapping with year and concurrent_users, got {type(row).__name__}"
            )
        missing = [key for key in ("year", "concurrent_users") if key not in row]
        if missing:
            raise ValueError(f"table[{index}] is missing {', '.join(missing)}")
        unknown = sorted(str(k) for k in row if k not in _ROW_KEYS)
        if unknown:
            raise ValueError(f"table[{index}] has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_ROW_KEYS)}")
        year = _number(f"table[{index}] year", row["year"], integer=True, minimum=0, maximum=100)
        if previous is not None and year <= previous["year"]:
            raise ValueError(f"table[{index}] year {year} must come after year {previous['year']} of the row before")
        try:
            plan = fleet_plan(row["concurrent_users"], s, row.get("database_size_gb"), row.get("storage_gb"))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"table[{index}]: {exc}") from None
        label = row.get("label")
        plan["year"] = year
        plan["label"] = str(label) if label is not None else ("now" if year == 0 else f"year {year}")
        for key in ("disk_gb", "db_disk_gb", "storage_gb"):
            growth_key = key.replace("_gb", "_growth_gb_per_year")
            if previous is None:
                plan[growth_key] = None
            else:
                plan[growth_key] = round((plan[key] - previous[key]) / (year - previous["year"]), 1)
        plans.append(plan)
        previous = plan
    return plans
