"""Dump loading and the per-device tree overlay."""

from __future__ import annotations

import pytest

from cpesim import DeviceModel, SimulatedCPE, list_dumps
from cpesim.model import resolve_dump
from cpesim.tree import DeviceTree
from cpesim.values import validate_value

EXPECTED = {
    "huawei-eg8145v5": ("InternetGatewayDevice", "00259E", "EG8145V5", "48575443A94196A5"),
    "tplink-ex220": ("Device", "1C61B4", "Device2", "2226469000523"),
    "zte-h199a": ("InternetGatewayDevice", "C0B101", "ZXHN H199A", "ZTEYH86LCN10105"),
    "tplink-ec220-v3": ("Device", "9CA2F4", "EC220-G5", "22275K2000315"),
    "nokia-g1425ga": ("InternetGatewayDevice", "9075BC", "G-1425G-A", "ALCLFC265D6F"),
}


def test_the_five_dumps_ship_with_their_license():
    assert set(EXPECTED) <= set(list_dumps())
    folder = resolve_dump("huawei-eg8145v5").parent
    assert (folder / "LICENSE.MIT").is_file()
    assert (folder / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dump_loads_with_identity_and_only_its_data_model_root(name):
    model = DeviceModel.from_dump(name)
    root, oui, product_class, serial = EXPECTED[name]
    assert model.root == root
    assert (model.oui, model.product_class, model.serial) == (oui, product_class, serial)
    assert model.manufacturer
    assert all(key.startswith(root + ".") for key in model.nodes)
    # The exporting ACS's pseudo-parameters are gone.
    assert not any(
        key.split(".")[0] in ("DeviceID", "Events", "Tags", "VirtualParameters")
        for key in model.nodes
    )
    assert len(model.nodes) > 500
    # Every node's parent exists and lists it as a child.
    for key in list(model.nodes)[1:200]:
        parent = key[: key.rstrip(".").rfind(".") + 1]
        assert key in model.children[parent]


def test_models_are_parsed_once_and_shared():
    assert DeviceModel.from_dump("zte-h199a") is DeviceModel.from_dump(
        str(resolve_dump("zte-h199a"))
    )


def test_inform_parameters_per_data_model():
    igd = DeviceModel.from_dump("huawei-eg8145v5")
    assert "InternetGatewayDevice.DeviceSummary" in igd.inform_paths
    wan = [p for p in igd.inform_paths if p.endswith("ExternalIPAddress")]
    # The first WAN connection that has an address, like the device's default route.
    assert wan == [
        "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.2.WANIPConnection.1.ExternalIPAddress"
    ]
    dev = DeviceModel.from_dump("tplink-ex220")
    assert "Device.RootDataModelVersion" in dev.inform_paths
    assert "Device.IP.Interface.1.IPv4Address.1.IPAddress" in dev.inform_paths
    assert "Device.DeviceSummary" not in dev.inform_paths


def test_a_five_column_dump_loads(tmp_path):
    path = tmp_path / "mini.csv"
    path.write_text(
        "Parameter,Object,Writable,Value,Value type\n"
        "DeviceID.ID,false,false,x,xsd:string\n"
        'Device.DeviceInfo.Manufacturer,false,false,"Acme, Inc",xsd:string\n'
        "Device.DeviceInfo.SerialNumber,false,false,SN1,xsd:string\n"
        "Device.WiFi.SSID.1,true,false,,\n"
        "Device.WiFi.SSID.1.SSID,false,true,home,xsd:string\n"
    )
    model = DeviceModel.from_dump(path)
    assert model.root == "Device"
    assert model.manufacturer == "Acme, Inc"
    # Missing ancestors are implied; parameters every CPE has are added.
    assert "Device.WiFi." in model.nodes and "Device.WiFi.SSID." in model.nodes
    assert "Device.ManagementServer.URL" in model.nodes


def test_unknown_dump_names_list_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="huawei-eg8145v5"):
        DeviceModel.from_dump("no-such-router")


def test_overlay_keeps_the_model_untouched():
    model = DeviceModel.from_dump("huawei-eg8145v5")
    a = DeviceTree(model)
    b = DeviceTree(model)
    path = "InternetGatewayDevice.DeviceInfo.ProvisioningCode"
    a.set(path, "gold")
    assert a.get(path) == "gold"
    assert b.get(path) == model.nodes[path][2] == ""
    a.reset()
    assert a.get(path) == ""


def test_add_object_copies_the_shape_of_a_sibling_with_defaults():
    tree = DeviceTree(DeviceModel.from_dump("huawei-eg8145v5"))
    table = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice."
    existing = tree.children(table)
    n = tree.add_object(table)
    assert n == max(int(k.rstrip(".").rsplit(".", 1)[1]) for k in existing) + 1
    new = f"{table}{n}."
    assert new in tree.children(table)
    names = {p[len(new) :] for p in tree.walk(new)}
    assert "WANIPConnection." in names  # nested table copied…
    assert not any(p.startswith("WANIPConnection.1") for p in names)  # …without its instances
    counter = "InternetGatewayDevice.WANDevice.1.WANConnectionNumberOfEntries"
    assert tree.get(counter) == str(len(existing) + 1)
    sub = tree.add_object(new + "WANIPConnection.")
    assert sub == 1
    assert tree.get(f"{new}WANIPConnection.1.Enable") == "false"
    assert tree.get(f"{new}WANIPConnection.1.ExternalIPAddress") == ""
    tree.delete_object(new)
    assert not tree.exists(new) and not tree.exists(f"{new}WANIPConnection.1.Enable")
    # Instance numbers are not reused.
    assert tree.add_object(table) == n + 1


def test_delete_object_hides_a_dump_instance():
    tree = DeviceTree(DeviceModel.from_dump("huawei-eg8145v5"))
    path = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.5."
    assert tree.exists(path + "SSID")
    tree.delete_object(path)
    assert not tree.exists(path + "SSID")
    assert path not in tree.children("InternetGatewayDevice.LANDevice.1.WLANConfiguration.")
    assert not any(p.startswith(path) for p in tree.walk("InternetGatewayDevice.LANDevice."))
    with pytest.raises(KeyError):
        tree.delete_object("InternetGatewayDevice.DeviceInfo.")  # not an instance


@pytest.mark.parametrize(
    ("xsd_type", "value", "ok"),
    [
        ("xsd:boolean", "true", True),
        ("xsd:boolean", "0", True),
        ("xsd:boolean", "yes", False),
        ("xsd:unsignedInt", "4294967295", True),
        ("xsd:unsignedInt", "-1", False),
        ("xsd:unsignedint", "12", True),  # Nokia's spelling
        ("xsd:int", "-2147483648", True),
        ("xsd:Int", "2147483648", False),
        ("xsd:int", "12a", False),
        ("xsd:dateTime", "2024-02-29T10:00:00Z", True),
        ("xsd:dateTime", "2023-02-30T10:00:00Z", False),
        ("xsd:dateTime", "yesterday", False),
        ("xsd:base64", "aGVsbG8=", True),
        ("xsd:base64", "not base64!", False),
        ("xsd:string", "anything <&>", True),
    ],
)
def test_value_validation_by_declared_type(xsd_type, value, ok):
    if ok:
        validate_value(xsd_type, value)
    else:
        with pytest.raises(ValueError):
            validate_value(xsd_type, value)


def test_two_thousand_devices_share_one_model_in_a_few_megabytes():
    model = DeviceModel.from_dump("tplink-ex220")
    devices = [
        SimulatedCPE(
            model,
            serial=f"SIM{i:06d}",
            acs_url="http://127.0.0.1:9/acs",
            username="u",
            password="p",
        )
        for i in range(2000)
    ]
    assert all(d.model is model and d.tree.model is model for d in devices)
    assert all(d.tree.values is None and d.tree.added is None for d in devices)
    total = sum(d.footprint() for d in devices)
    assert total < 4 * 1024 * 1024, total
    # The shared model is far larger than any one device's own state.
    assert model.footprint() > 100 * devices[0].footprint()
    assert len({d.serial for d in devices}) == 2000
    assert devices[5].get("Device.DeviceInfo.SerialNumber") == "SIM000005"
