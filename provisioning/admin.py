from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from devices.models import Device
from provisioning import files, services
from provisioning.models import OPEN_STATES, Fault, File, FileFetch, FileType, Task
from provisioning.tasktypes import TASK_TYPES, InvalidTask, action_for
from tenants.admin_mixins import ReadOnlyAdmin, TenantScopedAdmin

if TYPE_CHECKING:
    # What ModelAdmin.get_fields returns, as django-stubs spells it (a stub-only alias).
    from django.contrib.admin.options import _FieldGroups


class TaskAddForm(forms.ModelForm):
    """Queue a task as every entry point does: through ``task_run``, arguments validated once.

    The device choice offers only what the user may act on; the type must be
    one their role allows on that device (helpdesk: the safe actions).
    """

    type = forms.ChoiceField(choices=[(name, name) for name in sorted(TASK_TYPES)])
    arguments = forms.JSONField(
        required=False,
        initial=dict,
        help_text='The task type\'s arguments as JSON, e.g. {"values": {"…SSID": "home"}}.',
    )
    connection_request = forms.BooleanField(
        required=False, initial=True, label="Wake the device now (connection request)"
    )

    class Meta:
        model = Task
        fields = ["device", "type"]

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        device, type_ = data.get("device"), data.get("type")
        if device is None or not type_:
            return data
        allowed = Device.objects.restrict(self.user, action_for(type_))
        if not allowed.filter(pk=device.pk).exists():
            self.add_error("type", f"your role does not allow {type_} on this device")
            return data
        try:
            data["arguments"] = TASK_TYPES[type_].validate(dict(data.get("arguments") or {}))
        except InvalidTask as exc:
            self.add_error("arguments", str(exc))
            return data
        # What the model's own checks (run next, by the ModelForm) read.
        self.instance.tenant_id = device.tenant_id
        self.instance.args = data["arguments"]
        return data

    def _update_errors(self, errors: Any) -> None:
        # The model's own checks (Task.clean) name its field "args"; the
        # form's field for it is "arguments".
        if hasattr(errors, "error_dict") and "args" in errors.error_dict:
            errors.error_dict.setdefault("arguments", []).extend(errors.error_dict.pop("args"))
        super()._update_errors(errors)  # type: ignore[misc]  # ModelForm's hook, absent from the stubs


@admin.register(Task)
class TaskAdmin(TenantScopedAdmin):
    list_display = [
        "id",
        "device",
        "type",
        "state",
        "attempts",
        "fault_code",
        "created",
        "finished",
    ]
    list_filter = ["state", "type", "tenant"]
    search_fields = ["device__device_id", "command_key"]
    list_select_related = ["device"]
    autocomplete_fields = ["device"]
    # Tasks are queued (add) and cancelled or retried (actions); a queued
    # task's row is never edited by hand.
    add_action = choice_action = "operate"
    actions = ["cancel_tasks", "retry_tasks"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = TaskAddForm
        base: Any = super().get_form(request, obj, change=change, **kwargs)

        class ForThisUser(base):
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, user=request.user, **form_kwargs)

        return ForThisUser

    def get_fields(self, request: HttpRequest, obj: Any = None) -> _FieldGroups:
        if obj is None:
            return ["device", "type", "arguments", "connection_request"]
        return super().get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, "operate")

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        data = form.cleaned_data
        task, _ = services.task_run(
            device=data["device"],
            type=data["type"],
            args=data["arguments"],
            requested_by=request.user,
            via="admin",
            connection_request=data["connection_request"],
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the stored row.
        for field in Task._meta.concrete_fields:
            setattr(obj, field.attname, getattr(task, field.attname))
        obj._state.adding = False
        obj._state.db = task._state.db

    def _actionable(self, request: HttpRequest, queryset: QuerySet[Task]) -> list[Task]:
        # Each task needs what queuing its type needs (helpdesk: safe types only).
        return [
            task
            for task in queryset
            if Task.objects.restrict(request.user, action_for(task.type))
            .filter(pk=task.pk)
            .exists()
        ]

    @admin.action(
        description="Cancel the selected queued or waiting tasks", permissions=["operate"]
    )
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        done = 0
        for task in self._actionable(request, queryset.filter(state__in=OPEN_STATES)):
            try:
                services.task_cancel(task=task)
            except InvalidTask:
                continue  # its RPC is out in a session right now
            done += 1
        self.message_user(
            request,
            f"{done} task(s) cancelled; ones with an RPC out in a session cannot be recalled.",
        )

    @admin.action(description="Queue the selected finished tasks again", permissions=["operate"])
    def retry_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        done = 0
        for task in self._actionable(request, queryset.exclude(state__in=OPEN_STATES)):
            services.task_retry(task=task)
            done += 1
        self.message_user(request, f"{done} task(s) queued again.")


@admin.register(Fault)
class FaultAdmin(ReadOnlyAdmin):
    list_display = ["device", "method", "code", "string", "task", "created"]
    list_filter = ["code", "method", "tenant"]
    search_fields = ["device__device_id"]
    list_select_related = ["device", "task"]


class FileAddForm(forms.ModelForm):
    """Upload form: the content goes to ``files.file_create``, never through the model field."""

    upload = forms.FileField(
        label="File", help_text="Stored under ACS_MEDIA_ROOT; size, SHA-256 and MD5 are computed."
    )
    file_type = forms.ChoiceField(choices=FileType.choices, label="File type")

    class Meta:
        model = File
        fields = ["tenant", "name", "file_type", "version", "oui", "product_class"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False
        self.fields["name"].help_text = "Defaults to the uploaded file's name."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean returns
        upload = data.get("upload")
        if upload is not None:
            limit = files.max_file_bytes()
            if upload.size is not None and upload.size > limit:
                self.add_error("upload", f"larger than {limit} bytes (ACS_MAX_FILE_BYTES)")
            if not data.get("name"):
                data["name"] = (upload.name or "file")[:200]
        return data


@admin.register(File)
class FileAdmin(TenantScopedAdmin):
    """Firmware and configuration files; uploads are stored by the files service."""

    list_display = ["name", "tenant", "file_type", "version", "size", "device", "created"]
    list_filter = ["file_type", "tenant"]
    search_fields = ["name", "version", "sha256", "md5", "device__device_id"]
    list_select_related = ["tenant", "device"]
    add_fields: ClassVar[_FieldGroups] = [
        "tenant",
        "upload",
        "name",
        "file_type",
        "version",
        "oui",
        "product_class",
    ]
    # What the bytes are is fixed once stored: only the description can change.
    stored_fields = [
        "tenant",
        "file_type",
        "size",
        "sha256",
        "md5",
        "token",
        "device",
        "task",
        "created",
        "created_by",
    ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = FileAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> _FieldGroups:
        if obj is None:
            return self.add_fields
        return ["name", "version", "oui", "product_class", *self.stored_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.stored_fields

    def save_model(self, request: HttpRequest, obj: File, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        stored = files.file_create(
            tenant=data["tenant"],
            name=data["name"],
            file_type=data["file_type"],
            content=data["upload"],
            version=data.get("version", ""),
            oui=data.get("oui", ""),
            product_class=data.get("product_class", ""),
            created_by=request.user,
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the stored row.
        for field in File._meta.concrete_fields:
            setattr(obj, field.attname, getattr(stored, field.attname))
        obj._state.adding = False
        obj._state.db = stored._state.db


@admin.register(FileFetch)
class FileFetchAdmin(ReadOnlyAdmin):
    """The file server's log: read-only, scoped by the tenant of the file fetched."""

    list_display = [
        "file",
        "device",
        "remote_address",
        "status",
        "bytes_sent",
        "complete",
        "started",
    ]
    list_filter = ["complete", "status"]
    search_fields = ["file__name", "device__device_id", "remote_address"]
    list_select_related = ["file", "device"]
