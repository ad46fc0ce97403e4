"""The simulated guest OS (sim/guest.py) through the interface the simulator uses: its disks and
their links, prepare, detach and attach, reimage, reboot, Run Command scripts; and disks-ssh's
prepare script and inspection command run unchanged in it."""

from __future__ import annotations

import json

import pytest

from vmss_tui.sim.guest import Guest


def make_guest(*luns: tuple[int, int], vm_size: str | None = "Standard_D2s_v3") -> Guest:
    guest = Guest(hostname="vmss-data000001", admin_user="azureuser", os_disk_gb=30, vm_size=vm_size)
    for lun, size_gb in luns:
        guest.attach(lun, size_gb, disk_name=f"vmss-data_vmss-data_1_disk{lun}")
    return guest


def run(guest: Guest, command: str, user: str = "azureuser") -> str:
    result = guest.exec(command, user=user)
    assert result.exit_code == 0, (command, result)
    return result.stdout


def devices(guest: Guest) -> dict[str, dict[str, object]]:
    tree = json.loads(run(guest, "lsblk -J -b -o NAME,TYPE,SIZE,FSTYPE,UUID,PTTYPE,MOUNTPOINT,HCTL"))
    flat = {}
    for disk in tree["blockdevices"]:
        flat[disk["name"]] = disk
        for child in disk.get("children", []):
            flat[child["name"]] = child
    return flat


def test_a_fresh_guest_has_the_ubuntu_azure_layout() -> None:
    guest = make_guest((0, 128), (1, 512))
    found = devices(guest)
    assert [n for n in found] == ["sda", "sda1", "sda14", "sda15", "sdb", "sdb1", "sdc", "sdd"]
    assert found["sda"]["hctl"] == "0:0:0:0" and found["sda"]["size"] == 30 * 1024 ** 3
    assert (found["sda1"]["fstype"], found["sda1"]["mountpoint"]) == ("ext4", "/")
    assert (found["sda15"]["fstype"], found["sda15"]["mountpoint"]) == ("vfat", "/boot/efi")
    assert found["sda14"]["fstype"] is None
    assert (found["sdb1"]["fstype"], found["sdb1"]["mountpoint"]) == ("ext4", "/mnt")  # the resource disk
    for name, lun, size in (("sdc", 0, 128), ("sdd", 1, 512)):
        assert found[name]["hctl"] == f"1:0:0:{lun}" and found[name]["size"] == size * 1024 ** 3
        assert found[name]["pttype"] is None and found[name]["fstype"] is None and "children" not in found[name]
    assert run(guest, "readlink -f /dev/disk/azure/scsi1/lun1; readlink -f /dev/disk/azure/data/by-lun/0") \
        == "/dev/sdd\n/dev/sdc\n"
    assert "lun0 -> ../../../sdc" in run(guest, "ls -l /dev/disk/azure/scsi1")
    assert run(guest, "hostname; cat /etc/hostname") == "vmss-data000001\nvmss-data000001\n"


def test_vm_sizes_without_a_temp_disk_have_no_sdb() -> None:
    guest = make_guest((0, 64), vm_size="Standard_E4s_v5")
    found = devices(guest)
    # no resource disk: the first data disk is the kernel's second disk
    assert [n for n in found if not n.startswith("sda")] == ["sdb"] and found["sdb"]["hctl"] == "1:0:0:0"
    assert run(guest, "readlink -f /dev/disk/azure/scsi1/lun0") == "/dev/sdb\n"
    assert "/mnt" not in run(guest, "df -h") and "azure_resource" not in run(guest, "cat /etc/fstab")


def test_prepare_partitions_formats_mounts_and_adds_fstab_by_uuid() -> None:
    guest = make_guest((0, 128), (1, 512))
    guest.prepare(0)
    found = devices(guest)
    assert found["sdc"]["pttype"] == "gpt"
    assert (found["sdc1"]["fstype"], found["sdc1"]["mountpoint"]) == ("ext4", "/datadisks/lun0")
    uuid = found["sdc1"]["uuid"]
    assert f"UUID={uuid} /datadisks/lun0 ext4 defaults,nofail 0 2" in run(guest, "cat /etc/fstab")
    assert "/dev/sdc1" in run(guest, "df -h /datadisks/lun0")
    guest.prepare(1, fstype="xfs", mountpoint="/data/logs")
    assert devices(guest)["sdd1"]["fstype"] == "xfs" and "/data/logs xfs" in run(guest, "cat /etc/fstab")
    before = guest.describe()
    guest.prepare(0)  # has a partition table now: left as it is
    assert guest.describe() == before and devices(guest)["sdc1"]["uuid"] == uuid


def test_prepare_never_touches_a_disk_with_a_filesystem() -> None:
    guest = make_guest((0, 64))
    assert guest.run_script("mkfs.xfs -q /dev/sdc").exit_code == 0
    uuid = devices(guest)["sdc"]["uuid"]
    guest.prepare(0)
    assert devices(guest)["sdc"]["uuid"] == uuid and "children" not in devices(guest)["sdc"]
    assert "/datadisks" not in run(guest, "cat /etc/fstab")


def test_detach_drops_the_device_and_its_mount_and_attach_brings_the_contents_back() -> None:
    guest = make_guest((0, 64), (1, 32))
    guest.prepare(0)
    uuid = devices(guest)["sdc1"]["uuid"]
    disk = guest.detach(0)
    assert "sdc" not in devices(guest) and "/datadisks/lun0" not in run(guest, "findmnt -l -n -o TARGET")
    assert run(guest, "ls /dev/disk/azure/scsi1") == "lun1\n"
    with pytest.raises(KeyError):
        guest.detach(0)
    guest.attach_disk(disk)  # the same disk, hot-plugged again: the lowest free name
    assert devices(guest)["sdc1"]["uuid"] == uuid
    with pytest.raises(ValueError, match="LUN 1 is already attached"):
        guest.attach(1, 32, disk_name="again")


def test_a_hot_plugged_disk_takes_the_lowest_free_name_and_a_reboot_orders_by_lun() -> None:
    guest = make_guest((0, 64), (1, 32))
    guest.detach(0)
    guest.attach(2, 16, disk_name="new")
    assert run(guest, "readlink -f /dev/disk/azure/scsi1/lun2") == "/dev/sdc\n"
    guest.reboot()
    assert run(guest, "readlink -f /dev/disk/azure/scsi1/lun1; readlink -f /dev/disk/azure/scsi1/lun2") \
        == "/dev/sdc\n/dev/sdd\n"


def test_reimage_gives_a_fresh_os_disk_and_keeps_data_disk_contents() -> None:
    guest = make_guest((0, 64))
    guest.prepare(0)
    assert guest.exec("echo hello > ~/notes.txt", user="azureuser").exit_code == 0
    assert guest.run_script("echo data > /datadisks/lun0/kept.txt").exit_code == 0
    uuid = devices(guest)["sdc1"]["uuid"]
    guest.reimage()
    assert guest.exec("cat ~/notes.txt", user="azureuser").exit_code == 1  # the OS disk is new
    found = devices(guest)
    assert found["sdc1"]["uuid"] == uuid and found["sdc1"]["mountpoint"] is None  # contents kept, not mounted
    assert "/datadisks" not in run(guest, "cat /etc/fstab")
    assert guest.run_script("mkdir -p /x && mount /dev/sdc1 /x && cat /x/kept.txt").stdout == "data\n"


def test_reboot_mounts_what_fstab_says_and_skips_missing_nofail_disks() -> None:
    guest = make_guest((0, 64), (1, 32))
    guest.prepare(0)
    guest.prepare(1)
    guest.run_script("umount /datadisks/lun0")
    guest.detach(1)
    guest.reboot()
    assert guest.boot_error is None
    mounted = run(guest, "findmnt -l -n -o TARGET")
    assert "/datadisks/lun0" in mounted and "/datadisks/lun1" not in mounted


def test_a_missing_disk_without_nofail_puts_the_boot_in_emergency_mode() -> None:
    guest = make_guest((0, 64))
    script = "mkfs.ext4 -q /dev/sdc && mkdir /data && echo \"UUID=$(blkid -s UUID -o value /dev/sdc) /data ext4 " \
             "defaults 0 2\" >> /etc/fstab && mount -a"
    assert guest.run_script(script).exit_code == 0
    guest.detach(0)
    guest.reboot()
    assert guest.boot_error is not None and "/data" in guest.boot_error


def test_run_script_runs_as_root_in_a_download_directory_like_run_command() -> None:
    guest = make_guest()
    result = guest.run_script("id -u; pwd; echo oops >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (
        3, "0\n/var/lib/waagent/run-command/download/0\n", "oops\n")
    second = guest.run_script("pwd; cat script.sh | head -1\n")
    assert second.stdout == "/var/lib/waagent/run-command/download/1\npwd; cat script.sh | head -1\n"
    # /bin/sh runs a script without a bash shebang: dash's words
    assert guest.run_script("nosuchtool").stderr == \
        "/var/lib/waagent/run-command/download/2/script.sh: 1: nosuchtool: not found\n"
    assert guest.run_script("#!/bin/bash\n\nnosuchtool").stderr == \
        "/var/lib/waagent/run-command/download/3/script.sh: line 3: nosuchtool: command not found\n"


def test_exec_runs_as_the_user_without_a_terminal() -> None:
    guest = make_guest()
    assert guest.exec("whoami; echo $HOME; tty", user="azureuser").stdout == "azureuser\n/home/azureuser\nnot a tty\n"
    result = guest.exec("foo", user="azureuser")
    assert (result.exit_code, result.stderr) == (127, "bash: line 1: foo: command not found\n")


def test_a_windows_guest_runs_no_scripts() -> None:
    guest = Guest(hostname="vmsspend000000", admin_user="azureuser", os_disk_gb=127, os_type="Windows")
    result = guest.run_script("echo hi")
    assert result.exit_code == 1 and "Windows" in result.stderr and result.stdout == ""


def test_identifiers_are_stable_for_a_hostname() -> None:
    first, second = make_guest((0, 64)), make_guest((0, 64))
    first.prepare(0)
    second.prepare(0)
    assert devices(first)["sdc1"]["uuid"] == devices(second)["sdc1"]["uuid"]
    other = Guest(hostname="vmss-data000002", admin_user="azureuser", os_disk_gb=30)
    other.attach(0, 64, disk_name="x")
    other.prepare(0)
    assert devices(other)["sdc1"]["uuid"] != devices(first)["sdc1"]["uuid"]
    # the image's root filesystem is the same on every instance, as on Azure
    assert devices(other)["sda1"]["uuid"] == devices(first)["sda1"]["uuid"]


# ---------------------------------------------------------------- disks-ssh's script and inspection

disk_prepare = pytest.importorskip("vmss_tui.domain.disk_prepare", reason="disks-ssh's prepare script is not there")


def test_the_prepare_script_prepares_empty_disks_and_a_second_run_changes_nothing() -> None:
    guest = make_guest((0, 128), (1, 512))
    script = disk_prepare.prepare_script(disk_prepare.make_plan([0, 1]))
    first = guest.run_script(script)
    assert first.exit_code == 0, first
    lines = first.stdout.splitlines()
    assert lines[0].startswith("vmss-tui-prepare: lun=0 result=prepared device=/dev/sdc partition=/dev/sdc1")
    assert lines[1].startswith("vmss-tui-prepare: lun=1 result=prepared device=/dev/sdd partition=/dev/sdd1")
    assert lines[-1] == "vmss-tui-prepare: done"
    found = devices(guest)
    for part, mount in (("sdc1", "/datadisks/lun0"), ("sdd1", "/datadisks/lun1")):
        assert (found[part]["fstype"], found[part]["mountpoint"]) == ("ext4", mount)
        assert f"UUID={found[part]['uuid']} {mount} ext4 defaults,nofail 0 2" in run(guest, "cat /etc/fstab")
    state = (guest.describe(), run(guest, "cat /etc/fstab"), run(guest, "lsblk -J -b -o NAME,UUID,MOUNTPOINTS"))
    second = guest.run_script(script)
    assert second.exit_code == 0
    assert [line.split(" device=")[0] for line in second.stdout.splitlines()] == [
        "vmss-tui-prepare: lun=0 result=already-prepared", "vmss-tui-prepare: lun=1 result=already-prepared",
        "vmss-tui-prepare: done"]
    assert (guest.describe(), run(guest, "cat /etc/fstab"), run(guest, "lsblk -J -b -o NAME,UUID,MOUNTPOINTS")) \
        == state
    guest.reboot()  # the fstab lines bring both back
    assert "/datadisks/lun1" in run(guest, "findmnt -l -n -o TARGET")


def test_the_prepare_script_leaves_a_disk_with_a_filesystem_or_a_label_alone() -> None:
    guest = make_guest((0, 64), (1, 32), (2, 16))
    assert guest.run_script("mkfs.xfs -q /dev/sdc && parted -s /dev/sdd mklabel gpt").exit_code == 0
    uuid = devices(guest)["sdc"]["uuid"]
    result = guest.run_script(disk_prepare.prepare_script(disk_prepare.make_plan([0, 1, 2, 3])))
    verdicts = [line.split(" device=")[0] for line in result.stdout.splitlines()]
    assert verdicts[:2] == ["vmss-tui-prepare: lun=0 result=skipped reason=has-signature",
                            "vmss-tui-prepare: lun=1 result=skipped reason=has-signature"]
    assert verdicts[2].startswith("vmss-tui-prepare: lun=2 result=prepared")
    assert verdicts[3] == "vmss-tui-prepare: lun=3 result=missing reason=no-lun-link"
    assert result.exit_code == 1  # a LUN was missing
    assert devices(guest)["sdc"]["uuid"] == uuid and devices(guest)["sdd"]["pttype"] == "gpt"
    assert "children" not in devices(guest)["sdd"]


def test_the_prepare_script_refuses_to_run_as_the_admin_user() -> None:
    guest = make_guest((0, 64))
    script = disk_prepare.prepare_script(disk_prepare.make_plan([0]))
    guest.write_file("/tmp/prepare.sh", script)
    result = guest.exec("sh /tmp/prepare.sh", user="azureuser")
    assert (result.exit_code, result.stdout) == (1, "vmss-tui-prepare: result=failed reason=not-root\n")
    assert "children" not in devices(guest)["sdc"]


def test_the_inspection_command_parses_as_disks_ssh_expects() -> None:
    disks = pytest.importorskip("vmss_tui.domain.disks", reason="disks-ssh's parser is not there")
    guest = make_guest((0, 128), (1, 512))
    guest.prepare(0)
    result = guest.exec(disks.INSPECT_COMMAND, user="azureuser")
    assert result.exit_code == 0 and result.stderr == ""
    view = disks.parse_guest_output(result.stdout)
    by_name = {d.name: d for d in view.devices}
    assert by_name["sdc"].hctl == "1:0:0:0" and by_name["sdc"].children[0].mountpoints == ("/datadisks/lun0",)
    assert by_name["sdd"].children == () and by_name["sdd"].pttype is None
    assert ("/dev/disk/azure/scsi1/lun1", "sdd") in view.links
    assert any(u.mountpoint == "/datadisks/lun0" and u.size_bytes > 120 * 1024 ** 3 for u in view.usage)
    assert any(e.mountpoint == "/datadisks/lun0" for e in view.fstab)
