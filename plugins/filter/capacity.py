"""Capacity filters: memory budgets, pool sizes and fleet plans (logic in module_utils/_capacity.py)."""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    # _capacity is imported on first use, not with this file: ansible-core loads every filter file of
    # the collection whenever a task resolves any lmsops.stack filter, in each forked worker, and most
    # tasks use none of the capacity filters (bench/RESULTS.md, eighth session).
    from ansible_collections.lmsops.stack.plugins.module_utils import _capacity

    try:
        return getattr(_capacity, name)(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"{name}: {exc}") from exc


def memory_budget(ram_mb: Any, groups: Any, settings: Any = None, cpus: Any = None) -> dict:
    return _call("memory_budget", ram_mb, groups, settings, cpus=cpus)


def php_fpm_pool(budget_mb: Any, worker_rss_mb: Any = None, cpus: Any = None, settings: Any = None) -> dict:
    return _call("php_fpm_pool", budget_mb, worker_rss_mb, cpus, settings)


def innodb_settings(budget_mb: Any, cpus: Any = None, settings: Any = None) -> dict:
    return _call("innodb_settings", budget_mb, cpus, settings)


def mysql_max_connections(
    web_pools: Any,
    worker_count: Any = 0,
    extra_connections: Any = None,
    headroom_percent: Any = None,
    settings: Any = None,
) -> dict:
    return _call("mysql_max_connections", web_pools, worker_count, extra_connections, headroom_percent, settings)


def redis_maxmemory(budget_mb: Any, persistence: Any = None, use: Any = None, settings: Any = None) -> dict:
    return _call("redis_maxmemory", budget_mb, persistence, use, settings)


def host_capacity(ram_mb: Any, cpus: Any, groups: Any, settings: Any = None) -> dict:
    return _call("host_capacity", ram_mb, cpus, groups, settings)


def capacity_check(hosts: Any, settings: Any = None) -> list:
    return _call("capacity_check", hosts, settings)


def fleet_plan(
    concurrent_users: Any, settings: Any = None, database_size_gb: Any = None, storage_gb: Any = None
) -> dict:
    return _call("fleet_plan", concurrent_users, settings, database_size_gb, storage_gb)


def growth_plan(table: Any, settings: Any = None) -> list:
    return _call("growth_plan", table, settings)


class FilterModule:
    """lmsops.stack capacity filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "capacity_check": capacity_check,
            "fleet_plan": fleet_plan,
            "growth_plan": growth_plan,
            "host_capacity": host_capacity,
            "innodb_settings": innodb_settings,
            "memory_budget": memory_budget,
            "mysql_max_connections": mysql_max_connections,
            "php_fpm_pool": php_fpm_pool,
            "redis_maxmemory": redis_maxmemory,
        }
