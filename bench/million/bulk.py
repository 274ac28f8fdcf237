"""Queueing a task for ~100,000 devices (the issue's < 60 s), beside one device at a time.

Each bulk run is rolled back so that every run starts from the same tables.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.million.timing import Result


def bulk_enqueue(
    filters: dict[str, Any], runs: int, naive: int, log: Callable[[str], None]
) -> list[Result]:
    """task_enqueue_bulk over ~10% of the fleet (rolled back each run) vs task_enqueue per device."""
    from django.db import connection, transaction

    from devices.models import Device
    from provisioning.models import Task
    from provisioning.services import task_enqueue, task_enqueue_bulk

    tenant, pclass = filters["bulk_tenant"], filters["bulk_product_class"]
    qs = Device.objects.filter(tenant_id=tenant, product_class=pclass)
    root = qs.values_list("data_model", flat=True).first() or "InternetGatewayDevice"
    args = {
        "values": [[f"{root}.ManagementServer.PeriodicInformInterval", "1800", "xsd:unsignedInt"]]
    }

    class _Undo(Exception):
        pass

    bulk = Result(
        "bulk_enqueue",
        f"task_enqueue_bulk for every {pclass} of tenant {tenant} (~{filters['bulk_expected']:,})",
        60_000,
    )
    for _ in range(runs):
        try:
            with transaction.atomic():
                flagged_before = Device.objects.filter(has_tasks=True).count()
                with connection.cursor() as cur:
                    # The foreign keys are checked at COMMIT, which a rolled-back run
                    # never reaches: check them in the statement, inside the timing.
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                start = time.perf_counter()
                created = task_enqueue_bulk(
                    tenant=tenant,
                    devices=Device.objects.filter(product_class=pclass),
                    type="set_parameter_values",
                    args=args,
                    via="bench",
                )
                bulk.client_ms.append((time.perf_counter() - start) * 1000)
                flagged = Device.objects.filter(has_tasks=True).count() - flagged_before
                bulk.rows = {"tasks": created, "devices_flagged": flagged}
                raise _Undo
        except _Undo:
            pass
    bulk.note = "each run rolled back after timing; foreign keys checked immediately"
    log(f"  bulk_enqueue: {bulk.rows} in {statistics.median(bulk.client_ms):.0f} ms (median)")
    naive_result = Result(
        "naive_enqueue", f"task_enqueue per device, {naive:,} devices (ORM, one by one)", None
    )
    picked = list(qs.order_by("id")[:naive])
    created_ids: list[int] = []
    start = time.perf_counter()
    for device in picked:
        created_ids.append(
            task_enqueue(device=device, type="set_parameter_values", args=args, via="bench").pk
        )
    elapsed = (time.perf_counter() - start) * 1000
    naive_result.client_ms.append(elapsed)
    per_task = elapsed / max(len(picked), 1)
    naive_result.rows = {
        "tasks": len(created_ids),
        "ms_per_task": round(per_task, 3),
        "extrapolated_100k_s": round(per_task * 100_000 / 1000, 1),
    }
    Task.objects.filter(pk__in=created_ids).delete()
    Device.objects.filter(pk__in=[d.pk for d in picked]).update(has_tasks=False)
    if not connection.in_atomic_block:
        with connection.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) provisioning_task")
            cur.execute("VACUUM (ANALYZE) devices_device")
    log(f"  naive_enqueue: {naive_result.rows}")
    return [bulk, naive_result]
