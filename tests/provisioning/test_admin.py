"""Files and the fetch log in the Django admin: stored through the service, scoped by tenant."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from provisioning import files
from provisioning.models import File, FileFetch
from tenants.models import Membership, Role
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db
ADD = "/admin/provisioning/file/add/"
IMAGE = b"CPESIM-FIRMWARE version=V7\n" + bytes(range(256)) * 400


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def world():
    a, b = TenantFactory(slug="a"), TenantFactory(slug="b")
    User = get_user_model()
    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    operator = User.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    Membership.objects.create(user=viewer, tenant=a, role=Role.VIEWER)
    Membership.objects.create(user=operator, tenant=a, role=Role.OPERATOR)
    Membership.objects.create(user=operator, tenant=b, role=Role.VIEWER)
    return a, b, viewer, operator


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(tenant, *, name="", data=IMAGE, **extra):
    return {
        "tenant": tenant.pk,
        "name": name,
        "file_type": "1 Firmware Upgrade Image",
        "version": "V7",
        "oui": "00259E",
        "product_class": "EG8145V5",
        "upload": SimpleUploadedFile("eg8145v5-v7.bin", data),
        **extra,
    }


def test_operator_uploads_a_file_stored_by_the_service(world, media):
    a, _, _, operator = world
    client = client_for(operator)
    assert client.get(ADD).status_code == 200
    response = client.post(ADD, upload(a))
    assert response.status_code == 302, response.content.decode()[-2000:]
    stored = File.objects.get()
    assert (stored.tenant, stored.name, stored.version) == (a, "eg8145v5-v7.bin", "V7")
    assert stored.size == len(IMAGE)
    assert stored.sha256 == hashlib.sha256(IMAGE).hexdigest()
    assert stored.md5 == hashlib.md5(IMAGE).hexdigest()
    assert stored.created_by == operator and stored.device is None
    assert stored.content.name == f"files/{a.pk}/{stored.token}"
    assert (media / stored.content.name).read_bytes() == IMAGE
    assert response["Location"].endswith("/admin/provisioning/file/")


def test_the_name_given_wins_over_the_upload_name(world):
    a, _, _, operator = world
    client_for(operator).post(ADD, upload(a, name="Firmware V7"))
    assert File.objects.get().name == "Firmware V7"


def test_no_file_for_a_tenant_the_operator_only_views(world, media):
    _, b, _, operator = world
    response = client_for(operator).post(ADD, upload(b))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not File.objects.exists()
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_viewers_cannot_add(world):
    a, _, viewer, _ = world
    client = client_for(viewer)
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, upload(a)).status_code == 403
    assert not File.objects.exists()


def test_oversize_upload_is_a_form_error_and_stores_nothing(world, media, settings):
    a, _, _, operator = world
    settings.ACS_MAX_FILE_BYTES = 1000
    response = client_for(operator).post(ADD, upload(a))
    assert response.status_code == 200 and "ACS_MAX_FILE_BYTES" in response.content.decode()
    assert not File.objects.exists()
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_listing_and_pages_are_scoped_by_tenant(world):
    a, b, viewer, operator = world
    mine = files.file_create(
        tenant=a, name="mine.bin", file_type="1 Firmware Upgrade Image", content=b"1"
    )
    theirs = files.file_create(
        tenant=b, name="theirs.bin", file_type="1 Firmware Upgrade Image", content=b"2"
    )
    client = client_for(viewer)
    listing = client.get("/admin/provisioning/file/")
    assert listing.status_code == 200
    assert b"mine.bin" in listing.content and b"theirs.bin" not in listing.content
    assert client.get(f"/admin/provisioning/file/{mine.pk}/change/").status_code == 200
    other = client.get(f"/admin/provisioning/file/{theirs.pk}/change/")
    assert other.status_code in (302, 404)  # the admin's "does not exist": no existence leak
    # The operator views b's file but may not change it.
    page = client_for(operator).get(f"/admin/provisioning/file/{theirs.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_change_edits_the_description_never_the_stored_bytes(world):
    a, _, _, operator = world
    stored = files.file_create(
        tenant=a, name="fw.bin", file_type="1 Firmware Upgrade Image", content=IMAGE
    )
    url = f"/admin/provisioning/file/{stored.pk}/change/"
    response = client_for(operator).post(
        url,
        {
            "name": "fw renamed",
            "version": "V8",
            "oui": "",
            "product_class": "",
            "sha256": "0" * 64,
            "size": "1",
            "file_type": "3 Vendor Configuration File",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    stored.refresh_from_db()
    assert (stored.name, stored.version) == ("fw renamed", "V8")
    assert stored.sha256 == hashlib.sha256(IMAGE).hexdigest() and stored.size == len(IMAGE)
    assert stored.file_type == "1 Firmware Upgrade Image"


def test_fetch_log_is_read_only_and_scoped_by_the_files_tenant(world):
    a, b, viewer, _ = world
    mine = files.file_create(
        tenant=a, name="mine.bin", file_type="1 Firmware Upgrade Image", content=b"1"
    )
    theirs = files.file_create(
        tenant=b, name="theirs.bin", file_type="1 Firmware Upgrade Image", content=b"2"
    )
    seen = FileFetch.objects.create(
        file=mine, device=DeviceFactory(tenant=a), remote_address="192.0.2.1", status=200
    )
    hidden = FileFetch.objects.create(
        file=theirs, device=DeviceFactory(tenant=b), remote_address="192.0.2.2", status=200
    )
    assert list(FileFetch.objects.restrict(viewer)) == [seen]
    client = client_for(viewer)
    listing = client.get("/admin/provisioning/filefetch/")
    assert listing.status_code == 200
    assert b"192.0.2.1" in listing.content and b"192.0.2.2" not in listing.content
    page = client.get(f"/admin/provisioning/filefetch/{seen.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get(f"/admin/provisioning/filefetch/{hidden.pk}/change/").status_code in (
        302,
        404,
    )
    assert client.get("/admin/provisioning/filefetch/add/").status_code == 403
    assert client.post(f"/admin/provisioning/filefetch/{seen.pk}/delete/").status_code == 403
    superuser = get_user_model().objects.create_superuser("root", password="pw-root-123")
    assert client_for(superuser).get("/admin/provisioning/filefetch/add/").status_code == 403
