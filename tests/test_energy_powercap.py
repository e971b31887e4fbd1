"""edgeopt's own powercap reader on fake trees: zones, duplicates, wraps, permissions, absence."""

from __future__ import annotations

import pytest
from energy_fakes import MAX_RANGE_UJ, denying_reader, set_energy, write_zone
from hypothesis import given
from hypothesis import strategies as st

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy.powercap import (POWERCAP_ROOT_ENV, EnergyUnavailableError, Powercap,
                                             RaplPermissionError, counter_delta_uj, powercap_root)


def _delta(rapl: Powercap, changes: dict):
    """Read, apply {zone folder: new counter}, read again; return the delta."""
    before = rapl.read()
    for zone, value in changes.items():
        set_energy(zone, value)
    return rapl.delta(before, rapl.read())


def test_package_energy_is_the_counter_difference(tmp_path):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    rapl = Powercap(tmp_path)
    delta = _delta(rapl, {pkg: 3_500_000})
    assert delta.package_uj == 2_500_000 and delta.dropped is None
    assert delta.dram_uj is None  # no dram zone: missing, not 0
    assert delta.seconds > 0


def test_a_wrapped_counter_adds_max_energy_range(tmp_path):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", MAX_RANGE_UJ - 400,
                     max_energy_range_uj=MAX_RANGE_UJ)
    delta = _delta(Powercap(tmp_path), {pkg: 600})
    assert delta.package_uj == 1_000


@pytest.mark.parametrize("max_file", [None, "garbage", "0"])
def test_a_wrap_with_unreadable_max_is_dropped_not_negative(tmp_path, max_file):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", 9_000, max_energy_range_uj=None)
    if max_file is not None:
        (pkg / "max_energy_range_uj").write_text(max_file)
    delta = _delta(Powercap(tmp_path), {pkg: 500})
    assert delta.package_uj is None
    assert "max_energy_range_uj is unreadable" in delta.dropped


def test_a_counter_that_did_not_move_is_dropped_not_zero(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 42)
    delta = _delta(Powercap(tmp_path), {})
    assert delta.package_uj is None and delta.dropped.endswith("did not move")


@given(before=st.integers(0, 2**40), after=st.integers(0, 2**40),
       max_range=st.one_of(st.none(), st.integers(1, 2**40)))
def test_counter_delta_is_never_negative_or_zero(before, after, max_range):
    delta, why = counter_delta_uj(before, after, max_range)
    assert (delta is None) != (why is None)
    assert delta is None or delta > 0


def test_hex_zone_ids_are_read_as_hex(tmp_path):
    # The kernel numbers zones in hex: the 11th package is intel-rapl:a, its dram intel-rapl:a:0.
    for i in range(11):
        write_zone(tmp_path, f"intel-rapl:{i:x}", f"package-{i}", 1_000)
    dram = write_zone(tmp_path, "intel-rapl:a:0", "dram", 1_000, parent="intel-rapl:a")
    rapl = Powercap(tmp_path)
    assert [z.package for z in rapl.packages] == list(range(11))
    assert rapl.packages[10].zone_id == "intel-rapl:a"
    assert [(z.zone_id, z.package) for z in rapl.drams] == [("intel-rapl:a:0", 10)]
    changes = {tmp_path / f"intel-rapl:{i:x}": 2_000 for i in range(11)}
    changes[dram] = 1_500
    delta = _delta(rapl, changes)
    assert delta.package_uj == 11 * 1_000 and delta.dram_uj == 500


def test_mmio_copy_of_a_package_is_counted_once(tmp_path):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000)
    mmio = write_zone(tmp_path, "intel-rapl-mmio:0", "package-0", 1_000)
    rapl = Powercap(tmp_path)
    assert [z.zone_id for z in rapl.packages] == ["intel-rapl:0"]
    assert any("MMIO copy" in why for why in rapl.ignored)
    assert _delta(rapl, {pkg: 5_000, mmio: 5_000}).package_uj == 4_000


def test_mirrored_die_zones_are_counted_once(tmp_path):
    # Multi-die parts may expose package-0-die-0 and package-0-die-1 over one counter.
    die0 = write_zone(tmp_path, "intel-rapl:0", "package-0-die-0", 7_777)
    die1 = write_zone(tmp_path, "intel-rapl:1", "package-0-die-1", 7_777)
    rapl = Powercap(tmp_path)
    assert [z.zone_id for z in rapl.packages] == ["intel-rapl:0"]
    assert any("mirrors intel-rapl:0" in why for why in rapl.ignored)
    assert _delta(rapl, {die0: 9_777, die1: 9_777}).package_uj == 2_000


def test_distinct_die_zones_are_summed(tmp_path):
    die0 = write_zone(tmp_path, "intel-rapl:0", "package-0-die-0", 1_000)
    die1 = write_zone(tmp_path, "intel-rapl:1", "package-0-die-1", 5_000)
    rapl = Powercap(tmp_path)
    assert len(rapl.packages) == 2
    assert _delta(rapl, {die0: 2_000, die1: 8_000}).package_uj == 4_000


def test_a_second_zone_with_the_same_package_name_is_counted_once(tmp_path):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000)
    twin = write_zone(tmp_path, "intel-rapl:1", "package-0", 1_000)
    rapl = Powercap(tmp_path)
    assert [z.zone_id for z in rapl.packages] == ["intel-rapl:0"]
    assert _delta(rapl, {pkg: 3_000, twin: 3_000}).package_uj == 2_000


def test_dram_is_reported_separately_from_the_package(tmp_path):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", 10_000)
    dram = write_zone(tmp_path, "intel-rapl:0:1", "dram", 20_000, parent="intel-rapl:0")
    delta = _delta(Powercap(tmp_path), {pkg: 15_000, dram: 21_000})
    assert (delta.package_uj, delta.dram_uj) == (5_000, 1_000)


def test_psys_core_and_uncore_are_never_summed(tmp_path):
    pkg = write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000)
    core = write_zone(tmp_path, "intel-rapl:0:0", "core", 1_000, parent="intel-rapl:0")
    uncore = write_zone(tmp_path, "intel-rapl:0:1", "uncore", 1_000, parent="intel-rapl:0")
    psys = write_zone(tmp_path, "intel-rapl:1", "psys", 1_000)
    rapl = Powercap(tmp_path)
    assert [z.name for z in rapl.packages] == ["package-0"] and rapl.drams == ()
    ignored = {why.split(": ")[0] for why in rapl.ignored}
    assert ignored == {"intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1"}
    delta = _delta(rapl, {pkg: 2_000, core: 900_000, uncore: 900_000, psys: 900_000})
    assert delta.package_uj == 1_000


def test_sysfs_layout_with_symlinks_and_control_type_folder_is_deduplicated(tmp_path):
    # Real sysfs: zones live under devices/, /sys/class/powercap holds symlinks to every zone
    # (sub-zones too) and the control-type folder intel-rapl/ holds the top zones again.
    devices = tmp_path / "devices" / "intel-rapl"
    pkg = write_zone(devices, "intel-rapl:0", "package-0", 1_000)
    dram = write_zone(devices, "intel-rapl:0:0", "dram", 1_000, parent="intel-rapl:0")
    root = tmp_path / "class"
    root.mkdir()
    (root / "intel-rapl").symlink_to(devices)
    (root / "intel-rapl:0").symlink_to(pkg)
    (root / "intel-rapl:0:0").symlink_to(dram)
    rapl = Powercap(root)
    assert len(rapl.packages) == 1 and len(rapl.drams) == 1
    delta = _delta(rapl, {pkg: 4_000, dram: 2_000})
    assert (delta.package_uj, delta.dram_uj) == (3_000, 1_000)


def test_permission_error_names_the_cve_and_how_to_grant_access(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0")
    rapl = Powercap(tmp_path, reader=denying_reader("energy_uj"))
    with pytest.raises(RaplPermissionError) as info:
        rapl.read()
    message = str(info.value)
    assert "CVE-2020-8694" in message and "5.10" in message
    assert "sudo" in message and "chmod a+r" in message and "udev" in message
    assert str(tmp_path / "intel-rapl:0" / "energy_uj") in message
    assert isinstance(info.value, EdgeoptError)  # the CLI turns it into exit 2


def test_a_missing_tree_says_so_and_names_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(POWERCAP_ROOT_ENV, raising=False)
    with pytest.raises(EnergyUnavailableError) as info:
        Powercap(tmp_path / "nope")
    message = str(info.value)
    assert "does not exist" in message and POWERCAP_ROOT_ENV in message
    assert "--energy estimate" in message
    assert info.value.short == f"{tmp_path / 'nope'} does not exist"


def test_a_tree_without_package_zones_is_unavailable(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "psys")
    with pytest.raises(EnergyUnavailableError, match="No RAPL package zone.*psys"):
        Powercap(tmp_path)


def test_the_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(POWERCAP_ROOT_ENV, str(tmp_path))
    assert powercap_root() == tmp_path
    write_zone(tmp_path, "intel-rapl:0", "package-0")
    assert Powercap().root == tmp_path
    monkeypatch.delenv(POWERCAP_ROOT_ENV)
    assert str(powercap_root()) == "/sys/class/powercap"
