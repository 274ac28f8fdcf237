"""factory_boy factories for the models tests build most."""

from __future__ import annotations

import factory
from django.utils import timezone

from devices.identity import make_device_id
from devices.models import Device, Parameter
from tenants.models import Tenant

CPE_USERNAME = "cpe"
CPE_PASSWORD = "cpe-secret"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"isp{n}")
    name = factory.LazyAttribute(lambda o: f"ISP {o.slug}")
    # Off by default so a test's session holds only the RPCs it queued.
    provision_cr_credentials = False
    periodic_inform_interval = 0  # 0: leave the devices' interval alone

    @factory.post_generation
    def credentials(obj, create, extracted, **kwargs):
        username, password = extracted or (CPE_USERNAME, CPE_PASSWORD)
        obj.set_cpe_credentials(username, password)
        if create:
            obj.save()


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    tenant = factory.SubFactory(TenantFactory)
    oui = "00259E"
    product_class = "EG8145V5"
    serial_number = factory.Sequence(lambda n: f"SN{n:08d}")
    device_id = factory.LazyAttribute(
        lambda o: make_device_id(o.oui, o.product_class, o.serial_number)
    )
    last_inform = factory.LazyFunction(timezone.now)


class ParameterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Parameter

    device = factory.SubFactory(DeviceFactory)
    path = factory.Sequence(lambda n: f"InternetGatewayDevice.X.{n}")
    value = ""
    type = "xsd:string"
    updated = factory.LazyFunction(timezone.now)
