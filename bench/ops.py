"""Django-side chores on the benchmark database, one subprocess per call.

``python -m bench.ops <command> '<json args>'`` runs with the database and
Redis of the environment (``DATABASE_URL``, ``REDIS_URL``) and prints one
JSON object (with ``cpu_s``, this process's CPU time) on stdout. The
orchestrator runs one per step, so its own process never binds to a
database and each backend gets its own settings.

Commands:

* ``seed`` — the benchmark tenant: Digest only, tenant-wide CPE credentials,
  connection requests allowed to ``127.0.0.0/8``, default
  connection-request credentials (the simulator's), no per-device
  credential provisioning (so sessions carry only what the scenario queues).
* ``preload`` — devices the ACS already knows, written in bulk the way the
  ACS's first contact would have left them: the row from the simulator's own
  Inform (``summary_from_inform``, ``inform_digest``) and its Inform
  parameters, so the next Inform is a quiet one. With ``"bare": true`` only
  the identity (a device pre-provisioned by serial, never seen).
* ``enqueue`` — ``provisioning.services.task_enqueue`` for every device of
  a serial prefix.
* ``connreq`` — ``cwmp.wakeup.jobs.request_connections`` (batch jobs) for every device of a
  prefix (queued jobs for ``manage.py db_worker``).
* ``stats`` — tasks by state, parameters per device, session logs (with
  ``"since": <epoch s>`` only those of sessions started from then on), and
  the connection-request jobs (status, outcome, first start, last finish).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")

import django

django.setup()

from django.db import transaction  # noqa: E402
from django.db.models import Count, Max, Min, QuerySet  # noqa: E402
from django.utils import timezone  # noqa: E402

from cpesim import SimulatedCPE  # noqa: E402
from cpesim.cpe import CPEOptions  # noqa: E402
from cpesim.fleet import make_serials  # noqa: E402
from cpesim.model import DeviceModel  # noqa: E402
from cwmp.protocol import codec  # noqa: E402
from cwmp.protocol import messages as m  # noqa: E402
from devices import services as device_services  # noqa: E402
from devices.identity import make_device_id  # noqa: E402
from devices.models import Device, Parameter, SessionLog  # noqa: E402
from tenants.models import Tenant  # noqa: E402

TENANT = "bench"


def seed(args: dict[str, Any]) -> dict[str, Any]:
    tenant = Tenant.objects.filter(slug=TENANT).first() or Tenant(slug=TENANT, name="Benchmark")
    tenant.cpe_auth_methods = "digest"
    tenant.provision_cr_credentials = False
    tenant.per_device_credentials = False
    tenant.connection_request_networks = "127.0.0.0/8"
    tenant.connection_request_username = args["cr_username"]
    tenant.connection_request_password = args["cr_password"]
    tenant.set_cpe_credentials(args["username"], args["password"])
    tenant.permit_special_networks_as_platform()  # the simulator listens on loopback
    tenant.full_clean()
    tenant.save()
    return {"tenant": tenant.pk, "slug": tenant.slug}


def _devices(args: dict[str, Any]) -> list[SimulatedCPE]:
    """The same devices (serials, values, URLs) the load generator will simulate."""
    options = CPEOptions(cr_port=int(args.get("cr_port") or 0))
    models = [DeviceModel.from_dump(d) for d in args["dumps"]]
    return [
        SimulatedCPE(
            model,
            serial=serial,
            acs_url=args.get("acs_url", "http://127.0.0.1:1/cwmp/bench/"),
            username=args["username"],
            password=args["password"],
            cr_username=args.get("cr_username"),
            cr_password=args.get("cr_password"),
            options=options,
        )
        for model, serial in make_serials(models, int(args["count"]), args["serial_prefix"])
    ]


def preload(args: dict[str, Any]) -> dict[str, Any]:
    tenant = Tenant.objects.get(slug=TENANT)
    now = timezone.now()
    bare = bool(args.get("bare"))
    events = list(args.get("events") or ["2 PERIODIC"])
    devices: list[Device] = []
    params_of: list[list[device_services.ParamValue]] = []
    for cpe in _devices(args):
        body, _ = cpe.build_inform([(e, "") for e in events])
        envelope = codec.parse(body)
        inform = envelope.body
        assert isinstance(inform, m.Inform)
        ident = inform.device_id
        identity = {
            "tenant": tenant,
            "device_id": make_device_id(ident.oui, ident.product_class, ident.serial_number),
            "oui": ident.oui[:6],
            "product_class": ident.product_class[:64],
            "serial_number": ident.serial_number[:64],
        }
        if bare:
            devices.append(Device(**identity))
            params_of.append([])
            continue
        params = [
            device_services.ParamValue(p.name, p.value, p.type or "xsd:string")
            for p in inform.parameter_list
            if p.name
        ]
        fields = device_services.summary_from_inform(params)
        devices.append(
            Device(
                **identity,
                **fields,
                manufacturer=ident.manufacturer[:64],
                first_seen=now,
                last_inform=now,
                last_boot=now,
                last_events=",".join(events),
                inform_digest=device_services.inform_digest(params),
            )
        )
        params_of.append(params)
    batch = 500
    rows = 0
    for start in range(0, len(devices), batch):
        chunk = devices[start : start + batch]
        with transaction.atomic():
            Device.objects.bulk_create(chunk)
            if not bare:
                if chunk[0].pk is None:  # backends that do not return keys
                    ids = dict(
                        Device.objects.filter(
                            tenant=tenant, device_id__in=[d.device_id for d in chunk]
                        ).values_list("device_id", "pk")
                    )
                    for d in chunk:
                        d.pk = ids[d.device_id]
                objs = [
                    Parameter(device=d, path=p.path, value=p.value, type=p.type, updated=now)
                    for d, params in zip(chunk, params_of[start : start + batch], strict=True)
                    for p in params
                ]
                Parameter.objects.bulk_create(objs, batch_size=2000)
                rows += len(objs)
    return {"devices": len(devices), "parameters": rows}


def _prefixed(prefix: str) -> QuerySet[Device]:
    return Device.objects.filter(tenant__slug=TENANT, serial_number__startswith=prefix)


def enqueue(args: dict[str, Any]) -> dict[str, Any]:
    from provisioning.services import task_enqueue

    started = time.perf_counter()
    n = 0
    for device in _prefixed(args["serial_prefix"]).order_by("pk"):
        root = device.data_model or args.get("root", "")
        task_args = json.loads(json.dumps(args["args"]).replace("{root}", root))
        task_enqueue(device=device, type=args["type"], args=task_args, via="bench")
        n += 1
    return {"tasks": n, "elapsed_s": time.perf_counter() - started}


def connreq(args: dict[str, Any]) -> dict[str, Any]:
    """Wake every device of the prefix the way a mass operation does: a few batch jobs."""
    from cwmp.wakeup.jobs import request_connections

    started = time.perf_counter()
    bulk = request_connections(_prefixed(args["serial_prefix"]).order_by("pk").only("pk"))
    return {
        "requests": {"enqueued": bulk.devices, "coalesced": bulk.coalesced},
        "batch_jobs": len(bulk.jobs),
        "elapsed_s": time.perf_counter() - started,
    }


def stats(args: dict[str, Any]) -> dict[str, Any]:
    from django_tasks_db.models import DBTaskResult

    from provisioning.models import Task

    prefix = args["serial_prefix"]
    devices = _prefixed(prefix)
    n_devices = devices.count()
    tasks = dict(
        Task.objects.filter(device__in=devices)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    n_params = Parameter.objects.filter(device__in=devices).count()
    session_logs = SessionLog.objects.filter(device__in=devices)
    if args.get("since") is not None:
        since = datetime.fromtimestamp(float(args["since"]), tz=UTC)
        session_logs = session_logs.filter(started__gte=since)
    logs = dict(
        session_logs.values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n")
    )
    out: dict[str, Any] = {
        "devices": n_devices,
        "tasks": tasks,
        "parameters_per_device": n_params / n_devices if n_devices else 0.0,
        "session_logs": logs,
    }
    if args.get("jobs"):
        # One job per device (request_connection) or per batch (request_connections).
        jobs = DBTaskResult.objects.filter(
            task_path__in=[
                "cwmp.wakeup.jobs.connection_request",
                "cwmp.wakeup.jobs.connection_requests",
            ]
        )
        agg = jobs.aggregate(
            first_enqueued=Min("enqueued_at"),
            first_started=Min("started_at"),
            last_finished=Max("finished_at"),
        )
        outcomes: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for value in jobs.values_list("return_value", flat=True):
            if isinstance(value, dict) and "outcomes" in value:
                outcomes.update(value["outcomes"])
                errors.update(
                    f"{f['outcome']}: {f.get('error') or '-'}" for f in value.get("failures", [])
                )
            else:
                outcomes[
                    (value or {}).get("outcome", "none") if isinstance(value, dict) else "none"
                ] += 1
        out["jobs"] = {
            "count": jobs.count(),
            "status": dict(
                jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n")
            ),
            "outcomes": dict(outcomes),
            "failures": dict(errors.most_common(10)),
            **{k: v.timestamp() if v else None for k, v in agg.items()},
        }
    return out


COMMANDS = {
    "seed": seed,
    "preload": preload,
    "enqueue": enqueue,
    "connreq": connreq,
    "stats": stats,
}


def main() -> None:
    command = sys.argv[1]
    args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    cpu0 = time.process_time()
    out = COMMANDS[command](args)
    out["cpu_s"] = time.process_time() - cpu0
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
