"""What a distributed bake has to do: the specs not yet in the cache, grouped by what a worker keeps loaded
(model fingerprint, device, dtype), and how many workers each group gets. No Ray, no torch: plain data, tested on
its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..bake import Baker
from ..errors import ExplorableError
from ..spec import SpecBase


@dataclass
class Job:
    """One spec to bake: its key (the driver's; the worker recomputes and compares it) and what rebuilds it."""

    key: str
    where: str
    record: dict[str, Any]


@dataclass
class Group:
    """Specs sharing one loaded model: (fingerprint, device, dtype)."""

    fingerprint: str
    label: str
    device: str
    dtype: str
    jobs: list[Job] = field(default_factory=list)
    workers: int = 1


@dataclass
class Plan:
    groups: list[Group]
    cached: list[str]                 # where() of specs already baked
    errors: list[ExplorableError]     # specs that cannot even be keyed (unknown model, ...)

    @property
    def total(self) -> int:
        return len(self.cached) + sum(len(group.jobs) for group in self.groups)


def record(spec: SpecBase) -> dict[str, Any]:
    """What a worker needs to rebuild `spec` exactly (its fields as written, and where it was written)."""
    return {"data": spec.model_dump(mode="json", exclude_unset=True), "file": spec.file,
            "lines": dict(spec._lines)}


def rebuild(item: dict[str, Any]) -> SpecBase:
    """The spec `record` describes (same digest, same placed errors)."""
    from ..spec import spec_from_data

    spec = spec_from_data(item["data"], file=item["file"], unused_options=False)    # checked when it was read
    spec._lines = dict(item["lines"])
    return spec


def plan(specs: list[SpecBase], baker: Baker, workers: int) -> Plan:
    """Key every spec, leave out those the cache holds, group the rest by model and precision, and share
    `workers` among the groups: each gets one, the rest go one at a time to the group with the most specs per
    worker (never more workers than specs)."""
    groups: dict[tuple[str, str, str], Group] = {}
    cached: list[str] = []
    errors: list[ExplorableError] = []
    seen: set[str] = set()
    for spec in specs:
        try:
            key = baker.key(spec)
            source = baker.source(spec)
            precision = baker.precision(spec)
        except ExplorableError as error:
            errors.append(error)
            continue
        if key in seen:
            continue
        seen.add(key)
        if baker.cache.has(key):
            cached.append(spec.where())
            continue
        ident = (source.fingerprint(), precision.device, precision.dtype)
        group = groups.setdefault(ident, Group(ident[0], source.label, precision.device, precision.dtype))
        group.jobs.append(Job(key, spec.where(), record(spec)))
    ordered = sorted(groups.values(), key=lambda group: -len(group.jobs))
    for _ in range(max(0, workers - len(ordered))):
        open_groups = [group for group in ordered if group.workers < len(group.jobs)]
        if not open_groups:
            break
        max(open_groups, key=lambda group: len(group.jobs) / group.workers).workers += 1
    return Plan(ordered, cached, errors)
