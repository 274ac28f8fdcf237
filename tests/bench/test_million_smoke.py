"""A tiny run of the million-device loader and measurements (bench/million/).

PostgreSQL only (the loader uses COPY): 200 devices, 5 of them with their
full trees, on the test database. Counts are checked and every measured
query must run; timings are never asserted.
"""

from __future__ import annotations

import pytest
from django.db import connection

from bench.million.db import load_meta
from bench.million.loader import load
from bench.million.measure import measure
from bench.million.report import markdown
from devices.models import Device, Parameter, SessionLog
from provisioning.models import Task

pytestmark = pytest.mark.django_db

DEVICES, FULL = 200, 5


@pytest.fixture
def loaded():
    if connection.vendor != "postgresql":
        pytest.skip("the million-device loader needs PostgreSQL")
    return load(devices=DEVICES, full_trees=FULL, batch_devices=60, batch_full=2, log=_quiet)


def _quiet(_: str) -> None:
    pass


def test_load_counts_and_sizes(loaded):
    assert Device.objects.count() == DEVICES
    assert SessionLog.objects.count() == DEVICES
    phases = {p["name"]: p for p in loaded["phases"]}
    assert phases["ordinary"]["devices"] == DEVICES - FULL
    assert phases["full"]["devices"] == FULL
    assert (
        Parameter.objects.count() == phases["ordinary"]["parameters"] + phases["full"]["parameters"]
    )
    # 35-36 parameters per ordinary device; a whole dump (935-5229 nodes) per full tree.
    per_ordinary = phases["ordinary"]["parameters"] / (DEVICES - FULL)
    assert 30 <= per_ordinary <= 40
    assert phases["full"]["parameters"] >= FULL * 900
    full_ids = range(phases["full"]["first_device_id"], phases["full"]["last_device_id"] + 1)
    assert Parameter.objects.filter(device_id__in=full_ids, is_object=True).exists()
    assert not Parameter.objects.exclude(device_id__in=full_ids).filter(is_object=True).exists()
    # Identities are unique and consistent with the summary columns.
    assert Device.objects.values("device_id").distinct().count() == DEVICES
    device = Device.objects.get(pk=phases["ordinary"]["first_device_id"])
    root = device.data_model
    sw = Parameter.objects.get(device=device, path=f"{root}.DeviceInfo.SoftwareVersion")
    assert sw.value == device.software_version
    assert device.cwmp_username and len(device.cwmp_ha1_sha256) == 64
    assert device.last_inform is not None and device.ip_address
    bpd = loaded["bytes_per_device"]
    assert bpd["ordinary"]["device_plus_parameters"] > 0
    assert bpd["full"]["parameters"] > bpd["ordinary"]["parameters"]
    # Sequences continue after the explicit ids the loader wrote.
    created = Device.objects.create(tenant_id=device.tenant_id, device_id="x-y-z", oui="x")
    assert created.pk > phases["full"]["last_device_id"]


def test_every_measurement_runs(loaded):
    out = measure(repeat=2, slow_repeat=1, naive=3, log=_quiet)
    keys = {r["key"] for r in out["results"]}
    assert {
        "lookup_serial",
        "lookup_identity",
        "lookup_device_id",
        "params_ordinary",
        "params_full",
        "list_page",
        "list_count",
        "list_page_rare",
        "list_page_offline",
        "list_page_deep",
        "match_ssid",
        "match_channel",
        "match_sw_like",
        "match_ssid_orm",
        "match_sw_summary",
        "session_select",
        "session_update",
        "sessionlog_insert",
        "sessionlog_update",
        "bulk_enqueue",
        "naive_enqueue",
    } <= keys
    for r in out["results"]:
        assert r["runs"] >= 1, r["key"]
    by_key = {r["key"]: r for r in out["results"]}
    assert by_key["lookup_serial"]["server_median_ms"] is not None
    assert by_key["lookup_serial"]["plan"]
    expected = out["filters"]["bulk_expected"]
    assert by_key["bulk_enqueue"]["rows"]["tasks"] == expected
    assert by_key["naive_enqueue"]["rows"]["tasks"] == 3
    # Both runs were undone: no task left, no device flagged.
    assert not Task.objects.exists()
    assert not Device.objects.filter(has_tasks=True).exists()
    interned = out["interned"]
    assert {r["key"] for r in interned["results"]} >= {
        "interned_params_ordinary",
        "interned_params_full",
        "interned_match_ssid",
        "interned_match_sw_like",
        "upsert_current",
        "upsert_interned",
    }
    rows = sum(p["rows"] for p in interned["build"]["phases"])
    assert rows == Parameter.objects.count()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_param_interned")
        assert cur.fetchone()[0] == rows
    experiments = out["index_experiments"]
    keys = {r["key"] for r in experiments["results"]}
    assert {
        "without_list_count",
        "without_match_ssid",
        "without_match_channel",
        "without_match_sw_like",
        "alt_match_ssid_bench_param_value",
        "alt_match_ssid_bench_param_ssid",
    } <= keys
    assert set(experiments["indexes"]) == {"bench_param_value", "bench_param_ssid"}
    assert all(experiments["app_indexes"].values())
    by_key = {r["key"]: r for r in out["results"]}
    assert "LENGTH" in by_key["match_ssid_orm"]["note"]
    with connection.cursor() as cur:  # alternatives dropped, the application's indexes kept
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname IN"
            " ('bench_param_value', 'bench_param_ssid', 'parameter_search', 'device_model_version')"
        )
        assert {r[0] for r in cur.fetchall()} == {"parameter_search", "device_model_version"}
    assert (
        loaded["bytes_per_device"]["full"]["index_bytes"]["devices_parameter.parameter_search"] > 0
    )
    assert markdown(load_meta("load"), out)


def test_task_enqueue_bulk_on_loaded_devices(loaded):
    """The service the bulk measurement times, on loader-made rows (details: tests/provisioning)."""
    from provisioning.models import TaskState
    from provisioning.services import task_enqueue_bulk

    device = Device.objects.order_by("pk").first()
    matched = Device.objects.filter(tenant_id=device.tenant_id, product_class=device.product_class)
    n = matched.count()
    root = device.data_model
    args = {
        "values": [[f"{root}.ManagementServer.PeriodicInformInterval", "1800", "xsd:unsignedInt"]]
    }
    created = task_enqueue_bulk(
        tenant=device.tenant_id,
        devices=Device.objects.filter(product_class=device.product_class),
        type="set_parameter_values",
        args=args,
        via="test",
    )
    assert created == n
    tasks = Task.objects.filter(device__in=matched)
    assert tasks.count() == n
    assert set(tasks.values_list("tenant_id", flat=True)) == {device.tenant_id}
    assert set(tasks.values_list("state", flat=True)) == {TaskState.QUEUED}
    assert len(set(tasks.values_list("command_key", flat=True))) == n
    assert matched.filter(has_tasks=True).count() == n
    assert not Task.objects.exclude(tenant_id=device.tenant_id).exists()
