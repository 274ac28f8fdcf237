"""Tasks and faults: what staff, the API, profiles and campaigns ask of devices."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from devices.models import Device, DeviceOwned
from tenants.models import Tenant
from tenants.querysets import DeviceOwnedManager, DeviceOwnedQuerySet


class TaskState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAULT = "fault", "Fault"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


OPEN_STATES = (TaskState.QUEUED, TaskState.RUNNING)


class Task(DeviceOwned):
    """One RPC, or a composite action, for one device.

    A task for an offline device waits in ``queued`` until the device's next
    session; it is never dropped. ``running`` means an RPC of it is out in a
    session; if that session breaks, the next session sends it again once
    (``attempts`` counts), so nothing is lost and nothing is done twice by
    the ACS's own doing.

    Its device is its tenant's (:class:`~devices.models.DeviceOwned`), and
    its ``type`` and ``args`` are what the task type validated: a new row
    whose arguments did not pass ``validate_args()`` (or ``clean()``) is
    validated by ``save()`` itself, so no entry point stores a task its type
    would refuse.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="tasks")
    type = models.CharField(max_length=40)
    args = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=TaskState.choices, default=TaskState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Back-off after a fault")
    expires = models.DateTimeField(null=True, blank=True)
    # Composite tasks keep their cursor here between RPCs and sessions.
    progress = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    fault_code = models.PositiveIntegerField(null=True, blank=True)
    fault_string = models.CharField(max_length=256, blank=True)
    command_key = models.CharField(max_length=32, blank=True)
    session_id = models.CharField(max_length=32, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_via = models.CharField(max_length=20, blank=True, help_text="cli, api, portal, …")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = DeviceOwnedManager()

    # True once type and args came through validated_args (not stored).
    _args_validated = False

    class Meta:
        indexes = [
            models.Index(fields=["device", "state", "id"], name="task_device_state"),
            models.Index(fields=["tenant", "state"], name="task_tenant_state"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk} for {self.device_id} ({self.state})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row read back was validated when it was queued; a new one is
        # validated here unless its creator did (one pass, no query).
        if self._state.adding and not self._args_validated:
            self.validate_args()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from provisioning.tasktypes import TASK_TYPES, InvalidTask

        errors: dict[str, str] = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors.update({k: "; ".join(v) for k, v in exc.message_dict.items()})
        if self.type not in TASK_TYPES:
            errors["type"] = f"unknown task type {self.type!r}"
        else:
            try:
                self.validate_args()
            except InvalidTask as exc:
                errors["args"] = str(exc)
        if errors:
            raise ValidationError(errors)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def validate_args(self) -> None:
        """Normalise ``args`` through the task type of ``type``; InvalidTask if it refuses them."""
        # Imported here: the task types reach devices.services, which reads
        # Device's fields at import, before the app registry is ready.
        from provisioning.tasktypes import validated_args

        self.args = validated_args(self.type, self.args)
        self._args_validated = True


class Fault(DeviceOwned):
    """A fault a CPE answered, kept per device and per task (TR-069 A.5.1)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="faults")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="faults"
    )
    method = models.CharField(max_length=40)
    code = models.PositiveIntegerField()
    string = models.CharField(max_length=256, blank=True)
    # SetParameterValuesFault entries: [{"parameter", "code", "string"}].
    detail = models.JSONField(default=list, blank=True)
    session_id = models.CharField(max_length=32, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = DeviceOwnedManager()

    class Meta:
        indexes = [models.Index(fields=["device", "-created"], name="fault_device_created")]
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.code} {self.string} ({self.method} on {self.device_id})"


class FileType(models.TextChoices):
    """Download FileTypes (TR-069 A.3.2.8); Upload has its own (UploadFileType)."""

    FIRMWARE = "1 Firmware Upgrade Image"
    WEB_CONTENT = "2 Web Content"
    VENDOR_CONFIG = "3 Vendor Configuration File"
    TONE = "4 Tone File"
    RINGER = "5 Ringer File"


class UploadFileType(models.TextChoices):
    """Upload FileTypes (TR-069 A.4.1.5)."""

    VENDOR_CONFIG = "1 Vendor Configuration File"
    VENDOR_LOG = "2 Vendor Log File"


def _file_path(instance: File, filename: str) -> str:
    return f"files/{instance.tenant_id}/{instance.token}"


class File(DeviceOwned):
    """A firmware image or configuration file of a tenant, or one a device uploaded.

    Served to CPEs only through authenticated URLs (device credentials, or a
    signed expiring link per task), never publicly.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200)
    file_type = models.CharField(max_length=64)
    version = models.CharField(max_length=64, blank=True)
    # Applicability; blank matches any.
    oui = models.CharField(max_length=6, blank=True)
    product_class = models.CharField(max_length=64, blank=True)
    content = models.FileField(upload_to=_file_path, max_length=300)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    md5 = models.CharField(max_length=32, blank=True)
    # An unguessable name for URLs and storage.
    token = models.CharField(max_length=32, unique=True)
    # Set for files a device uploaded (configuration backups, logs).
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = DeviceOwnedManager()

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["tenant", "file_type"], name="file_tenant_type")]

    def __str__(self) -> str:
        return f"{self.name} ({self.file_type} {self.version})".strip()


class FileFetchQuerySet(DeviceOwnedQuerySet):
    # A fetch belongs to the tenant of the file fetched.
    tenant_field = "file__tenant"


class FileFetch(models.Model):
    """One request for a file by a device: the file server's own log.

    A CPE that answers Download with Status 0 but never fetched the file
    shows here as no complete fetch, and the task is flagged unconfirmed.
    """

    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="fetches")
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="fetches"
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    remote_address = models.GenericIPAddressField(null=True, blank=True)
    range = models.CharField(max_length=100, blank=True)
    status = models.PositiveSmallIntegerField()
    bytes_sent = models.PositiveBigIntegerField(default=0)
    complete = models.BooleanField(default=False)
    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = models.Manager.from_queryset(FileFetchQuerySet)()

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"{self.file_id} -> {self.remote_address} {self.status} {self.bytes_sent}B"
