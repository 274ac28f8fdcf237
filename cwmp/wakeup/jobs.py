"""Background jobs of the CWMP app (django-tasks; ``manage.py db_worker`` runs them).

Connection requests are sent here and never inside a web request: a CPE may
take seconds to answer or never answer, and a web worker must not wait for
it. ``request_connection`` is the one entry point for the portal, the API
and the management commands.

Order of transports: HTTP first (TR-069 3.2.2), because the CPE's answer
confirms the request; then UDP (TR-069 Annex G / TR-111) when the device has
a UDPConnectionRequestAddress and HTTP could not reach it at all (refused by
the allow-list, e.g. a private address behind NAT; no URL; resolution,
connection or timeout failure). A CPE that answered HTTP (401, 403, 5xx, a
redirect) is reachable, so UDP with the same credentials would not help.

Rate limits (Django's cache, so shared by all workers when Redis is set):
* per device: one request per ``CWMP_CONNREQ_DEVICE_INTERVAL`` seconds
  (TR-069 3.2.2 lets the CPE itself throttle connection requests; we do not
  make it); a request inside the window is coalesced with the queued one;
* per tenant: at most ``CWMP_CONNREQ_TENANT_RATE`` requests per second (a
  fixed one-second window in the cache: ``cache.add`` + ``cache.incr``, both
  atomic in Redis and locmem); a job that finds the window full waits for
  the next one once, then re-queues itself a second later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django_tasks import task

from cwmp.wakeup.connreq import (
    ConnectionRequestResult,
    device_http_connection_request,
    run_sync,
)
from cwmp.wakeup.udp import send_udp_connection_request

if TYPE_CHECKING:
    from devices.models import Device

log = logging.getLogger("acsportal.cwmp.tasks")

# A job re-queued this many times for a full tenant window gives up.
MAX_DEFERRALS = 30


def _device_key(device_pk: int) -> str:
    return f"cwmp:connreq:device:{device_pk}"


def _tenant_key(tenant_id: int, window: int) -> str:
    return f"cwmp:connreq:tenant:{tenant_id}:{window}"


def _now() -> float:
    return time.time()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def take_tenant_slot(tenant_id: int, *, rate: int, now: float | None = None) -> bool:
    """Count one connection request in the tenant's current one-second window.

    True while the window holds at most ``rate`` requests; ``rate <= 0``
    means unlimited. ``cache.add`` creates the counter once and ``cache.incr``
    increments it atomically, so concurrent workers cannot overshoot.
    """
    if rate <= 0:
        return True
    window = int(_now() if now is None else now)
    key = _tenant_key(tenant_id, window)
    cache.add(key, 0, timeout=5)
    try:
        count = cache.incr(key)
    except ValueError:  # the counter expired between add and incr
        cache.add(key, 1, timeout=5)
        count = 1
    return count <= rate


def _acquire_tenant_slot(tenant_id: int) -> bool:
    """One slot now, or in the next window after sleeping until it starts."""
    rate = int(settings.CWMP_CONNREQ_TENANT_RATE)
    if take_tenant_slot(tenant_id, rate=rate):
        return True
    now = _now()
    _sleep(int(now) + 1 - now + 0.005)
    return take_tenant_slot(tenant_id, rate=rate)


def _unreachable(result: ConnectionRequestResult) -> bool:
    """HTTP never reached the CPE (so UDP may): refused here, or no HTTP answer at all."""
    return result.refused or result.status_code is None


def _precheck(device: Device | None, device_pk: int) -> dict[str, Any] | None:
    """The report of a device that cannot be woken at all, or None when it can."""
    if device is None:
        log.info("connreq: device %s no longer exists", device_pk)
        return {"device": device_pk, "attempts": [], "outcome": "no_device"}
    report = {"device": device_pk, "device_id": device.device_id, "attempts": []}
    if not device.tenant.is_active:
        return report | {"outcome": "tenant_inactive"}
    if not device.connection_request_url and not device.udp_connection_request_address:
        log.info("connreq %s: %s has no connection request address", device.tenant.slug, device)
        return report | {"outcome": "no_address"}
    return None


async def _wake(device: Device, *, log_level: int = logging.INFO) -> dict[str, Any]:
    """HTTP first, UDP when HTTP could not reach the device; the job's report."""
    report: dict[str, Any] = {"device": device.pk, "device_id": device.device_id, "attempts": []}
    outcome = "failed"
    http = None
    if device.connection_request_url:
        http = await device_http_connection_request(device, log_level=log_level)
        report["attempts"].append(http.as_dict())
        if http.ok:
            outcome = "ok"
    if device.udp_connection_request_address and (http is None or _unreachable(http)):
        # Its copies are spaced by sleeps: a thread, so the batch goes on meanwhile.
        udp = await asyncio.to_thread(send_udp_connection_request, device)
        report["attempts"].append(udp.as_dict())
        if udp.ok:
            outcome = "ok"
    last = report["attempts"][-1]
    report.update(outcome=outcome, transport=last["transport"], error=last["error"])
    return report


def run_connection_request(device_pk: int, *, defer: bool = True, deferrals: int = 0) -> dict:
    """Send a connection request to one device; the job's body. Never raises for a device.

    Returns a JSON-able report: ``outcome`` is ``ok``, ``failed``,
    ``no_address``, ``no_device``, ``tenant_inactive``, ``deferred`` (tenant
    window full, re-queued when ``defer``) or ``rate_limited``.
    """
    from devices.models import Device

    device = Device.objects.select_related("tenant").filter(pk=device_pk).first()
    refused = _precheck(device, device_pk)
    if refused is not None or device is None:
        return refused or {}
    if not _acquire_tenant_slot(device.tenant_id):
        report = {"device": device_pk, "device_id": device.device_id, "attempts": []}
        if defer and deferrals < MAX_DEFERRALS:
            connection_request.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue(
                device_pk, deferrals=deferrals + 1
            )
            return report | {"outcome": "deferred"}
        log.warning("connreq %s: %s dropped, tenant rate limit", device.tenant.slug, device)
        return report | {"outcome": "rate_limited"}
    return run_sync(_wake(device))


def run_connection_requests(device_pks: Sequence[int], *, concurrency: int | None = None) -> dict:
    """Wake many devices at once: the body of one batch job. Never raises for a device.

    One query loads the batch; the requests then run on one event loop, at
    most ``concurrency`` (``CWMP_CONNREQ_CONCURRENCY``) in flight, each
    waiting for a slot of its tenant's per-second budget instead of being
    re-queued. Returns the count of each outcome and the failures.
    """
    from devices.models import Device

    limit = max(1, int(concurrency or settings.CWMP_CONNREQ_CONCURRENCY))
    rate = int(settings.CWMP_CONNREQ_TENANT_RATE)
    found = {
        d.pk: d for d in Device.objects.select_related("tenant").filter(pk__in=list(device_pks))
    }
    reports: list[dict[str, Any]] = []
    ready: list[Device] = []
    for pk in device_pks:
        refused = _precheck(found.get(pk), pk)
        if refused is not None:
            reports.append(refused)
        else:
            ready.append(found[pk])

    async def slot(tenant_id: int) -> None:
        while not take_tenant_slot(tenant_id, rate=rate):
            now = _now()
            await asyncio.sleep(int(now) + 1 - now + 0.005)

    async def main() -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(limit)

        async def one(device: Device) -> dict[str, Any]:
            async with gate:
                await slot(device.tenant_id)
                return await _wake(device, log_level=logging.DEBUG)

        return list(await asyncio.gather(*(one(d) for d in ready)))

    if ready:
        reports.extend(run_sync(main()))
    outcomes = Counter(r["outcome"] for r in reports)
    failures = [
        {"device": r["device"], "outcome": r["outcome"], "error": r.get("error", "")}
        for r in reports
        if r["outcome"] != "ok"
    ]
    log.info(
        "connreq batch: %d devices, %s",
        len(device_pks),
        ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
    )
    return {"devices": len(device_pks), "outcomes": dict(outcomes), "failures": failures[:100]}


@task()
def connection_request(device_pk: int, deferrals: int = 0) -> dict:
    """Job: wake one CPE (TR-069 3.2.2, Annex G); see ``run_connection_request``."""
    return run_connection_request(device_pk, defer=True, deferrals=deferrals)


@task()
def connection_requests(device_pks: list[int]) -> dict:
    """Job: wake a batch of CPEs at once; see ``run_connection_requests``."""
    return run_connection_requests(device_pks)


@dataclass(slots=True, frozen=True)
class ConnectionRequestTicket:
    """What ``request_connection`` did: queued a job, joined a queued one, or ran it."""

    status: Literal["enqueued", "coalesced", "done"]
    task_id: str | None = None
    result: dict[str, Any] | None = field(default=None)


def request_connection(device: Device, *, wait: bool = False) -> ConnectionRequestTicket:
    """Ask ``device`` to open a CWMP session: enqueue the job, or run it inline with ``wait``.

    Web requests always enqueue (``wait=False``); ``wait=True`` is for
    management commands, which may block. A second request for the same
    device inside ``CWMP_CONNREQ_DEVICE_INTERVAL`` seconds is coalesced into
    the first (``status="coalesced"``, with the first job's id when known).
    """
    window = int(settings.CWMP_CONNREQ_DEVICE_INTERVAL)
    key = _device_key(device.pk)
    if window > 0 and not cache.add(key, "", timeout=window):
        log.info("connreq: %s coalesced with a request less than %ss old", device, window)
        return ConnectionRequestTicket("coalesced", task_id=cache.get(key) or None)
    if wait:
        return ConnectionRequestTicket(
            "done", result=run_connection_request(device.pk, defer=False)
        )
    try:
        queued = connection_request.enqueue(device.pk)
    except Exception:
        cache.delete(key)  # nothing queued: do not coalesce the next request into it
        raise
    if window > 0:
        cache.set(key, str(queued.id), timeout=window)
    return ConnectionRequestTicket("enqueued", task_id=str(queued.id))


@dataclass(slots=True, frozen=True)
class BulkConnectionRequest:
    """What ``request_connections`` did: batch jobs queued, devices in them, coalesced."""

    jobs: list[str]
    devices: int
    coalesced: int


def request_connections(
    devices: Iterable[Device], *, batch_size: int | None = None
) -> BulkConnectionRequest:
    """Ask many devices to call in: a few batch jobs, never one job per device.

    For campaigns and mass tasks (DESIGN: mass work is rows plus a few jobs
    that walk them). Devices asked less than ``CWMP_CONNREQ_DEVICE_INTERVAL``
    seconds ago are coalesced as in ``request_connection``; the rest go in
    batches of ``CWMP_CONNREQ_BATCH`` to ``connection_requests`` jobs, which
    the job workers share out.
    """
    window = int(settings.CWMP_CONNREQ_DEVICE_INTERVAL)
    size = max(1, int(batch_size or settings.CWMP_CONNREQ_BATCH))
    pks: list[int] = []
    coalesced = 0
    for device in devices:
        if window > 0 and not cache.add(_device_key(device.pk), "", timeout=window):
            coalesced += 1
            continue
        pks.append(device.pk)
    jobs = [
        str(connection_requests.enqueue(pks[start : start + size]).id)
        for start in range(0, len(pks), size)
    ]
    return BulkConnectionRequest(jobs=jobs, devices=len(pks), coalesced=coalesced)
