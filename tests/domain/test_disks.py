"""Guest disks: parsing what the inspection exec printed (recorded on loop devices here, and
transcribed from real Azure VMs: see tests/ssh/recorded/INDEX.md) and the join with ARM by LUN."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmss_tui.domain.disks import (
    GIB,
    INSPECT_COMMAND,
    KIND_DATA,
    KIND_GUEST,
    KIND_OS,
    KIND_TEMP,
    LUN_FROM_BY_LUN_LINK,
    LUN_FROM_HCTL,
    LUN_FROM_NVME,
    LUN_FROM_SCSI1_LINK,
    STATE_EMPTY,
    STATE_FORMATTED,
    STATE_MOUNTED,
    STATE_NOT_IN_GUEST,
    STATE_PARTITIONED,
    STATE_UNREACHABLE,
    DiskRow,
    GuestParseError,
    all_data_mounted,
    arm_rows,
    join_disks,
    parse_df,
    parse_fstab,
    parse_guest_output,
    parse_links,
    unreachable_rows,
)
from vmss_tui.domain.models import DiskInfo, Instance

RECORDED = Path(__file__).resolve().parents[1] / "ssh" / "recorded"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def lab_devices() -> tuple[dict[int, str], str]:
    devices: dict[int, str] = {}
    mount_root = ""
    for line in recorded("lab-devices.txt").splitlines():
        key, value = line.split()
        if key == "mount_root":
            mount_root = value
        else:
            devices[int(key)] = value
    return devices, mount_root


def instance(luns: dict[int, int | None], os_gb: int | None = 30) -> Instance:
    data = tuple(
        DiskInfo(name=f"vmss-data_0_disk{lun}", lun=lun, size_gb=size, sku="Premium_LRS", caching="None",
                 create_option="Empty", state="Provisioning succeeded")
        for lun, size in luns.items()
    )
    os_disk = DiskInfo(name="vmss-data_0_OsDisk", lun=None, size_gb=os_gb, sku="Premium_LRS", caching="ReadWrite",
                       create_option="FromImage", is_os_disk=True)
    return Instance(
        id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-data/virtualMachines/0",
        scale_set="vmss-data", resource_group="rg", instance_id="0", name="vmss-data_0", computer_name="vmssdata000000",
        power_state="running", provisioning_state="Succeeded", latest_model=True, os_disk=os_disk, data_disks=data,
    )


def by_lun(rows: tuple[DiskRow, ...]) -> dict[int, DiskRow]:
    return {r.lun: r for r in rows if r.kind == KIND_DATA and r.lun is not None}


LAB_ARM = {0: None, 1: None, 2: None, 3: None, 4: None, 5: None}  # loop disks are smaller than 1 GiB


# ----- recorded on loop devices ----------------------------------------------------------------


def test_recorded_lab_as_root_every_state() -> None:
    devices, mount_root = lab_devices()
    rows = join_disks(instance(LAB_ARM, os_gb=None), parse_guest_output(recorded("lab-root.txt")))
    data = by_lun(rows)
    assert {lun: r.state for lun, r in data.items()} == {
        0: STATE_EMPTY,
        1: STATE_MOUNTED,
        2: STATE_FORMATTED,
        3: STATE_MOUNTED,
        4: STATE_PARTITIONED,
        5: STATE_MOUNTED,
    }
    assert {lun: r.guest_device for lun, r in data.items()} == devices
    assert all(r.lun_source == LUN_FROM_SCSI1_LINK for lun, r in data.items() if lun != 5)
    assert data[5].lun_source == LUN_FROM_BY_LUN_LINK

    prepared = data[1]  # prepared by the prepare script: GPT, ext4, fstab by UUID with nofail
    assert [p.device for p in prepared.partitions] == [f"{devices[1]}p1"]
    assert (prepared.fstype, prepared.mountpoint) == ("ext4", f"{mount_root}/lun1")
    assert prepared.uuid and prepared.partitions[0].uuid == prepared.uuid
    assert (prepared.in_fstab, prepared.fstab_nofail) == (True, True)
    assert prepared.used_bytes is not None and prepared.avail_bytes is not None
    assert prepared.used_bytes + prepared.avail_bytes <= (prepared.size_bytes or 0)

    whole = data[2]  # a whole-disk ext4: the disk itself carries the filesystem
    assert whole.partitions == ()
    assert (whole.fstype, whole.mountpoint, whole.in_fstab) == ("ext4", None, False)

    several = data[3]
    assert [(p.device, p.fstype) for p in several.partitions] == [
        (f"{devices[3]}p1", "ext4"), (f"{devices[3]}p2", "xfs"), (f"{devices[3]}p3", None),
    ]
    assert several.partitions[0].mountpoint == f"{mount_root}/lun3"
    assert (several.fstype, several.mountpoint) == ("ext4", f"{mount_root}/lun3")
    assert several.in_fstab is True  # through /dev/disk/azure/scsi1/lun3-part1
    assert data[3].partitions[0].size_bytes == 32 * 1024 * 1024

    label = data[5]  # mounted through LABEL=data5, without nofail: a reboot without it hangs
    assert (label.fstype, label.in_fstab, label.fstab_nofail) == ("xfs", True, False)
    assert data[0].in_fstab is False and data[0].used_bytes is None

    os_row = next(r for r in rows if r.kind == KIND_OS)
    assert (os_row.guest_device, os_row.state, os_row.mountpoint) == ("/dev/vda", STATE_MOUNTED, "/")


@pytest.mark.parametrize("name", ["lab-old-json.txt", "lab-pairs.txt"])
def test_older_lsblk_outputs_give_the_same_rows(name: str) -> None:
    newest = join_disks(instance(LAB_ARM, os_gb=None), parse_guest_output(recorded("lab-root.txt")))
    older = join_disks(instance(LAB_ARM, os_gb=None), parse_guest_output(recorded(name)))

    def shape(rows: tuple[DiskRow, ...]) -> list[tuple[object, ...]]:
        return [(r.kind, r.lun, r.guest_device, r.state, r.fstype, r.uuid, r.mountpoint, r.in_fstab,
                 tuple((p.device, p.fstype, p.mountpoint) for p in r.partitions)) for r in rows if r.kind != KIND_OS]

    assert shape(older) == shape(newest)


def test_recorded_non_root_without_filesystem_types_says_it_cannot_tell() -> None:
    view = parse_guest_output(recorded("lab-nobody.txt"))
    assert not view.shows_filesystems
    assert any("not visible" in note for note in view.notes)
    data = by_lun(join_disks(instance(LAB_ARM, os_gb=None), view))
    # Mounts and partitions come from the kernel, so those states stand; the rest is structure only.
    assert data[1].state == STATE_MOUNTED and data[3].state == STATE_MOUNTED
    assert data[2].state == STATE_EMPTY and "unverified" in (data[2].reason or "")
    assert data[0].state == STATE_EMPTY and "unverified" in (data[0].reason or "")
    assert data[1].fstype is None
    assert data[1].used_bytes is None  # df as nobody could not see inside the lab's 0700 folder


# ----- transcribed from Azure VMs ---------------------------------------------------------------


def test_azure_ubuntu_generation_1_with_agent_links() -> None:
    rows = join_disks(instance({0: 4, 1: 16, 2: 32}), parse_guest_output(recorded("azure-ubuntu-gen1.txt")))
    os_row, *others = rows
    assert (os_row.kind, os_row.guest_device, os_row.state, os_row.fstype, os_row.mountpoint) == (
        KIND_OS, "/dev/sda", STATE_MOUNTED, "ext4", "/",
    )
    assert os_row.in_fstab is True  # LABEL=cloudimg-rootfs
    assert [p.device for p in os_row.partitions] == ["/dev/sda1", "/dev/sda14", "/dev/sda15"]
    data = by_lun(rows)
    assert (data[0].guest_device, data[0].state, data[0].fstype, data[0].mountpoint) == (
        "/dev/sdc", STATE_MOUNTED, "xfs", "/datadrive",
    )
    assert (data[0].in_fstab, data[0].fstab_nofail, data[0].used_bytes) == (True, True, 63410176)
    assert (data[1].guest_device, data[1].state) == ("/dev/sdd", STATE_EMPTY)
    assert (data[2].guest_device, data[2].state) == ("/dev/sde", STATE_EMPTY)
    assert all(r.reason is None for r in data.values())  # sizes agree with ARM
    temp = next(r for r in rows if r.kind == KIND_TEMP)
    assert (temp.guest_device, temp.mountpoint, temp.arm_name) == ("/dev/sdb", "/mnt", None)
    # fstab names it by a link this view cannot resolve (/dev/disk/cloud/...), at the path it is mounted
    assert (temp.in_fstab, temp.fstab_nofail) == (True, True)
    assert all(r.guest_device != "/dev/sr0" for r in rows)  # the provisioning DVD is no disk


def test_azure_without_links_reads_luns_from_scsi_addresses() -> None:
    view = parse_guest_output(recorded("azure-ubuntu-gen1-nolinks.txt"))
    assert view.links == ()
    rows = join_disks(instance({0: 4, 1: 16, 2: 32}), view)
    data = by_lun(rows)
    assert {lun: (r.guest_device, r.lun_source) for lun, r in data.items()} == {
        0: ("/dev/sdc", LUN_FROM_HCTL), 1: ("/dev/sdd", LUN_FROM_HCTL), 2: ("/dev/sde", LUN_FROM_HCTL),
    }
    # The OS disk (host 0) and the resource disk (1:0:1:0) are on other SCSI hosts: never data disks.
    kinds = {r.guest_device: r.kind for r in rows}
    assert kinds["/dev/sda"] == KIND_OS and kinds["/dev/sdb"] == KIND_TEMP


def test_azure_nvme_with_by_lun_links() -> None:
    rows = join_disks(instance({0: 4, 1: 16}), parse_guest_output(recorded("azure-nvme-v6.txt")))
    data = by_lun(rows)
    assert (data[0].guest_device, data[0].lun_source, data[0].state, data[0].mountpoint) == (
        "/dev/nvme0n2", LUN_FROM_BY_LUN_LINK, STATE_MOUNTED, "/datadrive",
    )
    assert [p.device for p in data[0].partitions] == ["/dev/nvme0n2p1"]
    assert (data[1].guest_device, data[1].state) == ("/dev/nvme0n3", STATE_EMPTY)
    assert next(r for r in rows if r.kind == KIND_OS).guest_device == "/dev/nvme0n1"
    local = next(r for r in rows if r.kind == KIND_TEMP)
    assert local.guest_device == "/dev/nvme1n1"  # the local NVMe disk, by its local/by-serial link


def test_azure_nvme_without_links_uses_the_namespace_id() -> None:
    rows = join_disks(instance({0: 4, 1: 16}), parse_guest_output(recorded("azure-nvme-v6-nolinks.txt")))
    data = by_lun(rows)
    assert {lun: (r.guest_device, r.lun_source) for lun, r in data.items()} == {
        0: ("/dev/nvme0n2", LUN_FROM_NVME), 1: ("/dev/nvme0n3", LUN_FROM_NVME),
    }
    # A namespace of another controller is a local disk, not LUN -1 of anything.
    other = next(r for r in rows if r.guest_device == "/dev/nvme1n1")
    assert other.kind == KIND_GUEST and other.lun is None


def test_azure_rhel_lvm_os_disk_and_a_volume_group_over_two_data_disks() -> None:
    rows = join_disks(instance({0: 128, 1: 128, 2: 64}, os_gb=100), parse_guest_output(recorded("azure-rhel8-lvm.txt")))
    os_row = rows[0]
    assert (os_row.kind, os_row.guest_device, os_row.mountpoint, os_row.fstype) == (KIND_OS, "/dev/sda", "/", "xfs")
    assert "/dev/mapper/rootvg-rootlv" in [p.device for p in os_row.partitions]
    assert os_row.in_fstab is True
    data = by_lun(rows)
    for lun in (0, 1):  # both physical volumes carry the one logical volume mounted on /data
        assert data[lun].state == STATE_MOUNTED
        assert data[lun].mountpoint == "/data"
        assert [(p.device, p.type) for p in data[lun].partitions] == [("/dev/mapper/datavg-datalv", "lvm")]
        assert (data[lun].in_fstab, data[lun].fstab_nofail) == (True, True)
    assert data[2].state == STATE_EMPTY
    assert all(r.guest_device != "/dev/fd0" for r in rows)
    assert next(r for r in rows if r.kind == KIND_TEMP).mountpoint == "/mnt/resource"


# ----- the join -------------------------------------------------------------------------------


def test_arm_disk_missing_in_the_guest_and_guest_disk_without_arm_disk() -> None:
    rows = join_disks(instance({0: 4, 7: 8}), parse_guest_output(recorded("azure-ubuntu-gen1.txt")))
    data = by_lun(rows)
    assert data[7].state == STATE_NOT_IN_GUEST and data[7].guest_device is None
    assert "LUN 7" in (data[7].reason or "")
    for lun in (1, 2):  # the guest has them, ARM's view of this instance does not
        assert data[lun].arm_name is None and data[lun].guest_device is not None
        assert f"no ARM disk at LUN {lun}" in (data[lun].reason or "")
    assert [r.kind for r in rows][:3] == [KIND_OS, KIND_DATA, KIND_DATA]


def test_a_guest_disk_smaller_than_arm_says_so() -> None:
    data = by_lun(join_disks(instance({0: 8}), parse_guest_output(recorded("azure-ubuntu-gen1.txt"))))
    assert "the guest sees 4.0 GiB, ARM says 8 GiB" in (data[0].reason or "")


def test_two_disks_claiming_one_lun_on_two_controllers_get_no_lun() -> None:
    text = recorded("azure-ubuntu-gen1-nolinks.txt").replace('"hctl": "3:0:0:1"', '"hctl": "5:0:0:0"')
    rows = join_disks(instance({0: 4}), parse_guest_output(text))
    data = by_lun(rows)
    assert data[0].state == STATE_NOT_IN_GUEST  # sdc (3:0:0:0) or sdd (5:0:0:0)? neither is sure
    assert {r.guest_device for r in rows if r.kind == KIND_GUEST} >= {"/dev/sdc", "/dev/sdd"}


def test_generation_2_resource_disk_is_lun_1_of_the_os_controller() -> None:
    text = (recorded("azure-ubuntu-gen1-nolinks.txt")
            .replace('"hctl": "1:0:1:0"', '"hctl": "0:0:0:1"')
            .replace('"/mnt"', '"/mnt/other"').replace("/mnt\n", "/mnt/other\n"))
    rows = join_disks(instance({0: 4}), parse_guest_output(text))
    assert next(r for r in rows if r.guest_device == "/dev/sdb").kind == KIND_TEMP
    assert by_lun(rows)[0].guest_device == "/dev/sdc"


def test_unreachable_rows_keep_arm_and_say_why() -> None:
    rows = unreachable_rows(instance({0: 4, 1: 16}), "instance 0 is deallocated")
    assert [(r.kind, r.lun, r.state, r.reason) for r in rows] == [
        (KIND_OS, None, STATE_UNREACHABLE, "instance 0 is deallocated"),
        (KIND_DATA, 0, STATE_UNREACHABLE, "instance 0 is deallocated"),
        (KIND_DATA, 1, STATE_UNREACHABLE, "instance 0 is deallocated"),
    ]
    assert rows[1].arm_name == "vmss-data_0_disk0" and rows[1].arm_size_gb == 4
    assert all_data_mounted(rows) is None
    assert all(r.state is None for r in arm_rows(instance({0: 4})))


def test_all_data_mounted() -> None:
    view = parse_guest_output(recorded("azure-ubuntu-gen1.txt"))
    assert all_data_mounted(join_disks(instance({0: 4}), view)) is True
    assert all_data_mounted(join_disks(instance({0: 4, 1: 16}), view)) is False
    assert all_data_mounted(join_disks(instance({}), view)) is True  # no data disk: nothing to mount


# ----- the pieces ---------------------------------------------------------------------------


def test_the_command_has_every_section_in_order() -> None:
    positions = [INSPECT_COMMAND.index(f"::vmss-tui:{name}::") for name in ("lsblk", "df", "links", "fstab", "blkid", "end")]
    assert positions == sorted(positions)
    assert "sudo" not in INSPECT_COMMAND  # never asks for more than the login gives


def test_no_lsblk_output_is_a_parse_error() -> None:
    with pytest.raises(GuestParseError, match="no lsblk output"):
        parse_guest_output("::vmss-tui:lsblk::\n::vmss-tui:df::\n::vmss-tui:end::\n")
    with pytest.raises(GuestParseError, match="no valid JSON"):
        parse_guest_output('::vmss-tui:lsblk::\n{"blockdevices": [\n::vmss-tui:end::\n')


def test_cut_output_is_noted() -> None:
    text = recorded("azure-ubuntu-gen1.txt").split("::vmss-tui:links::")[0]
    view = parse_guest_output(text)
    assert "the inspection output was cut short" in view.notes
    assert view.fstab is None and "/etc/fstab could not be read" in view.notes


def test_df_mount_path_with_spaces_and_fstab_escapes() -> None:
    usage = parse_df("Filesystem 1B-blocks Used Available Capacity Mounted on\n"
                     "/dev/sdc1 1000 10 990 1% /data/my disk\n")
    assert usage[0].mountpoint == "/data/my disk" and usage[0].avail_bytes == 990
    entry = parse_fstab("UUID=abc /data/my\\040disk ext4 defaults,nofail 0 2\n# a comment\n\n")[0]
    assert (entry.mountpoint, entry.nofail, entry.line_no) == ("/data/my disk", True, 1)


def test_links_without_folder_headers_are_placed_by_their_names() -> None:
    text = ("lrwxrwxrwx 1 root root 12 Mar  1 10:00 lun0 -> ../../../sdc\n"
            "lrwxrwxrwx 1 root root 14 Mar  1 10:00 3 -> ../../../../sdf\n"
            "lrwxrwxrwx 1 root root  9 Mar  1 10:00 root -> ../../sda\n")
    assert parse_links(text) == (
        ("/dev/disk/azure/scsi1/lun0", "sdc"), ("/dev/disk/azure/data/by-lun/3", "sdf"), ("/dev/disk/azure/root", "sda"),
    )


def test_sizes_are_bytes_of_gib() -> None:
    data = by_lun(join_disks(instance({1: 16}), parse_guest_output(recorded("azure-ubuntu-gen1.txt"))))
    assert data[1].size_bytes == 16 * GIB and data[1].arm_size_gb == 16
