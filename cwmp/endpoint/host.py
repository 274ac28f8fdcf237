"""The session engine's Host, backed by the ORM through the apps' services.

One instance serves one HTTP request. It caches what that request loaded
(the tenant, the device) so the engine's callbacks cost no extra queries.
What the device gets is asked of ``provisioning.session`` only; what the
device is and said is written through ``devices.services``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cwmp.protocol import messages as m
from cwmp.protocol.engine import SessionState
from devices import services as device_services
from devices.models import Device
from provisioning import session as provisioning
from tenants.models import Tenant


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class DjangoHost:
    def __init__(
        self, *, tenant: Tenant, device: Device | None = None, remote: str | None = None
    ) -> None:
        self.tenant = tenant
        self.device = device
        self.remote = remote
        self.created = False
        self.visit: provisioning.Visit | None = None

    def _visit(self, state: SessionState) -> provisioning.Visit:
        # One per request: the device row it may load is loaded once.
        assert state.device_pk is not None
        if self.visit is None or self.visit.device_pk != state.device_pk:
            self.visit = provisioning.Visit(
                tenant=self.tenant,
                device_pk=state.device_pk,
                session_id=state.sid,
                events=state.events,
                unsupported=state.unsupported,
                data_model=state.data_model,
                device=self.device,
            )
        return self.visit

    # -- Inform --------------------------------------------------------------
    def on_inform(self, state: SessionState, inform: m.Inform) -> m.Fault | None:
        now = datetime.fromtimestamp(state.started, UTC)
        ident = inform.device_id
        params = [
            device_services.ParamValue(p.name, p.value, p.type or "xsd:string")
            for p in inform.parameter_list
            if p.name
        ]
        # The device, its changed values and the session log are written
        # together or not at all.
        device, self.created, log_pk = device_services.device_session_open(
            tenant=self.tenant,
            device=self.device,
            oui=ident.oui,
            product_class=ident.product_class,
            serial_number=ident.serial_number,
            manufacturer=ident.manufacturer,
            events=state.events,
            params=params,
            remote_address=self.remote,
            cwmp_version=state.cwmp_version,
            now=now,
            session_id=state.sid,
        )
        self.device = device
        state.device_pk = device.pk
        state.log_pk = log_pk
        state.unsupported = list(device.unsupported_methods)
        state.data_model = device.data_model
        state.has_tasks = provisioning.inform(
            self._visit(state),
            created=self.created,
            reported={p.name: p.value for p in inform.parameter_list},
        )
        return None

    # -- CPE requests (TR-069 A.3.2) -----------------------------------------
    def on_cpe_request(self, state: SessionState, request: Any) -> m.Fault | None:
        device_pk = state.device_pk
        assert device_pk is not None
        now = datetime.now(UTC)

        def record(**fields: Any) -> None:
            device_services.cpe_request_record(
                device_pk=device_pk,
                tenant_id=state.tenant_id,
                session_id=state.sid,
                now=now,
                **fields,
            )

        if isinstance(request, m.TransferComplete):
            provisioning.transfer_completed(
                self._visit(state),
                command_key=request.command_key,
                fault_code=request.fault_struct.fault_code,
                fault_string=request.fault_struct.fault_string,
                result={
                    "transfer_started": _dt(request.start_time),
                    "transfer_completed": _dt(request.complete_time),
                },
            )
            record(
                method="TransferComplete",
                command_key=request.command_key,
                fault_code=request.fault_struct.fault_code,
                fault_string=request.fault_struct.fault_string,
                payload={
                    "start_time": _dt(request.start_time),
                    "complete_time": _dt(request.complete_time),
                },
            )
        elif isinstance(request, m.AutonomousTransferComplete):
            record(
                method="AutonomousTransferComplete",
                fault_code=request.fault_struct.fault_code,
                fault_string=request.fault_struct.fault_string,
                payload={
                    "announce_url": request.announce_url,
                    "transfer_url": request.transfer_url,
                    "is_download": request.is_download,
                    "file_type": request.file_type,
                    "file_size": request.file_size,
                    "target_file_name": request.target_file_name,
                    "start_time": _dt(request.start_time),
                    "complete_time": _dt(request.complete_time),
                },
            )
        elif isinstance(request, m.RequestDownload):
            record(
                method="RequestDownload",
                payload={
                    "file_type": request.file_type,
                    "file_type_arg": {a.name: a.value for a in request.file_type_arg},
                },
            )
        elif isinstance(request, (m.DUStateChangeComplete, m.AutonomousDUStateChangeComplete)):
            results = [_op_result(r) for r in request.results]
            if isinstance(request, m.DUStateChangeComplete):
                failed = next((r.fault for r in request.results if r.fault.fault_code), None)
                provisioning.transfer_completed(
                    self._visit(state),
                    command_key=request.command_key,
                    fault_code=failed.fault_code if failed else 0,
                    fault_string=failed.fault_string if failed else "",
                    result={"results": results},
                )
            record(
                method=type(request).__name__,
                command_key=getattr(request, "command_key", ""),
                payload={"results": results},
            )
        elif isinstance(request, m.Kicked):
            record(
                method="Kicked",
                payload={
                    "command": request.command,
                    "referer": request.referer,
                    "arg": request.arg,
                },
            )
        return None

    # -- ACS requests: what provisioning has for the device ------------------
    def next_request(self, state: SessionState) -> tuple[Any, Any] | None:
        if not state.has_tasks or state.device_pk is None:
            return None  # the periodic session of a device with nothing to do
        nxt = provisioning.next_rpc(self._visit(state))
        if nxt is None:
            state.has_tasks = False
        return nxt

    def on_response(self, state: SessionState, ref: Any, response: Any) -> None:
        assert state.device_pk is not None
        if isinstance(response, m.Fault) and response.fault_code == 9000 and ref:
            state.unsupported.append(ref.get("method", ""))
        provisioning.rpc_answered(self._visit(state), ref or {}, response)


def _op_result(result: Any) -> dict[str, Any]:
    fault = getattr(result, "fault", None)
    return {
        "uuid": getattr(result, "uuid", ""),
        "deployment_unit_ref": getattr(result, "deployment_unit_ref", ""),
        "version": getattr(result, "version", ""),
        "current_state": getattr(result, "current_state", ""),
        "resolved": getattr(result, "resolved", None),
        "operation_performed": getattr(result, "operation_performed", None),
        "fault_code": getattr(fault, "fault_code", 0),
        "fault_string": getattr(fault, "fault_string", ""),
    }
