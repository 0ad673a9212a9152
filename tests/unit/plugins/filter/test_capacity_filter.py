from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.filter.capacity import FilterModule
from ansible_collections.lmsops.stack.plugins.module_utils import _capacity as cap

FILTERS = FilterModule().filters()
FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"

# The settings each filter's sidecar documents: sections of cap.SETTINGS, or single setting names.
DOCUMENTED_SETTINGS = {
    "memory_budget": ("budget", "php_worker_rss_mb", "php_opcache_mb"),
    "php_fpm_pool": ("php",),
    "innodb_settings": ("innodb",),
    "mysql_max_connections": ("mysql",),
    "redis_maxmemory": ("redis",),
    "host_capacity": ("budget", "php", "innodb", "redis"),
    "capacity_check": ("budget", "php", "innodb", "mysql", "redis"),
    "fleet_plan": cap.SECTIONS,
    "growth_plan": cap.SECTIONS,
}
YAML_TYPES = {"int": "int", "float": "float", "choice": "str"}


def test_filters_are_registered():
    assert set(FILTERS) == set(DOCUMENTED_SETTINGS)


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "expected"),
    [
        ("memory_budget", (2048, ["web"]), {"cpus": 2}, cap.memory_budget(2048, ["web"], cpus=2)),
        (
            "memory_budget",
            (2048, ["db"], {"reserve_min_mb": 256}),
            {},
            cap.memory_budget(2048, ["db"], {"reserve_min_mb": 256}),
        ),
        ("php_fpm_pool", (1472,), {"cpus": 2}, cap.php_fpm_pool(1472, cpus=2)),
        (
            "php_fpm_pool",
            (1472, 96, 4, {"php_max_requests": 0}),
            {},
            cap.php_fpm_pool(1472, 96, 4, {"php_max_requests": 0}),
        ),
        ("innodb_settings", (24479, 8), {}, cap.innodb_settings(24479, 8)),
        ("mysql_max_connections", ([20, 20], 4), {}, cap.mysql_max_connections([20, 20], 4)),
        (
            "mysql_max_connections",
            ([20], 0),
            {"headroom_percent": 0, "extra_connections": 0},
            cap.mysql_max_connections([20], 0, 0, 0),
        ),
        ("redis_maxmemory", (1536, "none", "cache"), {}, cap.redis_maxmemory(1536, "none", "cache")),
        ("host_capacity", (4096, 2, ["web", "db", "cache"]), {}, cap.host_capacity(4096, 2, ["web", "db", "cache"])),
        (
            "capacity_check",
            ([{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"]}],),
            {},
            cap.capacity_check([{"name": "w", "ram_mb": 2048, "cpus": 2, "groups": ["web"]}]),
        ),
        ("fleet_plan", (900, None, 180, 18000), {}, cap.fleet_plan(900, None, 180, 18000)),
        (
            "growth_plan",
            ([{"year": 0, "concurrent_users": 50}],),
            {},
            cap.growth_plan([{"year": 0, "concurrent_users": 50}]),
        ),
    ],
)
def test_filters_return_the_module_utils_results(name, args, kwargs, expected):
    assert FILTERS[name](*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("name", "args", "match"),
    [
        (
            "memory_budget",
            (-2048, ["web"]),
            r"^memory_budget: ram_mb must be a whole number of MiB from 1 to 16777216, got -2048",
        ),
        ("memory_budget", (2048, "web"), r"^memory_budget: groups must be a list of inventory group names"),
        ("memory_budget", (2048, ["web"], {"colour": "blue"}), r"^memory_budget: unknown capacity setting\(s\) colour"),
        ("memory_budget", (1024, ["web", "db", "cache", "workers"]), r"^memory_budget: ram_mb 1024 MiB is too small"),
        ("php_fpm_pool", (True,), r"^php_fpm_pool: budget_mb must be .* got a boolean \(True\)"),
        ("php_fpm_pool", (1024, None, 0), r"^php_fpm_pool: cpus must be a whole number from 1 to 4096, got 0"),
        ("php_fpm_pool", (1024, None, 2, {"php_pm": "turbo"}), r"^php_fpm_pool: setting php_pm must be one of auto"),
        ("php_fpm_pool", (32,), r"^php_fpm_pool: budget_mb 32 MiB cannot hold one PHP-FPM worker"),
        ("innodb_settings", ("1 GiB",), r"^innodb_settings: budget_mb must be .* got the string '1 GiB'"),
        ("innodb_settings", (1024, -1), r"^innodb_settings: cpus must be"),
        ("mysql_max_connections", ("web1",), r"^mysql_max_connections: web_pools must be a list"),
        (
            "mysql_max_connections",
            ([{"pm": "static"}],),
            r"^mysql_max_connections: web_pools\[0\] must be a PHP-FPM pool",
        ),
        ("mysql_max_connections", ([20], -1), r"^mysql_max_connections: worker_count must be a whole number >= 0"),
        ("redis_maxmemory", (1024, "always"), r"^redis_maxmemory: persistence must be one of none, rdb, aof, rdb\+aof"),
        ("redis_maxmemory", (1024, "rdb", "sessions+cache"), r"^redis_maxmemory: use must be one of cache, sessions"),
        ("redis_maxmemory", (-5,), r"^redis_maxmemory: budget_mb must be"),
        ("host_capacity", (2048, 0, ["web"]), r"^host_capacity: cpus must be"),
        ("host_capacity", (2048, 2, None), r"^host_capacity: groups must be a list"),
        ("capacity_check", ({"name": "w"},), r"^capacity_check: hosts must be a list of per-host mappings"),
        (
            "capacity_check",
            ([{"name": "w", "cpus": 2, "groups": []}],),
            r"^capacity_check: hosts\[0\] \('w'\) is missing ram_mb",
        ),
        ("fleet_plan", ("many",), r"^fleet_plan: concurrent_users must be a whole number >= 0, got the string 'many'"),
        ("fleet_plan", (-1,), r"^fleet_plan: concurrent_users must be"),
        ("growth_plan", ([],), r"^growth_plan: table must have at least one row"),
        ("growth_plan", ([{"year": 1}],), r"^growth_plan: table\[0\] is missing concurrent_users"),
    ],
)
def test_bad_input_is_a_filter_error_naming_the_filter(name, args, match):
    with pytest.raises(AnsibleFilterError, match=match):
        FILTERS[name](*args)


def test_results_are_usable_from_jinja():
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters.update(FILTERS)
    template = env.from_string(
        "{% set c = 2048 | host_capacity(2, ['web', 'lab']) %}"
        "{{ c.php_fpm.pm }} {{ c.php_fpm.max_children }} {{ c.innodb is none }} {{ c.budget.reserve_mb }} "
        "{{ ([c.php_fpm] | mysql_max_connections(4)).max_connections }}"
    )
    assert template.render() == "dynamic 20 True 512 41"


@pytest.mark.parametrize("name", sorted(DOCUMENTED_SETTINGS))
def test_sidecar_documents_the_filter_and_its_settings(name):
    doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text(encoding="utf-8"))
    assert set(doc) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    documentation = doc["DOCUMENTATION"]
    assert documentation["name"] == name
    assert documentation["short_description"]
    assert "_input" in documentation["options"]
    assert "_value" in doc["RETURN"]

    wanted = DOCUMENTED_SETTINGS[name]
    expected = {k: s for k, s in cap.SETTINGS.items() if s.section in wanted or k in wanted}
    documented = documentation["options"]["settings"]["suboptions"]
    assert set(documented) == set(expected)
    for key, spec in expected.items():
        assert documented[key]["type"] == YAML_TYPES[spec.kind], key
        assert documented[key]["default"] == spec.default, key
        assert isinstance(documented[key]["default"], type(cap.default_settings()[key])), key
        assert documented[key].get("choices", []) == list(spec.choices), key
        assert documented[key]["description"], key


def test_documented_return_keys_match_the_results():
    def keys(name):
        return set(
            yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text(encoding="utf-8"))["RETURN"]["_value"]["contains"]
        )

    assert keys("memory_budget") == set(cap.memory_budget(2048, ["web"]))
    assert keys("php_fpm_pool") == set(cap.php_fpm_pool(1024))
    assert keys("innodb_settings") == set(cap.innodb_settings(1024))
    assert keys("mysql_max_connections") == set(cap.mysql_max_connections([10]))
    assert keys("redis_maxmemory") == set(cap.redis_maxmemory(1024))
    assert keys("host_capacity") == set(cap.host_capacity(2048, 2, ["web"]))
    assert keys("capacity_check") == {"host", "check", "message"}
    assert keys("fleet_plan") == set(cap.fleet_plan(50))
    growth = cap.growth_plan([{"year": 0, "concurrent_users": 50}])[0]
    assert keys("growth_plan") == set(growth) - set(cap.fleet_plan(50))
