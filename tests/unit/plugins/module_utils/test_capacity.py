from __future__ import annotations

import itertools
import math

import pytest
from ansible_collections.lmsops.stack.plugins.module_utils import _capacity as cap

GROUPS = cap.GROUPS
ALL_COMBINATIONS = [list(c) for n in range(len(GROUPS) + 1) for c in itertools.combinations(GROUPS, n)]
DEFAULTS = cap.default_settings()
PARTS = ("nginx_mb", "monitoring_mb", "workers_mb", "php_fpm_mb", "mysql_mb", "redis_mb")

# The seed plan's growth table (operations plan 000, section 9.1): current, years 1, 2, 3 and 5.
SEED_GROWTH = [
    {"year": 0, "concurrent_users": 50, "database_size_gb": 10, "storage_gb": 1000},
    {"year": 1, "concurrent_users": 150, "database_size_gb": 30, "storage_gb": 3000},
    {"year": 2, "concurrent_users": 450, "database_size_gb": 90, "storage_gb": 9000},
    {"year": 3, "concurrent_users": 900, "database_size_gb": 180, "storage_gb": 18000},
    {"year": 5, "concurrent_users": 2250, "database_size_gb": 450, "storage_gb": 45000},
]


def lab(ram_mb=2048, cpus=2, **extra):
    """One host per group, like inventories/lab."""
    return [dict(name=f"lab-{group}", ram_mb=ram_mb, cpus=cpus, groups=[group], **extra) for group in GROUPS]


def lab_with(group, **overrides):
    """The lab with overrides on the host of ``group``."""
    return [dict(host, **overrides) if host["groups"] == [group] else host for host in lab()]


def check_budget_invariants(budget):
    assert budget["reserve_mb"] + budget["usable_mb"] == budget["ram_mb"]
    assert all(budget[key] >= 0 for key in (*PARTS, "free_mb", "reserve_mb", "innodb_mb", "mysql_overhead_mb"))
    assert sum(budget[key] for key in PARTS) <= budget["usable_mb"]
    assert sum(budget[key] for key in PARTS) + budget["free_mb"] == budget["usable_mb"]
    assert budget["other_mb"] == budget["nginx_mb"] + budget["monitoring_mb"]
    assert budget["mysql_mb"] == budget["innodb_mb"] + budget["mysql_overhead_mb"]
    assert budget["workers_mb"] == budget["queue_workers"] * budget["queue_worker_rss_mb"]


def check_pool_invariants(pool, budget):
    assert 1 <= pool["min_spare_servers"] <= pool["start_servers"] <= pool["max_spare_servers"] <= pool["max_children"]
    assert pool["memory_mb"] == pool["max_children"] * pool["worker_rss_mb"] + pool["opcache_memory_mb"]
    assert pool["memory_mb"] <= budget
    assert pool["pm"] in ("dynamic", "ondemand", "static")
    assert pool["process_idle_timeout"].endswith("s") and int(pool["process_idle_timeout"][:-1]) >= 1


# --------------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------------


def test_every_setting_is_documented_and_valid():
    for name, spec in cap.SETTINGS.items():
        assert spec.section in cap.SECTIONS, name
        assert spec.kind in ("int", "float", "choice"), name
        assert spec.doc, name
        if spec.kind == "choice":
            assert spec.default in spec.choices, name
    assert cap.resolve_settings(None) == DEFAULTS
    assert cap.resolve_settings({}) == DEFAULTS
    assert cap.resolve_settings(DEFAULTS) == DEFAULTS


@pytest.mark.parametrize(
    ("settings", "key", "expected"),
    [
        ({"php_max_requests": 0}, "php_max_requests", 0),  # falsy but given: kept
        ({"php_max_requests": None}, "php_max_requests", 500),  # None keeps the default
        ({"php_max_requests": "750"}, "php_max_requests", 750),  # inventory text
        ({"reserve_percent": "12.5"}, "reserve_percent", 12.5),
        ({"reserve_percent": 12}, "reserve_percent", 12.0),
        ({"php_pm": " Static "}, "php_pm", "static"),
        ({"redis_persistence": "RDB+AOF"}, "redis_persistence", "rdb+aof"),
        ({"php_worker_rss_mb": 96.0}, "php_worker_rss_mb", 96),
        ({"target_utilisation": 1}, "target_utilisation", 1.0),
    ],
)
def test_settings_are_resolved(settings, key, expected):
    resolved = cap.resolve_settings(settings)
    assert resolved[key] == expected
    assert type(resolved[key]) is type(expected)


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"php_wieght": 3}, ValueError, r"unknown capacity setting\(s\) php_wieght; known settings: .*php_weight"),
        ({"reserve_min_mb": -1}, ValueError, r"setting reserve_min_mb must be a whole number >= 0, got -1"),
        ({"reserve_min_mb": True}, TypeError, r"setting reserve_min_mb must be .*got a boolean \(True\)"),
        ({"reserve_min_mb": "lots"}, ValueError, r"setting reserve_min_mb must be .*got the string 'lots'"),
        ({"reserve_min_mb": 1.5}, ValueError, r"setting reserve_min_mb must be a whole number"),
        ({"reserve_min_mb": [512]}, TypeError, r"setting reserve_min_mb must be .*got list"),
        ({"reserve_percent": 95}, ValueError, r"setting reserve_percent must be a number from 0 to 90, got 95"),
        ({"reserve_percent": float("nan")}, ValueError, r"setting reserve_percent must be a number"),
        ({"target_utilisation": 0}, ValueError, r"setting target_utilisation must be a number from 0.05 to 1"),
        ({"php_weight": 0}, ValueError, r"setting php_weight must be a number >= 0.001"),
        (
            {"php_pm": "adaptive"},
            ValueError,
            r"setting php_pm must be one of auto, dynamic, ondemand, static; got 'adaptive'",
        ),
        ({"php_pm": 1}, ValueError, r"setting php_pm must be one of"),
        (
            {"redis_use": "sessions,cache"},
            ValueError,
            r"setting redis_use must be one of cache, sessions, queue, mixed",
        ),
        ({"reserve_min_mb": 2048, "reserve_max_mb": 1024}, ValueError, r"reserve_max_mb \(1024\) must not be less"),
        ({"innodb_redo_min_mb": 512, "innodb_redo_max_mb": 256}, ValueError, r"innodb_redo_max_mb \(256\)"),
        ("php_pm=static", TypeError, r"settings must be a mapping"),
        ([("php_pm", "static")], TypeError, r"settings must be a mapping"),
    ],
)
def test_bad_settings(settings, error, match):
    with pytest.raises(error, match=match):
        cap.resolve_settings(settings)
    with pytest.raises(error, match=match):  # every public function validates its settings
        cap.memory_budget(2048, ["web"], settings)


# --------------------------------------------------------------------------------------------------
# memory_budget
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ram", "groups", "cpus", "expected"),
    [
        # the lab: one 2 GiB host per group
        (2048, ["loadbalancers"], 2, {"reserve_mb": 512, "nginx_mb": 64, "free_mb": 1472, "services": ["nginx"]}),
        (2048, ["web"], 2, {"reserve_mb": 512, "nginx_mb": 64, "php_fpm_mb": 1472, "free_mb": 0}),
        (2048, ["db"], 2, {"mysql_mb": 1536, "innodb_mb": 1152, "mysql_overhead_mb": 384, "free_mb": 0}),
        (2048, ["cache"], 2, {"redis_mb": 1536, "free_mb": 0, "services": ["redis"]}),
        (2048, ["workers"], 2, {"queue_workers": 4, "queue_worker_rss_mb": 128, "workers_mb": 512, "free_mb": 1024}),
        (2048, ["monitoring"], 2, {"monitoring_mb": 512, "free_mb": 1024, "services": ["prometheus"]}),
        # 1 GiB single-purpose hosts still work
        (1024, ["db"], 1, {"reserve_mb": 512, "innodb_mb": 128, "mysql_overhead_mb": 384}),
        (1024, ["web"], 1, {"php_fpm_mb": 448}),
        # all-in-one, 4 GiB, 2 CPUs: workers capped at a quarter of the shared memory, weights 40/45/15
        (
            4096,
            list(GROUPS),
            2,
            {
                "reserve_mb": 512,
                "other_mb": 576,
                "queue_workers": 4,
                "workers_mb": 512,
                "php_fpm_mb": 998,
                "mysql_mb": 1123,
                "innodb_mb": 739,
                "mysql_overhead_mb": 384,
                "redis_mb": 374,
                "free_mb": 1,
                "services": ["nginx", "php-fpm", "queue-workers", "mysql", "redis", "prometheus"],
            },
        ),
        # a dedicated 32 GiB db host gives InnoDB ~75 % of RAM
        (32768, ["db"], 8, {"reserve_mb": 3276, "innodb_mb": 24479, "mysql_overhead_mb": 5013}),
        # reserve capped at 4 GiB on big hosts
        (262144, ["db"], 32, {"reserve_mb": 4096}),
        # groups outside the service groups are ignored
        (2048, ["lab", "web", "ungrouped"], 2, {"groups": ["web"], "php_fpm_mb": 1472}),
        (2048, [], 2, {"groups": [], "services": [], "free_mb": 1536}),
        (2048, ("web", "web"), 2, {"groups": ["web"]}),
        # RAM given as a float or as text
        (2048.9, ["web"], 2, {"ram_mb": 2048, "php_fpm_mb": 1472}),
        ("2048", ["web"], "2", {"ram_mb": 2048, "cpus": 2}),
    ],
)
def test_memory_budget(ram, groups, cpus, expected):
    budget = cap.memory_budget(ram, groups, cpus=cpus)
    for key, value in expected.items():
        assert budget[key] == value, key
    check_budget_invariants(budget)


def test_dedicated_db_host_gives_innodb_about_three_quarters_of_big_hosts():
    for gib in (16, 32, 64, 128):
        budget = cap.memory_budget(gib * 1024, ["db"], cpus=8)
        assert 0.72 <= budget["innodb_mb"] / budget["ram_mb"] <= 0.81, gib  # the reserve stops at 4 GiB


def test_sharing_changes_the_split():
    alone = cap.memory_budget(8192, ["db"])
    with_web = cap.memory_budget(8192, ["db", "web"])
    with_all = cap.memory_budget(8192, ["db", "web", "cache"])
    assert alone["mysql_mb"] > with_web["mysql_mb"] > with_all["mysql_mb"]
    assert with_web["php_fpm_mb"] > with_all["php_fpm_mb"]
    # weights 40:45 between PHP and MySQL once the minimums are met
    assert with_web["php_fpm_mb"] / with_web["mysql_mb"] == pytest.approx(40 / 45, rel=0.01)
    heavier_redis = cap.memory_budget(8192, ["db", "web", "cache"], {"redis_weight": 45})
    assert heavier_redis["redis_mb"] > with_all["redis_mb"]


def test_a_small_share_is_raised_to_its_minimum():
    # redis weight tiny: it still gets its minimum, the others share the rest
    budget = cap.memory_budget(4096, ["web", "cache"], {"redis_weight": 0.001})
    assert budget["redis_mb"] == DEFAULTS["redis_min_mb"]
    check_budget_invariants(budget)


@pytest.mark.parametrize(
    ("settings", "cpus", "expected_workers"),
    [
        ({}, 1, 2),  # 2 per CPU
        ({}, 3, 6),
        ({}, 16, 8),  # at most queue_workers_max
        ({"queue_workers_max": 32}, 16, 12),  # then memory: 1536 // 128
        ({"queue_workers": 3}, 16, 3),  # explicit
        ({"queue_workers": 0}, 2, 4),  # 0 is "automatic"
        ({"queue_worker_rss_mb": 512}, 8, 3),
    ],
)
def test_queue_workers_on_a_dedicated_host(settings, cpus, expected_workers):
    budget = cap.memory_budget(2048, ["workers"], settings, cpus=cpus)
    assert budget["queue_workers"] == expected_workers
    check_budget_invariants(budget)


def test_automatic_queue_workers_leave_room_on_shared_hosts():
    # 2 GiB web + workers: at most a quarter of (1536 - 64) for workers
    budget = cap.memory_budget(2048, ["web", "workers"], cpus=8)
    assert budget["queue_workers"] == 2
    assert budget["php_fpm_mb"] == 1536 - 64 - 256
    shared = cap.memory_budget(2048, ["web", "workers"], {"queue_workers_shared_percent": 100}, cpus=8)
    assert shared["queue_workers"] == 8


@pytest.mark.parametrize(
    ("ram", "groups", "settings", "match"),
    [
        (
            1024,
            list(GROUPS),
            None,
            (
                r"ram_mb 1024 MiB is too small for the groups loadbalancers, web, workers, db, cache, monitoring: "
                r"they need at least 1962 MiB \(OS reserve 512, nginx 64, prometheus 512, 1 queue worker\(s\) 128, "
                r"php-fpm 170, mysql 512, redis 64, in MiB\)"
            ),
        ),
        (768, ["db"], None, r"ram_mb 768 MiB is too small for the groups db: they need at least 1024 MiB"),
        (512, ["web"], None, r"too small for the groups web"),
        (
            384,
            ["lab"],
            None,
            r"ram_mb 384 MiB is too small for the groups \(none\): they need at least 512 MiB \(OS reserve",
        ),
        (2048, ["workers"], {"queue_workers": 20}, r"20 queue worker\(s\) 2560"),
        (2048, ["web"], {"php_min_children": 40}, r"php-fpm 2688"),
    ],
)
def test_memory_budget_too_small(ram, groups, settings, match):
    with pytest.raises(ValueError, match=match):
        cap.memory_budget(ram, groups, settings, cpus=2)


@pytest.mark.parametrize("groups", ALL_COMBINATIONS, ids=lambda g: "+".join(g) or "none")
def test_memory_budget_invariants_over_ram_sizes(groups):
    """Property-style: every group combination over many RAM sizes either fits or says how much it needs."""
    sizes = sorted(set(list(range(256, 8192, 61)) + [2**n for n in range(8, 20)] + [3 * 2**n for n in range(8, 18)]))
    first_fit = None
    for ram in sizes:
        for cpus in (1, 2, 8, 64):
            try:
                budget = cap.memory_budget(ram, groups, cpus=cpus)
            except ValueError as exc:
                needed = int(str(exc).split("need at least ")[1].split(" MiB")[0])
                assert needed > ram
                assert first_fit is None, f"{ram} MiB fails after {first_fit} MiB fitted"
                # the stated minimum is exact: it fits, one MiB less does not
                cap.memory_budget(needed, groups, cpus=cpus)
                with pytest.raises(ValueError):
                    cap.memory_budget(needed - 1, groups, cpus=cpus)
                continue
            first_fit = first_fit or ram
            check_budget_invariants(budget)
            assert budget["groups"] == [g for g in GROUPS if g in groups]
            if "web" in groups:
                pool = cap.php_fpm_pool(budget["php_fpm_mb"], cpus=cpus)
                assert pool["max_children"] >= min(DEFAULTS["php_min_children"], cpus * 10)
                check_pool_invariants(pool, budget["php_fpm_mb"])
            if "db" in groups:
                assert budget["innodb_mb"] >= DEFAULTS["innodb_min_mb"]
                assert budget["mysql_overhead_mb"] >= DEFAULTS["mysql_overhead_min_mb"]
                assert cap.innodb_settings(budget["innodb_mb"], cpus)["buffer_pool_size_mb"] <= budget["innodb_mb"]
            if "cache" in groups:
                assert budget["redis_mb"] >= DEFAULTS["redis_min_mb"]
            if "workers" in groups:
                assert budget["queue_workers"] >= 1
            else:
                assert budget["queue_workers"] == 0


@pytest.mark.parametrize(
    ("settings",),
    [
        ({"reserve_min_mb": 0, "reserve_percent": 0},),
        ({"reserve_min_mb": 256, "reserve_percent": 25, "reserve_max_mb": 100000},),
        ({"nginx_mb": 0, "monitoring_mb": 0, "mysql_overhead_percent": 50, "mysql_overhead_min_mb": 0},),
        ({"php_weight": 1, "db_weight": 1000, "redis_weight": 0.5, "innodb_min_mb": 8, "redis_min_mb": 16},),
        ({"queue_workers": 2, "queue_worker_rss_mb": 300, "php_worker_rss_mb": 200, "php_opcache_mb": 0},),
    ],
)
def test_memory_budget_invariants_with_other_settings(settings):
    for ram in range(512, 20000, 97):
        for groups in ALL_COMBINATIONS:
            try:
                budget = cap.memory_budget(ram, groups, settings, cpus=4)
            except ValueError as exc:
                assert "too small" in str(exc)
                continue
            check_budget_invariants(budget)


@pytest.mark.parametrize(
    ("ram", "groups", "cpus", "error", "match"),
    [
        (-2048, ["web"], 2, ValueError, r"ram_mb must be a whole number of MiB from 1 to 16777216, got -2048"),
        (0, ["web"], 2, ValueError, r"ram_mb must be .* got 0"),
        (2 * 1024**3, ["web"], 2, ValueError, r"ram_mb must be .* to 16777216, got 2147483648"),  # bytes
        (True, ["web"], 2, TypeError, r"ram_mb must be .* got a boolean \(True\)"),
        ("2 GiB", ["web"], 2, ValueError, r"ram_mb must be .* got the string '2 GiB'"),
        ("", ["web"], 2, ValueError, r"ram_mb must be .* got the string ''"),
        (None, ["web"], 2, TypeError, r"ram_mb must be .* got NoneType None"),
        (float("inf"), ["web"], 2, ValueError, r"ram_mb must be .* got inf"),
        ({"ram": 2048}, ["web"], 2, TypeError, r"ram_mb must be .* got dict"),
        (2048, "web", 2, TypeError, r"groups must be a list of inventory group names \(e.g. group_names\), got str"),
        (2048, None, 2, TypeError, r"groups must be a list"),
        (2048, {"web": 1}, 2, TypeError, r"groups must be a list"),
        (2048, ["web", 1], 2, TypeError, r"groups must hold group names \(strings\), got int 1"),
        (2048, ["web"], 0, ValueError, r"cpus must be a whole number from 1 to 4096, got 0"),
        (2048, ["web"], -4, ValueError, r"cpus must be .* got -4"),
        (2048, ["web"], 1.5, ValueError, r"cpus must be a whole number .* got 1.5"),
        (2048, ["web"], False, TypeError, r"cpus must be .* got a boolean \(False\)"),
        (2048, ["web"], "two", ValueError, r"cpus must be .* got the string 'two'"),
    ],
)
def test_memory_budget_bad_input(ram, groups, cpus, error, match):
    with pytest.raises(error, match=match):
        cap.memory_budget(ram, groups, cpus=cpus)


# --------------------------------------------------------------------------------------------------
# php_fpm_pool
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "settings", "expected"),
    [
        # the lab web host: memory would allow 21, two CPUs cap it at 20
        (
            (1472, None, 2),
            None,
            {
                "pm": "dynamic",
                "max_children": 20,
                "start_servers": 5,
                "min_spare_servers": 2,
                "max_spare_servers": 8,
                "max_requests": 500,
                "process_idle_timeout": "10s",
                "worker_rss_mb": 64,
                "opcache_memory_mb": 128,
                "memory_mb": 1408,
                "budget_mb": 1472,
                "limited_by": "cpu",
            },
        ),
        (
            (1472, None, None),
            None,
            {
                "max_children": 21,
                "limited_by": "memory",
                "min_spare_servers": 1,
                "max_spare_servers": 4,
                "start_servers": 2,
            },
        ),
        ((1472, None, 4), {"php_max_children_per_cpu": 0}, {"max_children": 21, "limited_by": "memory"}),
        # the all-in-one 4 GiB host
        ((998, None, 2), None, {"pm": "dynamic", "max_children": 13, "limited_by": "memory"}),
        # OPcache shrinks to a quarter of a small budget
        (
            (256, None, 1),
            None,
            {
                "opcache_memory_mb": 64,
                "max_children": 3,
                "pm": "ondemand",
                "min_spare_servers": 1,
                "start_servers": 2,
                "max_spare_servers": 3,
            },
        ),
        # one worker still fits when a quarter for OPcache would leave none: OPcache takes the rest
        ((80, None, 1), None, {"opcache_memory_mb": 16, "max_children": 1, "memory_mb": 80}),
        (
            (170, None, 2),
            None,
            {"max_children": 2, "pm": "ondemand", "min_spare_servers": 2, "start_servers": 2, "max_spare_servers": 2},
        ),
        (
            (72, None, 1),
            None,
            {
                "max_children": 1,
                "opcache_memory_mb": 8,
                "min_spare_servers": 1,
                "start_servers": 1,
                "max_spare_servers": 1,
            },
        ),
        # the argument wins over the setting for the worker size
        ((1472, 96, None), {"php_worker_rss_mb": 32}, {"worker_rss_mb": 96, "max_children": 14}),
        ((1472, None, None), {"php_worker_rss_mb": 32}, {"worker_rss_mb": 32, "max_children": 42}),
        # max_requests 0 is kept, never replaced by the default
        ((1472, None, 2), {"php_max_requests": 0}, {"max_requests": 0}),
        ((1472, None, 2), {"php_max_requests": "0"}, {"max_requests": 0}),
        ((1472, None, 2), {"php_pm": "static"}, {"pm": "static"}),
        ((256, None, 2), {"php_pm": "dynamic"}, {"pm": "dynamic"}),
        (
            (14682, None, 4),
            {"php_pm": "ondemand", "php_process_idle_timeout_s": 30},
            {"pm": "ondemand", "process_idle_timeout": "30s", "max_children": 40},
        ),
        ((256, None, 2), {"php_ondemand_below": 0}, {"pm": "dynamic"}),
        ((1472, None, 2), {"php_opcache_mb": 0}, {"opcache_memory_mb": 0, "max_children": 20}),
        (
            (100000, None, 64),
            {"php_min_spare_per_cpu": 2, "php_max_spare_per_cpu": 2},
            {"min_spare_servers": 128, "max_spare_servers": 128, "start_servers": 128},
        ),
    ],
)
def test_php_fpm_pool(args, settings, expected):
    pool = cap.php_fpm_pool(*args, settings=settings)
    for key, value in expected.items():
        assert pool[key] == value, key
    check_pool_invariants(pool, pool["budget_mb"])


def test_php_fpm_pool_is_always_valid():
    """No input produces a pool php-fpm refuses to start with."""
    budgets = [*range(72, 3000, 7), 4096, 8192, 16384, 65536, 262144]
    spares = [{}, {"php_min_spare_per_cpu": 3, "php_max_spare_per_cpu": 1}, {"php_min_spare_per_cpu": 50}]
    for budget, cpus, rss, extra in itertools.product(budgets, (None, 1, 2, 3, 8, 64), (8, 64), spares):
        pool = cap.php_fpm_pool(budget, rss, cpus, extra)
        check_pool_invariants(pool, budget)
        assert pool["max_children"] >= 1
        if cpus is not None:
            assert pool["max_children"] <= cpus * DEFAULTS["php_max_children_per_cpu"]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((60, None, 2), ValueError, r"budget_mb 60 MiB cannot hold one PHP-FPM worker of 64 MiB and OPcache; give"),
        ((60, None, 2), ValueError, r"give PHP-FPM at least 72 MiB"),
        ((60, 100, 2), ValueError, r"worker of 100 MiB and OPcache; give PHP-FPM at least 108 MiB"),
        ((0, None, 2), ValueError, r"budget_mb must be a whole number of MiB >= 1, got 0"),
        ((-512, None, 2), ValueError, r"budget_mb must be .* got -512"),
        ((True, None, 2), TypeError, r"budget_mb must be .* got a boolean"),
        (("lots", None, 2), ValueError, r"budget_mb must be .* got the string 'lots'"),
        ((1024, 0, 2), ValueError, r"worker_rss_mb must be a whole number of MiB >= 8, got 0"),
        ((1024, -64, 2), ValueError, r"worker_rss_mb must be .* got -64"),
        ((1024, True, 2), TypeError, r"worker_rss_mb must be .* got a boolean"),
        ((1024, None, 0), ValueError, r"cpus must be a whole number from 1 to 4096, got 0"),
        ((1024, None, "x"), ValueError, r"cpus must be .* got the string 'x'"),
    ],
)
def test_php_fpm_pool_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        cap.php_fpm_pool(*args)


def test_php_min_budget_is_exact():
    for children, rss, opcache in itertools.product((1, 2, 5, 40), (8, 64, 100), (0, 8, 64, 128, 512)):
        smallest = cap.php_min_budget(children, rss, opcache)
        assert cap.php_fpm_pool(smallest, rss, settings={"php_opcache_mb": opcache})["max_children"] >= children
        if smallest > rss:
            try:
                fewer = cap.php_fpm_pool(smallest - 1, rss, settings={"php_opcache_mb": opcache})["max_children"]
            except ValueError:
                fewer = 0
            assert fewer < children


# --------------------------------------------------------------------------------------------------
# innodb_settings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "cpus", "settings", "expected"),
    [
        (1152, 2, None, (1152, 1, 128, 288)),
        (1275, 2, None, (1152, 1, 128, 288)),  # rounded down, never up
        (1023, None, None, (960, 1, 64, 240)),  # below 8 chunks of 128: chunks of 64
        (739, 2, None, (704, 1, 64, 176)),  # the chunk halves on a small pool
        (128, 1, None, (128, 1, 16, 32)),
        (100, 1, None, (96, 1, 8, 32)),  # redo at its minimum
        (8, 1, None, (8, 1, 1, 32)),
        (2975, 8, None, (2816, 2, 128, 704)),  # two instances: a multiple of 256
        (24479, 8, None, (23552, 8, 128, 2048)),  # the dedicated 32 GiB host; redo capped
        (24479, 4, None, (24064, 4, 128, 2048)),  # instances never exceed CPUs
        (24479, None, {"innodb_instances_max": 16}, (22528, 16, 128, 2048)),
        (5000, 8, {"innodb_chunk_mb": 256, "innodb_redo_percent": 10}, (4608, 4, 128, 460)),
        (4096, 8, {"innodb_redo_max_mb": 512, "innodb_redo_min_mb": 64}, (4096, 4, 128, 512)),
    ],
)
def test_innodb_settings(budget, cpus, settings, expected):
    result = cap.innodb_settings(budget, cpus, settings)
    got = (
        result["buffer_pool_size_mb"],
        result["buffer_pool_instances"],
        result["buffer_pool_chunk_size_mb"],
        result["redo_log_capacity_mb"],
    )
    assert got == expected
    assert result["log_file_size_mb"] == result["redo_log_capacity_mb"]
    assert result["unused_mb"] == budget - result["buffer_pool_size_mb"]


def test_innodb_buffer_pool_is_never_rounded_past_the_budget():
    for budget in list(range(8, 5000, 3)) + list(range(5000, 300000, 997)):
        for cpus in (None, 1, 3, 8, 64):
            result = cap.innodb_settings(budget, cpus)
            pool = result["buffer_pool_size_mb"]
            unit = result["buffer_pool_chunk_size_mb"] * result["buffer_pool_instances"]
            assert 0 < pool <= budget
            assert pool % unit == 0  # MySQL would otherwise round it up
            assert pool > budget * 7 / 8  # rounding never eats more than an eighth
            assert 1 <= result["buffer_pool_instances"] <= min(8, cpus or 8)
            if budget < 1024:
                assert result["buffer_pool_instances"] == 1
            assert 32 <= result["redo_log_capacity_mb"] <= 2048


@pytest.mark.parametrize(
    ("budget", "cpus", "error", "match"),
    [
        (4, 2, ValueError, r"budget_mb must be a whole number of MiB >= 8, got 4"),
        (-1024, 2, ValueError, r"budget_mb must be .* got -1024"),
        (False, 2, TypeError, r"budget_mb must be .* got a boolean"),
        ("1G", 2, ValueError, r"budget_mb must be .* got the string '1G'"),
        (1024, 0, ValueError, r"cpus must be .* got 0"),
        (1024, True, TypeError, r"cpus must be .* got a boolean"),
    ],
)
def test_innodb_settings_bad_input(budget, cpus, error, match):
    with pytest.raises(error, match=match):
        cap.innodb_settings(budget, cpus)


# --------------------------------------------------------------------------------------------------
# mysql_max_connections
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (
            ([20, 20], 4),
            {},
            {
                "max_connections": 65,
                "php_connections": 40,
                "worker_connections": 4,
                "extra_connections": 10,
                "needed_connections": 54,
                "headroom_connections": 11,
                "connections_memory_mb": 130,
                "memory_mb": 322,
            },
        ),
        (
            ([{"max_children": 20, "pm": "dynamic"}, None, 5], [4, 2]),
            {},
            {"php_connections": 25, "worker_connections": 6, "max_connections": 50},
        ),
        (([], 0), {}, {"max_connections": 12, "needed_connections": 10}),
        (([], 0), {"extra_connections": 0, "headroom_percent": 0}, {"max_connections": 1}),  # never 0
        (([10], 0), {"extra_connections": 0, "headroom_percent": 0}, {"max_connections": 10}),  # exact: no rounding up
        (([10], 0), {"extra_connections": 0, "headroom_percent": "50"}, {"max_connections": 15}),
        (([33], 0), {"extra_connections": 0, "headroom_percent": 10}, {"max_connections": 37}),  # 36.3 rounds up
        (
            ([20], 4),
            {"settings": {"mysql_extra_connections": 0, "mysql_per_connection_mb": 4, "mysql_base_mb": 0}},
            {"max_connections": 29, "connections_memory_mb": 116, "memory_mb": 116},
        ),
        ((["20"], "4"), {}, {"php_connections": 20, "worker_connections": 4}),
    ],
)
def test_mysql_max_connections(args, kwargs, expected):
    result = cap.mysql_max_connections(*args, **kwargs)
    for key, value in expected.items():
        assert result[key] == value, key
    assert result["max_connections"] >= result["needed_connections"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (({"web1": 20}, 0), {}, TypeError, r"web_pools must be a list with one PHP-FPM pool .* got dict"),
        (("20", 0), {}, TypeError, r"web_pools must be a list"),
        ((20, 0), {}, TypeError, r"web_pools must be a list"),
        (
            ([{"pm": "dynamic"}], 0),
            {},
            ValueError,
            r"web_pools\[0\] must be a PHP-FPM pool with max_children .* it has the keys pm",
        ),
        (([20, -1], 0), {}, ValueError, r"web_pools\[1\] max_children must be a whole number >= 0, got -1"),
        (([True], 0), {}, TypeError, r"web_pools\[0\] max_children must be .* got a boolean"),
        (([20], -4), {}, ValueError, r"worker_count must be a whole number >= 0, got -4"),
        (([20], [4, "many"]), {}, ValueError, r"worker_count\[1\] must be .* got the string 'many'"),
        (([20], True), {}, TypeError, r"worker_count must be .* got a boolean"),
        (([20], 0), {"extra_connections": -1}, ValueError, r"extra_connections must be a whole number >= 0"),
        (([20], 0), {"headroom_percent": -5}, ValueError, r"headroom_percent must be a number from 0 to 1000"),
        (([20], 0), {"headroom_percent": "lots"}, ValueError, r"headroom_percent must be .* got the string 'lots'"),
    ],
)
def test_mysql_max_connections_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        cap.mysql_max_connections(*args, **kwargs)


# --------------------------------------------------------------------------------------------------
# redis_maxmemory
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "persistence", "use", "expected"),
    [
        (
            1536,
            None,
            None,
            {
                "maxmemory_mb": 844,
                "maxmemory_policy": "noeviction",
                "fork_headroom_mb": 692,
                "persistence": "rdb",
                "use": "mixed",
                "snapshots": True,
                "appendonly": False,
            },
        ),
        (
            1536,
            "none",
            "cache",
            {
                "maxmemory_mb": 1305,
                "maxmemory_policy": "allkeys-lru",
                "fork_headroom_mb": 0,
                "snapshots": False,
                "appendonly": False,
            },
        ),
        (
            1536,
            "aof",
            "sessions",
            {"maxmemory_mb": 844, "maxmemory_policy": "noeviction", "appendonly": True, "snapshots": False},
        ),
        (
            1536,
            "rdb+aof",
            "queue",
            {"maxmemory_mb": 844, "maxmemory_policy": "noeviction", "appendonly": True, "snapshots": True},
        ),
        (1536, "None", "Cache", {"maxmemory_mb": 1305, "maxmemory_policy": "allkeys-lru"}),
        (16, "rdb", "mixed", {"maxmemory_mb": 8, "fork_headroom_mb": 8}),
        (374, None, None, {"maxmemory_mb": 205}),
    ],
)
def test_redis_maxmemory(budget, persistence, use, expected):
    result = cap.redis_maxmemory(budget, persistence, use)
    for key, value in expected.items():
        assert result[key] == value, key
    assert 1 <= result["maxmemory_mb"] <= budget


def test_redis_persistence_always_leaves_fork_headroom():
    for budget in range(16, 70000, 37):
        for persistence, use in itertools.product(("none", "rdb", "aof", "rdb+aof"), ("cache", "sessions", "queue")):
            result = cap.redis_maxmemory(budget, persistence, use)
            assert result["maxmemory_mb"] >= 1  # 0 would mean "no limit" to Redis
            if persistence == "none":
                assert result["fork_headroom_mb"] == 0
            else:
                assert result["fork_headroom_mb"] >= result["maxmemory_mb"] * 0.8
            assert (result["maxmemory_policy"] == "allkeys-lru") == (use == "cache")


def test_redis_settings_choose_the_defaults():
    result = cap.redis_maxmemory(
        1000, settings={"redis_persistence": "none", "redis_use": "cache", "redis_maxmemory_percent": 50}
    )
    assert (result["maxmemory_mb"], result["maxmemory_policy"]) == (500, "allkeys-lru")


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (
            (1024, "sometimes", "cache"),
            ValueError,
            r"persistence must be one of none, rdb, aof, rdb\+aof; got 'sometimes'",
        ),
        (
            (1024, "rdb", "everything"),
            ValueError,
            r"use must be one of cache, sessions, queue, mixed; got 'everything'",
        ),
        ((1024, True, "cache"), ValueError, r"persistence must be one of"),
        (
            (
                1024,
                "rdb",
                None,
            ),
            None,
            None,
        ),
        ((8, "rdb", "cache"), ValueError, r"budget_mb must be a whole number of MiB >= 16, got 8"),
        ((-1, "rdb", "cache"), ValueError, r"budget_mb must be .* got -1"),
        ((True, "rdb", "cache"), TypeError, r"budget_mb must be .* got a boolean"),
    ],
)
def test_redis_maxmemory_bad_input(args, error, match):
    if error is None:
        cap.redis_maxmemory(*args)
        return
    with pytest.raises(error, match=match):
        cap.redis_maxmemory(*args)


# --------------------------------------------------------------------------------------------------
# host_capacity
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("groups", ALL_COMBINATIONS, ids=lambda g: "+".join(g) or "none")
def test_host_capacity_has_one_answer_per_service(groups):
    capacity = cap.host_capacity(8192, 4, groups)
    assert capacity["budget"] == cap.memory_budget(8192, groups, cpus=4)
    assert (capacity["php_fpm"] is not None) == ("web" in groups)
    assert (capacity["innodb"] is not None) == ("db" in groups)
    assert (capacity["redis"] is not None) == ("cache" in groups)
    assert (capacity["queue_workers"] > 0) == ("workers" in groups)
    if capacity["php_fpm"]:
        assert capacity["php_fpm"] == cap.php_fpm_pool(capacity["budget"]["php_fpm_mb"], cpus=4)
    if capacity["innodb"]:
        assert capacity["innodb"] == cap.innodb_settings(capacity["budget"]["innodb_mb"], 4)
    if capacity["redis"]:
        assert capacity["redis"] == cap.redis_maxmemory(capacity["budget"]["redis_mb"])
    assert set(capacity) == {
        "ram_mb",
        "cpus",
        "groups",
        "services",
        "budget",
        "php_fpm",
        "innodb",
        "redis",
        "queue_workers",
    }


def test_host_capacity_passes_settings_to_every_part():
    settings = {"php_worker_rss_mb": 128, "innodb_chunk_mb": 64, "redis_persistence": "none", "queue_workers": 3}
    capacity = cap.host_capacity(8192, 4, list(GROUPS), settings)
    assert capacity["php_fpm"]["worker_rss_mb"] == 128
    assert capacity["innodb"]["buffer_pool_chunk_size_mb"] <= 64
    assert capacity["redis"]["persistence"] == "none"
    assert capacity["queue_workers"] == 3


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((2048, 0, ["web"]), ValueError, r"cpus must be a whole number from 1 to 4096, got 0"),
        ((2048, None, ["web"]), None, None),  # cpus unknown: 1
        ((-1, 2, ["web"]), ValueError, r"ram_mb must be"),
        ((2048, 2, "web"), TypeError, r"groups must be a list"),
        ((512, 2, ["db"]), ValueError, r"too small"),
    ],
)
def test_host_capacity_bad_input(args, error, match):
    if error is None:
        assert cap.host_capacity(*args)["cpus"] == 1
        return
    with pytest.raises(error, match=match):
        cap.host_capacity(*args)


# --------------------------------------------------------------------------------------------------
# capacity_check
# --------------------------------------------------------------------------------------------------


def checks(problems):
    return sorted((p["host"], p["check"]) for p in problems)


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (lab(), []),
        (lab(ram_mb=4096, cpus=4), []),
        ([{"name": "aio", "ram_mb": 4096, "cpus": 2, "groups": list(GROUPS)}], []),
        ([{"name": "aio", "ram_mb": 2048, "cpus": 2, "groups": list(GROUPS)}], []),
        ([], []),
        ([{"name": "mon", "ram_mb": 2048, "cpus": 2, "groups": ["monitoring"]}], []),
        ([{"name": "aio", "ram_mb": 1024, "cpus": 2, "groups": list(GROUPS)}], [("aio", "fit")]),
        ([h for h in lab() if h["name"] != "lab-db"], [("all", "topology")]),
        ([h for h in lab() if h["name"] != "lab-cache"], [("all", "topology")]),
        ([h for h in lab() if h["name"] not in ("lab-db", "lab-cache")], [("all", "topology"), ("all", "topology")]),
        ([{"name": "lb", "ram_mb": 2048, "cpus": 2, "groups": ["loadbalancers"]}], [("all", "topology")]),
        ([{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["workers"]}], [("all", "topology"), ("all", "topology")]),
        # overrides
        (lab_with("db", mysql_max_connections=20), [("lab-db", "connections")]),
        (lab_with("db", mysql_max_connections=60), []),
        (lab_with("db", mysql_max_connections=1000), [("lab-db", "mysql_memory")]),
        # computed max_connections follow the pools; their memory then does not fit the db host
        (lab_with("web", php_max_children=200), [("lab-db", "mysql_memory"), ("lab-web", "memory")]),
        (lab_with("web", php_max_children=20), []),
        (lab_with("db", innodb_buffer_pool_mb=1536), [("lab-db", "memory"), ("lab-db", "mysql_memory")]),
        (lab_with("cache", redis_maxmemory_mb=1200), [("lab-cache", "memory")]),
        (lab_with("cache", redis_maxmemory_mb=800), []),
        (lab_with("workers", queue_workers=30), [("lab-workers", "fit")]),
        (lab_with("workers", queue_workers=6), []),
        # per-host settings
        (lab_with("cache", settings={"redis_persistence": "none"}, redis_maxmemory_mb=1200), []),
        (lab_with("db", settings={"mysql_per_connection_mb": 20}), [("lab-db", "mysql_memory")]),
    ],
)
def test_capacity_check(hosts, expected):
    assert checks(cap.capacity_check(hosts)) == expected


def test_capacity_check_messages_say_what_to_change():
    hosts = lab_with("db", mysql_max_connections=20)
    (problem,) = cap.capacity_check(hosts)
    assert problem == {
        "host": "lab-db",
        "check": "connections",
        "message": "max_connections 20 is below the 34 connections the fleet can open at once (20 PHP-FPM workers + "
        "4 queue workers + 10 extra); raise it to at least 41 or lower the pools",
    }


def test_capacity_check_settings_apply_to_every_host():
    # bigger PHP workers on every host: fewer connections, still consistent
    assert cap.capacity_check(lab(), {"php_worker_rss_mb": 256}) == []
    (problem,) = cap.capacity_check(lab(), {"mysql_per_connection_mb": 20})
    assert problem["check"] == "mysql_memory"
    # a host's own settings win over the fleet's
    hosts = lab()
    hosts[3] = dict(hosts[3], settings={"mysql_per_connection_mb": 2})
    assert cap.capacity_check(hosts, {"mysql_per_connection_mb": 20}) == []


def test_capacity_check_of_any_computed_fleet_is_consistent_per_host():
    """Without overrides, hosts never over-commit and max_connections always covers the fleet.

    Only the db host's memory for the connections depends on the rest of the fleet: many web hosts
    with many CPUs can outgrow a small db host, and the check says so.
    """
    for ram, cpus in itertools.product((2048, 3000, 4096, 8192, 65536), (1, 2, 4, 16)):
        fleet = [
            *lab(ram, cpus),
            {"name": "web2", "ram_mb": ram, "cpus": cpus, "groups": ["web"]},
            {"name": "aio", "ram_mb": ram * 2, "cpus": cpus, "groups": ["web", "workers"]},
        ]
        problems = cap.capacity_check(fleet)
        assert {(p["host"], p["check"]) for p in problems} <= {("lab-db", "mysql_memory")}, (ram, cpus)
        if ram >= 4096 or cpus <= 2:
            assert problems == [], (ram, cpus)
    fleet = lab(2048, 4) + [{"name": f"web{n}", "ram_mb": 2048, "cpus": 4, "groups": ["web"]} for n in (2, 3)]
    (problem,) = cap.capacity_check(fleet)
    # 3 web hosts × 21 workers + 8 queue workers + 10 extra, +20 %: 98 connections × 2 MiB + 192 MiB
    assert problem["message"] == (
        "98 connections need about 388 MiB outside the buffer pool (192 MiB server + 2 MiB each) but only 384 MiB "
        "is left there; give the db host more memory, a smaller buffer pool or fewer PHP workers"
    )


@pytest.mark.parametrize(
    ("hosts", "error", "match"),
    [
        ({"web1": {}}, TypeError, r"hosts must be a list of per-host mappings, got dict"),
        ("web1", TypeError, r"hosts must be a list"),
        (None, TypeError, r"hosts must be a list"),
        (["web1"], TypeError, r"hosts\[0\] must be a mapping with name, ram_mb, cpus and groups, got str"),
        (
            [{"name": "web1", "ram_mb": 2048, "groups": ["web"]}],
            ValueError,
            r"hosts\[0\] \('web1'\) is missing cpus \(each host needs name, ram_mb, cpus, groups\)",
        ),
        ([{"ram_mb": 2048, "cpus": 2, "groups": ["web"]}], ValueError, r"hosts\[0\] is missing name"),
        (
            [{"name": "", "ram_mb": 2048, "cpus": 2, "groups": ["web"]}],
            ValueError,
            r"hosts\[0\] name must be a non-empty string",
        ),
        (
            [{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"], "max_children": 4}],
            ValueError,
            r"hosts\[0\] \('w'\) has unknown key\(s\) max_children; allowed: .*php_max_children",
        ),
        (
            [{"name": "w", "ram_mb": -2048, "cpus": 2, "groups": ["web"]}],
            ValueError,
            r"hosts\[0\] \('w'\) ram_mb must be a whole number of MiB from 1 to 16777216, got -2048",
        ),
        (
            [{"name": "w", "ram_mb": "2 GB", "cpus": 2, "groups": ["web"]}],
            ValueError,
            r"hosts\[0\] \('w'\) ram_mb must be .* got the string '2 GB'",
        ),
        ([{"name": "w", "ram_mb": 2048, "cpus": 0, "groups": ["web"]}], ValueError, r"hosts\[0\] \('w'\) cpus must be"),
        (
            [{"name": "w", "ram_mb": 2048, "cpus": True, "groups": ["web"]}],
            TypeError,
            r"hosts\[0\] \('w'\) cpus must be .* got a boolean",
        ),
        ([{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": "web"}], TypeError, r"groups must be a list"),
        (
            [{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"], "php_max_children": "many"}],
            ValueError,
            r"hosts\[0\] \('w'\) php_max_children must be a whole number >= 0, got the string 'many'",
        ),
        (
            [{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"], "settings": {"php_pm": "fast"}}],
            ValueError,
            r"setting php_pm must be one of",
        ),
        (
            [{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"], "settings": "fast"}],
            TypeError,
            r"settings must be a mapping",
        ),
        (
            [{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"]}] * 2,
            ValueError,
            r"hosts\[1\] repeats the host name 'w'",
        ),
    ],
)
def test_capacity_check_bad_input(hosts, error, match):
    with pytest.raises(error, match=match):
        cap.capacity_check(hosts)


def test_capacity_check_bad_fleet_settings():
    with pytest.raises(ValueError, match=r"unknown capacity setting\(s\) max_children"):
        cap.capacity_check(lab(), {"max_children": 4})


# --------------------------------------------------------------------------------------------------
# fleet_plan / growth_plan
# --------------------------------------------------------------------------------------------------


def test_fleet_plan_follows_littles_law():
    plan = cap.fleet_plan(2250)
    assert plan["php_requests_per_s"] == pytest.approx(2250 * 0.05)
    assert plan["php_busy_workers"] == pytest.approx(2250 * 0.05 * 0.2)
    assert plan["php_workers_needed"] == math.ceil(22.5 / 0.7)
    assert plan["php_cpus_needed"] == pytest.approx(112.5 * 0.08 / 0.7, abs=0.01)
    assert plan["web_host"] == {"ram_mb": 16384, "cpus": 4, "max_children": 40, "pm": "dynamic"}
    assert plan["web_hosts"] == 4 and plan["web_hosts_limited_by"] == "cpu"  # 12.86 CPUs on 4-CPU hosts
    assert plan["php_workers"] == 160
    assert plan["queue_workers_needed"] == 9 and plan["worker_hosts"] == 3 and plan["queue_workers"] == 12
    assert plan["mysql_max_connections"] == cap.mysql_max_connections([40] * 4, 12)["max_connections"]
    assert plan["db_size_mb"] == 2250 * 200
    assert plan["db_working_set_mb"] == 2250 * 50
    assert plan["notes"] == []


@pytest.mark.parametrize(
    ("users", "settings", "expected"),
    [
        (0, None, {"web_hosts": 2, "web_hosts_limited_by": "minimum", "php_workers_needed": 1, "worker_hosts": 1}),
        (50, None, {"web_hosts": 2, "web_hosts_limited_by": "minimum"}),
        ("50", None, {"concurrent_users": 50}),
        (50, {"min_web_hosts": 1}, {"web_hosts": 1, "web_hosts_limited_by": "minimum"}),
        # memory-bound when requests are slow but cheap
        (
            2250,
            {"php_request_time_s": 2, "php_cpu_time_s": 0.01},
            {"web_hosts": 9, "web_hosts_limited_by": "workers", "php_workers_needed": 322},
        ),
        # bigger web hosts, fewer of them
        (2250, {"web_host_cpus": 16, "web_host_ram_mb": 65536}, {"web_hosts": 2, "web_hosts_limited_by": "minimum"}),
        (100000, None, {"web_hosts": 143, "web_hosts_limited_by": "cpu"}),  # 571.4 CPUs / 4
    ],
)
def test_fleet_plan(users, settings, expected):
    plan = cap.fleet_plan(users, settings)
    for key, value in expected.items():
        assert plan[key] == value, key


def test_fleet_plan_sizes_the_data_hosts_with_the_capacity_functions():
    plan = cap.fleet_plan(900, None, 180, 18000)
    db = cap.host_capacity(plan["db_host_ram_mb"], 8, ["db"])
    assert db["innodb"]["buffer_pool_size_mb"] == plan["db_buffer_pool_mb"] >= plan["db_working_set_mb"]
    smaller = cap.host_capacity(plan["db_host_ram_mb"] // 2, 8, ["db"])
    assert smaller["innodb"]["buffer_pool_size_mb"] < plan["db_working_set_mb"]
    cache = cap.host_capacity(plan["cache_host_ram_mb"], 2, ["cache"])
    assert cache["redis"]["maxmemory_mb"] == plan["redis_maxmemory_mb"] >= plan["redis_needed_mb"]
    assert plan["db_disk_gb"] == 360.0 and plan["storage_gb"] == 18000.0 and plan["disk_gb"] == 18360.0
    assert (plan["web_hosts"], plan["db_host_ram_mb"], plan["mysql_max_connections"]) == (2, 65536, 113)


def test_fleet_plan_grows_with_the_users():
    previous = None
    for users in range(0, 20000, 250):
        plan = cap.fleet_plan(users)
        if previous:
            for key in (
                "web_hosts",
                "php_workers_needed",
                "worker_hosts",
                "db_size_mb",
                "redis_needed_mb",
                "mysql_max_connections",
                "db_host_ram_mb",
                "cache_host_ram_mb",
            ):
                if plan[key] is not None and previous[key] is not None:
                    assert plan[key] >= previous[key], (users, key)
                else:  # past 1 TiB, no single host; it never comes back
                    assert plan[key] is None, (users, key)
        assert plan["php_workers"] >= plan["php_workers_needed"]
        assert plan["web_hosts"] * 4 >= plan["php_cpus_needed"]
        assert plan["queue_workers"] >= plan["queue_workers_needed"]
        previous = plan


def test_fleet_plan_says_when_no_single_host_is_big_enough():
    plan = cap.fleet_plan(50, None, 8000)
    assert plan["db_host_ram_mb"] is None and plan["db_buffer_pool_mb"] is None
    assert "split the data or add read replicas" in plan["notes"][0]
    plan = cap.fleet_plan(50, {"redis_cache_base_mb": 10**6})
    assert plan["cache_host_ram_mb"] is None and "Redis" in plan["notes"][0]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((-5,), ValueError, r"concurrent_users must be a whole number >= 0, got -5"),
        (("2,250",), ValueError, r"concurrent_users must be .* got the string '2,250'"),
        ((True,), TypeError, r"concurrent_users must be .* got a boolean"),
        ((12.5,), ValueError, r"concurrent_users must be a whole number"),
        ((None,), TypeError, r"concurrent_users must be"),
        ((50, {"think_time": 20}), ValueError, r"unknown capacity setting\(s\) think_time"),
        ((50, None, -1), ValueError, r"database_size_gb must be a number >= 0, got -1"),
        ((50, None, 10, "1 TB"), ValueError, r"storage_gb must be .* got the string '1 TB'"),
    ],
)
def test_fleet_plan_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        cap.fleet_plan(*args)


def test_growth_plan_of_the_seed_table():
    plans = cap.growth_plan(SEED_GROWTH)
    assert [p["year"] for p in plans] == [0, 1, 2, 3, 5]
    assert [p["label"] for p in plans] == ["now", "year 1", "year 2", "year 3", "year 5"]
    assert [p["concurrent_users"] for p in plans] == [50, 150, 450, 900, 2250]
    assert [p["web_hosts"] for p in plans] == [2, 2, 2, 2, 4]
    assert [p["php_workers_needed"] for p in plans] == [1, 3, 7, 13, 33]
    assert [p["db_host_ram_mb"] for p in plans] == [4096, 16384, 32768, 65536, 262144]
    assert plans[0]["disk_growth_gb_per_year"] is None
    assert plans[1]["db_disk_growth_gb_per_year"] == 40.0  # (30 - 10) GB × 2 in one year
    assert plans[4]["db_disk_growth_gb_per_year"] == 270.0  # (450 - 180) GB × 2 over two years
    assert plans[4]["storage_growth_gb_per_year"] == 13500.0
    assert plans[4]["disk_growth_gb_per_year"] == 13770.0
    for row, plan in zip(SEED_GROWTH, plans):
        expected = cap.fleet_plan(row["concurrent_users"], None, row["database_size_gb"], row["storage_gb"])
        assert {k: v for k, v in plan.items() if k in expected} == expected


def test_growth_plan_estimates_sizes_from_users_and_takes_labels_and_settings():
    plans = cap.growth_plan(
        [{"year": 1, "concurrent_users": 100, "label": "pilot"}, {"year": 2, "concurrent_users": 200}],
        {"db_size_per_user_mb": 1024, "storage_per_user_mb": 0},
    )
    assert plans[0]["label"] == "pilot" and plans[1]["label"] == "year 2"
    assert plans[0]["db_size_mb"] == 102400 and plans[1]["storage_gb"] == 0.0
    assert plans[1]["db_disk_growth_gb_per_year"] == 200.0


@pytest.mark.parametrize(
    ("table", "error", "match"),
    [
        ([], ValueError, r"table must have at least one row"),
        ({"year": 0}, TypeError, r"table must be a list of rows with year and concurrent_users, got dict"),
        ("50,150", TypeError, r"table must be a list"),
        ([50, 150], TypeError, r"table\[0\] must be a mapping with year and concurrent_users, got int"),
        ([{"year": 0}], ValueError, r"table\[0\] is missing concurrent_users"),
        ([{"concurrent_users": 50}], ValueError, r"table\[0\] is missing year"),
        ([{"year": 0, "users": 50}], ValueError, r"table\[0\] is missing concurrent_users"),
        (
            [{"year": 0, "concurrent_users": 50, "users": 50}],
            ValueError,
            r"table\[0\] has unknown key\(s\) users; allowed: year, concurrent_users, .*, storage_gb, label",
        ),
        (
            [{"year": 1, "concurrent_users": 50}, {"year": 1, "concurrent_users": 60}],
            ValueError,
            r"table\[1\] year 1 must come after year 1 of the row before",
        ),
        (
            [{"year": 2, "concurrent_users": 50}, {"year": 1, "concurrent_users": 60}],
            ValueError,
            r"table\[1\] year 1 must come after year 2",
        ),
        ([{"year": -1, "concurrent_users": 50}], ValueError, r"table\[0\] year must be a whole number from 0 to 100"),
        ([{"year": True, "concurrent_users": 50}], TypeError, r"table\[0\] year must be .* got a boolean"),
        (
            [{"year": 0, "concurrent_users": "2,250"}],
            ValueError,
            r"table\[0\]: concurrent_users must be .* got the string '2,250'",
        ),
        (
            [{"year": 0, "concurrent_users": 50, "database_size_gb": -10}],
            ValueError,
            r"table\[0\]: database_size_gb must be a number >= 0",
        ),
    ],
)
def test_growth_plan_bad_input(table, error, match):
    with pytest.raises(error, match=match):
        cap.growth_plan(table)
