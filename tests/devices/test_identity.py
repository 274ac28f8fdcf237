import pytest

from devices.identity import make_device_id, split_device_id


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("00259E", "EG8145V5", "48575443A94196A5"), "00259E-EG8145V5-48575443A94196A5"),
        (("9075BC", "G-1425G-A", "ALCLFC265D6F"), "9075BC-G%2D1425G%2DA-ALCLFC265D6F"),
        (("C0B101", "ZXHN H199A", "ZTEYH86LCN10105"), "C0B101-ZXHN%20H199A-ZTEYH86LCN10105"),
        (("9CA2F4", "EC220_G5_V2", "S/N!1"), "9CA2F4-EC220_G5_V2-S%2FN%211"),
        (("A1B2C3", "", "ü-ß"), "A1B2C3--%C3%BC%2D%C3%9F"),
    ],
)
def test_device_id_round_trip(parts, expected):
    assert make_device_id(*parts) == expected
    assert split_device_id(expected) == parts


def test_malformed_device_id():
    with pytest.raises(ValueError):
        split_device_id("only-two")
