"""Devices, their parameter trees and what happened in their sessions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from acsportal.infra.fieldcrypt import EncryptedTextField
from tenants.models import Tenant
from tenants.querysets import DeviceOwnedManager, DeviceOwnedQuerySet, GrantedManager


class Registration(models.TextChoices):
    """How sure a tenant is that a device is its own (issue 10: no squatting across tenants).

    A CPE's first Inform proves only that it knows the tenant's CPE
    credentials, which every device (and anyone holding one) shares, so the
    row it creates is *provisional*: served, but claimable. A row the tenant
    made or vouched for (``devices.services.device_preregister`` and
    ``device_confirm``; rows created by people, the admin's included, default
    to it) is *confirmed*, and a DeviceId is confirmed in one tenant at most
    (the constraint ``device_confirmed_unique_id``). When a tenant confirms
    an id that others hold provisionally, their rows become *superseded*:
    kept with all their data, never served again, never moved.
    """

    PROVISIONAL = "provisional", "Provisional (first contact)"
    CONFIRMED = "confirmed", "Confirmed by the tenant"
    SUPERSEDED = "superseded", "Claimed by another tenant"


class Device(models.Model):
    """One CPE, identified per tenant by ``OUI-ProductClass-SerialNumber``.

    The summary columns (versions, addresses, last contact) are copies of
    Inform values kept on the row so device lists filter and sort without
    touching the huge parameter table.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=255)
    oui = models.CharField(max_length=6)
    product_class = models.CharField(max_length=64, blank=True)
    serial_number = models.CharField(max_length=64)
    manufacturer = models.CharField(max_length=64, blank=True)
    # The MAC is recorded where a device reports one but is never the key:
    # many CPEs report the WAN MAC, some the LAN one, some change it.
    mac_address = models.CharField(max_length=17, blank=True)

    software_version = models.CharField(max_length=64, blank=True)
    hardware_version = models.CharField(max_length=64, blank=True)
    provisioning_code = models.CharField(max_length=64, blank=True)
    data_model = models.CharField(max_length=32, blank=True, help_text="Root object")
    cwmp_version = models.CharField(max_length=8, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    connection_request_url = models.CharField(max_length=512, blank=True)
    connection_request_username = models.CharField(max_length=256, blank=True)
    # Needed in clear to answer the CPE's Digest challenge, so encrypted, not
    # hashed (ACS_FIELD_KEYS). Deferred on the CWMP path (CWMP_DEVICE_FIELDS):
    # a periodic session never decrypts it; connection requests do.
    connection_request_password = EncryptedTextField(max_length=256, blank=True)
    udp_connection_request_address = models.CharField(max_length=128, blank=True)

    # Per-device CWMP credentials (HA1 values, never the password), bound to
    # this device: a CPE authenticating with them may only inform as itself.
    cwmp_username = models.CharField(max_length=128, blank=True)
    cwmp_ha1_md5 = models.CharField(max_length=32, blank=True)
    cwmp_ha1_sha256 = models.CharField(max_length=64, blank=True)

    first_seen = models.DateTimeField(null=True, blank=True)
    last_inform = models.DateTimeField(null=True, blank=True)
    last_boot = models.DateTimeField(null=True, blank=True)
    last_bootstrap = models.DateTimeField(null=True, blank=True)
    last_events = models.CharField(max_length=255, blank=True)
    # Digest of the last Inform's ParameterList: a periodic Inform that
    # carries the same values is recognised without reading the parameters.
    inform_digest = models.CharField(max_length=32, blank=True)
    # A hint, set when a task is queued and cleared by the session that
    # finds none left: a periodic session of a device with nothing to do
    # never reads the task table.
    has_tasks = models.BooleanField(default=False)
    # RPC methods the device answered 9000 (not supported) to: learned, and
    # respected by later tasks (TR-069 A.5.1).
    unsupported_methods = models.JSONField(default=list, blank=True)

    registration = models.CharField(
        max_length=12, choices=Registration.choices, default=Registration.CONFIRMED
    )

    created = models.DateTimeField(auto_now_add=True)

    objects = GrantedManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "device_id"], name="device_unique_id"),
            # One tenant at most owns a DeviceId for sure: two confirmed rows
            # of one id would be two tenants each serving "their" device.
            models.UniqueConstraint(
                fields=["device_id"],
                condition=models.Q(registration="confirmed"),
                name="device_confirmed_unique_id",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "serial_number"], name="device_serial"),
            models.Index(fields=["tenant", "last_inform"], name="device_last_inform"),
            models.Index(fields=["tenant", "cwmp_username"], name="device_cwmp_username"),
            models.Index(fields=["oui", "product_class", "serial_number"], name="device_identity"),
            # Device lists and campaign filters by model and firmware, and their
            # counts (index-only); ~7 bytes a device (bench/MILLION.md).
            models.Index(
                fields=["tenant", "product_class", "software_version"], name="device_model_version"
            ),
            # The per-tenant cap on provisional devices is counted at each first
            # contact (CWMP_MAX_PROVISIONAL_DEVICES): only those rows are in it.
            models.Index(
                fields=["tenant"],
                condition=models.Q(registration="provisional"),
                name="device_provisional",
            ),
        ]

    def __str__(self) -> str:
        return self.device_id

    def connection_request_credentials(self) -> tuple[str, str]:
        """The device's own pair when known, else the tenant's default."""
        if self.connection_request_username:
            return self.connection_request_username, self.connection_request_password
        return self.tenant.connection_request_username, self.tenant.connection_request_password

    def cwmp_ha1(self, algorithm: str) -> str:
        return (
            self.cwmp_ha1_sha256 if algorithm.upper().startswith("SHA-256") else self.cwmp_ha1_md5
        )

    def set_cwmp_credentials(self, username: str, password: str) -> None:
        """Give the device its own CWMP credentials (caller saves)."""
        from cwmp.protocol.digest import make_ha1_set

        ha1 = make_ha1_set(username, self.tenant.cpe_realm, password)
        self.cwmp_username = username
        self.cwmp_ha1_md5 = ha1["MD5"]
        self.cwmp_ha1_sha256 = ha1["SHA-256"]


class TenantMismatch(IntegrityError):
    """A row would name a device of another tenant than its own.

    An ``IntegrityError``, as PostgreSQL's composite foreign key raises for
    the same row, so callers catch one class whatever the database.
    """


def database_holds_device_tenant(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database itself refuses a row whose tenant is not its device's.

    On PostgreSQL a composite foreign key ``(device_id, tenant_id)`` to
    ``devices_device (id, tenant_id)`` holds it on every child table (the
    ``device_tenant_keys`` migrations of devices and provisioning), checked
    in the statement that writes the row; SQLite has no such key, so the
    model layer (:class:`DeviceOwned`) and the lean SQL's guarded INSERT
    check there.
    """
    return connection.vendor == "postgresql"


class DeviceOwned(models.Model):
    """A row with both a ``tenant`` and a ``device``: the device must be the tenant's.

    The tenant column is a copy of the device's, kept so every list scopes by
    tenant without a join; a copy that differed would show one tenant's
    work, faults or logs to another. ``clean()`` says so to a form, and
    ``save()`` refuses such a row (:class:`TenantMismatch`) at no query cost
    where it can: it compares with the device instance when the caller
    holds one, skips rows whose tenant and device are unchanged since they
    were loaded, and otherwise asks the database only where no constraint
    does (SQLite); on PostgreSQL the INSERT or UPDATE itself is checked.
    """

    # (tenant_id, device_id) as last loaded or saved; None for a new row.
    _owner_loaded: tuple[Any, Any] | None = None

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.check_device_tenant(using=kwargs.get("using"))
        super().save(*args, **kwargs)
        self._remember_owner()

    def clean(self) -> None:
        super().clean()
        error = self.device_tenant_error()
        if error:
            raise ValidationError({"device": error})

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        obj = super().from_db(db, field_names, values)
        obj._remember_owner()
        return obj

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._remember_owner()

    def _remember_owner(self) -> None:
        values = self.__dict__
        self._owner_loaded = (values.get("tenant_id"), values.get("device_id"))

    def device_tenant_error(self, *, using: str | None = None) -> str | None:
        """Why this row's device is not its tenant's; None when it is (or nothing to tell yet)."""
        # Read as attributes: a deferred column is loaded, not taken for None.
        tenant_id, device_id = getattr(self, "tenant_id", None), getattr(self, "device_id", None)
        if device_id is None or tenant_id is None:
            return None  # no device (a tenant's own file), or NOT NULL will say it
        field = self._meta.get_field("device")
        assert isinstance(field, models.ForeignKey)
        device = field.get_cached_value(self, None)
        if isinstance(device, Device) and device.pk == device_id:
            if device.tenant_id == tenant_id:
                return None
            return (
                f"device {device} belongs to tenant {device.tenant_id}, "
                f"not to this {self._meta.model_name}'s tenant {tenant_id}"
            )
        alias = using or router.db_for_write(type(self), instance=self)
        if Device._base_manager.using(alias).filter(pk=device_id, tenant_id=tenant_id).exists():
            return None
        return (
            f"device {device_id} is not a device of this {self._meta.model_name}'s "
            f"tenant {tenant_id}"
        )

    def check_device_tenant(self, *, using: str | None = None) -> None:
        """Raise :class:`TenantMismatch` if saving would give this row another tenant's device.

        No query for a row whose tenant and device are those it was loaded
        with, nor when the device instance is at hand; none on PostgreSQL,
        where the composite foreign key checks the statement itself.
        """
        values = self.__dict__
        pair = (values.get("tenant_id"), values.get("device_id"))
        if pair[1] is None or (not self._state.adding and pair == self._owner_loaded):
            return
        field = self._meta.get_field("device")
        assert isinstance(field, models.ForeignKey)
        if not field.is_cached(self):
            alias = using or router.db_for_write(type(self), instance=self)
            if database_holds_device_tenant(connections[alias]):
                return
        error = self.device_tenant_error(using=using)
        if error:
            raise TenantMismatch(error)


# Values up to this many characters are in the search index (parameter_search);
# longer ones (certificates, logs: up to 32 KB in real trees) would not fit a
# btree entry, and nobody searches them.
SEARCHABLE_VALUE_LENGTH = 200


class _SearchableValue(models.Func):
    """``LENGTH(value) <= 200`` with the bound in the SQL text, not a parameter.

    The planner uses a partial index only when it can prove the query implies
    the index's predicate; a bound parameter of a generic (prepared) plan
    would not prove it.
    """

    function = "LENGTH"
    template = f"%(function)s(%(expressions)s) <= {SEARCHABLE_VALUE_LENGTH}"
    output_field = models.BooleanField()


class ParameterQuerySet(DeviceOwnedQuerySet):
    tenant_field = "device__tenant"

    def searchable(self) -> ParameterQuerySet:
        """Rows the search index holds: add this to any filter on ``value``.

        ``filter(path=..., value=...)`` and ``value__contains`` within a path
        then read the index ``parameter_search`` instead of the whole table.
        """
        return self.filter(_SearchableValue("value"))


class Parameter(models.Model):
    """One node of a device's tree: a leaf with a value, or an object path.

    Object instances are rows too (``...WLANConfiguration.1.``), so the tree
    is rebuilt from paths alone. Unknown facts (writability before a
    GetParameterNames, attributes before a GetParameterAttributes) stay null.
    """

    # No index of its own: the unique (device, path) index leads with it.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="parameters", db_index=False
    )
    path = models.CharField(max_length=512)
    value = models.TextField(blank=True)
    type = models.CharField(max_length=32, blank=True)
    is_object = models.BooleanField(default=False)
    writable = models.BooleanField(null=True)
    notification = models.PositiveSmallIntegerField(null=True)
    access_list = models.CharField(max_length=128, blank=True)
    updated = models.DateTimeField()

    objects = models.Manager.from_queryset(ParameterQuerySet)()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "path"], name="parameter_unique_path"),
        ]
        indexes = [
            # "Devices whose X is (like) Y", for groups, filters and search:
            # (path, value) of values short enough to index; queries add
            # searchable(). ~21 bytes a row, deduplicated (bench/MILLION.md).
            models.Index(
                fields=["path", "value"],
                name="parameter_search",
                condition=models.Q(LessThanOrEqual(Length("value"), SEARCHABLE_VALUE_LENGTH)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path}={self.value}"


class SessionOutcome(models.TextChoices):
    OPEN = "open", "In progress"
    OK = "ok", "Completed"
    ABANDONED = "abandoned", "Abandoned by the CPE"
    FAULT = "fault", "Ended with a fault"
    ERROR = "error", "Ended by an error"


class SessionLogQuerySet(DeviceOwnedQuerySet):
    pass


class SessionLog(DeviceOwned):
    """One CWMP session: why the device called (its Inform events) and what was done."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=32, unique=True)
    started = models.DateTimeField()
    ended = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    events = models.JSONField(default=list, help_text="Inform event codes")
    rpcs = models.JSONField(default=list, help_text="Messages exchanged, in order")
    outcome = models.CharField(
        max_length=10, choices=SessionOutcome.choices, default=SessionOutcome.OPEN
    )
    detail = models.TextField(blank=True)
    remote_address = models.GenericIPAddressField(null=True, blank=True)
    cwmp_version = models.CharField(max_length=8, blank=True)
    messages = models.PositiveIntegerField(default=0)

    objects = models.Manager.from_queryset(SessionLogQuerySet)()

    class Meta:
        indexes = [models.Index(fields=["device", "-started"], name="sessionlog_device_started")]
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"{self.device_id} {self.started:%Y-%m-%d %H:%M:%S} {self.outcome}"


class CpeRequest(DeviceOwned):
    """A request the CPE made on its own (TransferComplete, RequestDownload, …).

    Kept as received so the task layer can act on it even when it arrives in
    a later session than the one that caused it (TR-069 3.7.1.5).
    """

    class Method(models.TextChoices):
        TRANSFER_COMPLETE = "TransferComplete"
        AUTONOMOUS_TRANSFER_COMPLETE = "AutonomousTransferComplete"
        REQUEST_DOWNLOAD = "RequestDownload"
        DU_STATE_CHANGE_COMPLETE = "DUStateChangeComplete"
        AUTONOMOUS_DU_STATE_CHANGE_COMPLETE = "AutonomousDUStateChangeComplete"
        KICKED = "Kicked"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="cpe_requests")
    session_id = models.CharField(max_length=32, blank=True)
    method = models.CharField(max_length=40, choices=Method.choices)
    command_key = models.CharField(max_length=64, blank=True)
    fault_code = models.PositiveIntegerField(default=0)
    fault_string = models.CharField(max_length=256, blank=True)
    payload = models.JSONField(default=dict)
    received = models.DateTimeField()
    handled = models.DateTimeField(null=True, blank=True)

    objects = DeviceOwnedManager()

    class Meta:
        indexes = [models.Index(fields=["device", "command_key"], name="cpereq_device_key")]
        ordering = ["-received"]

    def __str__(self) -> str:
        return f"{self.method} {self.command_key} from {self.device_id}"


class IdentityConflict(models.Model):
    """Two tenants claimed one DeviceId: the record the platform operator reads.

    Not a tenant's object: it names another tenant, so it is for the
    platform only. ``tenant`` is the one that lost or was refused, ``owner``
    the one that holds the id confirmed. One row per (id, tenants, kind),
    counted, so a CPE that keeps trying cannot fill the table.
    """

    class Kind(models.TextChoices):
        # ``owner`` pre-registered or confirmed an id ``tenant`` had provisionally:
        # ``tenant``'s row was superseded (kept, no longer served; nothing moved).
        SUPERSEDED = "superseded", "Provisional device superseded"
        # A CPE informed ``tenant`` with an id ``owner`` holds confirmed: 403.
        REFUSED = "refused", "Inform refused"

    device_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # Where the CPE of ``tenant`` last called from (the Inform's source address).
    remote_address = models.GenericIPAddressField(null=True, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_id", "tenant", "owner", "kind"], name="identityconflict_unique"
            ),
        ]
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.device_id}: {self.kind} ({self.tenant_id} vs {self.owner_id})"
