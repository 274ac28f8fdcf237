"""Task types that address the device as a whole: its RPC list, reboot, reset, an Inform."""

from __future__ import annotations

from cwmp.protocol import messages as m
from provisioning.tasktypes.base import Outcome, TaskType, _int


class GetRPCMethodsType(TaskType):
    name, method = "get_rpc_methods", "GetRPCMethods"

    def build(self, args, progress, ctx, *, command_key):
        return m.GetRPCMethods()

    def complete(self, args, progress, response, ctx):
        return Outcome("done", {"methods": list(response.method_list)})


class RebootType(TaskType):
    name, method = "reboot", "Reboot"

    def build(self, args, progress, ctx, *, command_key):
        return m.Reboot(command_key=command_key)


class FactoryResetType(TaskType):
    name, method = "factory_reset", "FactoryReset"

    def build(self, args, progress, ctx, *, command_key):
        return m.FactoryReset()


class ScheduleInformType(TaskType):
    name, method = "schedule_inform", "ScheduleInform"

    def validate(self, args):
        return {"delay_seconds": _int(args.get("delay_seconds"), "delay_seconds", default=0, low=1)}

    def build(self, args, progress, ctx, *, command_key):
        return m.ScheduleInform(delay_seconds=args["delay_seconds"], command_key=command_key)
