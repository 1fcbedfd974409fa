"""How many cores this process may use: what sizes an embedded engine's reader threads.

Two limits apply on Linux: the CPU affinity (the cores the process may run on, e.g. a
container's cpuset) and a CPU quota (a cgroup's ``cpu.max``, or ``cpu.cfs_quota_us`` under
cgroup v1: what ``docker --cpus`` and a Kubernetes CPU limit set). Under a quota of 1.5 cores on
an 8-core host, the affinity alone says 8, and threads sized for 8 cores would wait for one
another; the quota says 2 (rounded up: a fraction of a core still runs a thread).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["cgroup_cpu_quota", "usable_cpus"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    """Cores this process may use: its affinity, fewer under a CPU quota; at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, membership: str | None = None) -> float | None:
    """Cores' worth of CPU time this process's cgroup may use per period (the smallest over the
    cgroup and its parents, which limit it too), or None when there is no quota or no way to
    tell. ``membership`` is the text of /proc/self/cgroup (read when not given)."""
    if membership is None:
        try:
            membership = Path("/proc/self/cgroup").read_text()
        except (OSError, ValueError):  # ValueError: a cgroup name that is not UTF-8
            return None
    quotas = []
    for line in membership.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            # cgroup v2, mounted at the root or, beside v1 controllers, at root/unified.
            for mount in (root, root / "unified"):
                quotas += _quotas_up_the_tree(mount, path, _read_cpu_max)
        elif "cpu" in controllers.split(","):
            # Mounted under the controllers' names; "cpu" is often a link to "cpu,cpuacct".
            for mount in dict.fromkeys((root / controllers, root / "cpu", root / "cpu,cpuacct")):
                quotas += _quotas_up_the_tree(mount, path, _read_cfs_quota)
    return min(quotas) if quotas else None


def _quotas_up_the_tree(
    mount: Path, path: str, read: Callable[[Path], float | None]
) -> list[float]:
    """The quotas set on ``path``'s cgroup and on each parent, under one mount."""
    found: list[float] = []
    directory = mount / path.strip("/")
    while True:
        quota = read(directory)
        if quota is not None:
            found.append(quota)
        if directory == mount or mount not in directory.parents:
            return found
        directory = directory.parent


def _read_cpu_max(directory: Path) -> float | None:
    # "max 100000" (no quota) or "150000 100000": microseconds per period.
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else _ratio(quota, period)
    except (OSError, ValueError):
        return None


def _read_cfs_quota(directory: Path) -> float | None:
    # cgroup v1: -1 for no quota.
    try:
        quota = (directory / "cpu.cfs_quota_us").read_text().strip()
        period = (directory / "cpu.cfs_period_us").read_text().strip()
        return None if quota.startswith("-") else _ratio(quota, period)
    except (OSError, ValueError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    quota_us, period_us = int(quota), int(period)
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None
