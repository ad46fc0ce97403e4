"""The simulated guest's shell (sim/shell.py): the language, the commands operators type, the
formats the real tools print, and that nothing it runs reaches the machine it runs on."""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vmss_tui.sim.guest import Guest
from vmss_tui.sim.shell import BufferOutput, Io, Shell, ShellSyntaxError, Terminal, TextInput, drive, parse


@pytest.fixture
def guest() -> Guest:
    made = Guest(hostname="vmss-data000001", admin_user="azureuser", os_disk_gb=30, vm_size="Standard_D2s_v3")
    made.attach(0, 128, disk_name="vmss-data_vmss-data_1_disk0")
    made.attach(1, 512, disk_name="vmss-data_vmss-data_1_disk1")
    return made


def sh(guest: Guest, text: str, *, user: str = "azureuser", stdin: str = "") -> tuple[int, str, str]:
    result = Shell(guest, user=user).run_line(text, stdin=stdin)
    return result.exit_code, result.stdout, result.stderr


def out(guest: Guest, text: str, *, user: str = "azureuser", stdin: str = "") -> str:
    status, stdout, stderr = sh(guest, text, user=user, stdin=stdin)
    assert status == 0, (text, status, stdout, stderr)
    return stdout


class TypedInput(TextInput):
    """Keys typed at a terminal (already complete lines)."""

    is_terminal = True


def on_terminal(guest: Guest, text: str, typed: str = "", *, user: str = "azureuser") -> tuple[int, str]:
    shell = Shell(guest, user=user, terminal=Terminal(columns=120, rows=40))
    buffer = BufferOutput()
    status = drive(shell.run_text(text, Io(TypedInput(typed), buffer, buffer), source="interactive"))
    return status, buffer.value()


# ---------------------------------------------------------------- the language


def test_words_quotes_and_escapes(guest: Guest) -> None:
    assert out(guest, """echo 'a  b' "c  d" e\\ f 'it'"'"'s' "\\$HOME" \\\\""") == "a  b c  d e f it's $HOME \\\n"
    assert out(guest, 'x="1 2"; printf "[%s]" $x "$x"; echo') == "[1][2][1 2]\n"
    assert out(guest, "printf '%s\\n' \"\" a ''") == "\na\n\n"


def test_parameter_expansions(guest: Guest) -> None:
    script = ('v=/dev/disk/azure/scsi1/lun0-part1; echo ${v##*/} ${v%/*} ${v#/dev/} ${v%%-*} ${#v}; '
              'echo ${unset:-dflt} ${v:+set} ${e-} "${nothing:=made}" $nothing; echo ${v/lun/LUN}')
    assert out(guest, script) == ("lun0-part1 /dev/disk/azure/scsi1 disk/azure/scsi1/lun0-part1 "
                                  "/dev/disk/azure/scsi1/lun0 32\ndflt set made made\n"
                                  "/dev/disk/azure/scsi1/LUN0-part1\n")
    status, _, stderr = sh(guest, 'echo ${missing:?no disk}; echo not reached')
    assert status == 1 and stderr == "bash: line 1: missing: no disk\n"


def test_status_substitution_and_arithmetic(guest: Guest) -> None:
    assert out(guest, "false; echo $?; true; echo $?; echo $(echo inner $(whoami)) `hostname`") == \
        "1\n0\ninner azureuser vmss-data000001\n"
    assert out(guest, "n=7; echo $((n * 6)) $(( (n + 1) % 3 )) $((1 << 4)) $((n > 3 && n < 9))") == "42 2 16 1\n"
    assert out(guest, 'f() { echo "args:$#:$1:$2"; return 4; }; f a "b c"; echo $?') == "args:2:a:b c\n4\n"


def test_control_flow(guest: Guest) -> None:
    script = """
for lun in 0 1 2; do
  if [ -e /dev/disk/azure/scsi1/lun$lun ]; then echo "lun$lun present"
  elif [ "$lun" = 2 ]; then echo "lun$lun absent"
  else echo never; fi
done
i=0
while [ $i -lt 3 ]; do i=$((i + 1)); [ $i -eq 2 ] && continue; echo "round $i"; done
until false; do break; done
case /dev/sdc1 in /dev/sd?) echo disk ;; /dev/sd*[0-9]) echo partition ;; *) echo other ;; esac
"""
    assert out(guest, script) == "lun0 present\nlun1 present\nlun2 absent\nround 1\nround 3\npartition\n"


def test_and_or_not_and_set_e(guest: Guest) -> None:
    assert out(guest, "false && echo no || echo yes; ! false && echo negated") == "yes\nnegated\n"
    status, stdout, _ = sh(guest, "set -e; echo one; if false; then :; fi; false || true; false; echo two")
    assert (status, stdout) == (1, "one\n")
    status, stdout, _ = sh(guest, "set -o pipefail; false | true; echo $?")
    assert stdout == "1\n"


def test_pipes_redirections_and_here_documents(guest: Guest) -> None:
    assert out(guest, "printf 'b\\na\\nb\\n' | sort | uniq -c | head -1") == "      1 a\n"
    assert out(guest, "echo one > /tmp/f; echo two >> /tmp/f; cat < /tmp/f; wc -l < /tmp/f") == "one\ntwo\n2\n"
    assert out(guest, "ls /nope 2>/dev/null; echo $?; ls /nope 2>&1 | cut -c1-3") == "2\nls:\n"
    assert out(guest, "echo to-err >&2 2>/dev/null; echo ok") == "ok\n"
    script = 'name=sdc\ncat <<EOF\ndisk $name\nEOF\ncat <<-\'EOF\'\n\tliteral $name\n\tEOF\n'
    assert out(guest, script) == "disk sdc\nliteral $name\n"
    assert out(guest, "printf 'a b\\nc d\\n' | while read x y; do echo \"$y-$x\"; done") == "b-a\nd-c\n"


def test_globs_match_the_guests_files(guest: Guest) -> None:
    assert out(guest, "echo /dev/disk/azure/scsi1/lun*") == "/dev/disk/azure/scsi1/lun0 /dev/disk/azure/scsi1/lun1\n"
    assert out(guest, "echo /dev/sd[cd] /nothing/*") == "/dev/sdc /dev/sdd /nothing/*\n"
    assert out(guest, "echo '/dev/sd*'") == "/dev/sd*\n"


def test_errors_are_worded_as_bash_words_them(guest: Guest) -> None:
    assert sh(guest, "nosuch --flag") == (127, "", "bash: line 1: nosuch: command not found\n")
    assert sh(guest, "if true; then") == (2, "", "bash: line 1: syntax error: unexpected end of file\n")
    assert sh(guest, "echo )")[2] == "bash: line 1: syntax error near unexpected token `)'\n"
    assert sh(guest, "[ 1 -eq ]")[0] == 2
    assert sh(guest, "[ a = a")[2] == "bash: line 1: [: missing `]'\n"
    assert sh(guest, "cd /etc/passwd")[2] == "bash: line 1: cd: /etc/passwd: Not a directory\n"
    assert on_terminal(guest, "nosuch") == (127, "-bash: nosuch: command not found\n")
    with pytest.raises(ShellSyntaxError):
        parse("for in; do done")


# ---------------------------------------------------------------- users, sudo, permissions


def test_the_admin_user_has_passwordless_sudo(guest: Guest) -> None:
    assert out(guest, "whoami; id -u; sudo whoami; sudo -n true && echo fine; sudo id -u") == \
        "azureuser\n1000\nroot\nfine\n0\n"
    assert "uid=1000(azureuser) gid=1000(azureuser) groups=1000(azureuser),4(adm)" in out(guest, "id")
    assert out(guest, "sudo -u azureuser whoami; sudo sh -c 'echo $USER; cd; pwd'") == "azureuser\nroot\n/root\n"
    assert sh(guest, "sudo nosuch") == (1, "", "sudo: nosuch: command not found\n")


def test_permissions_of_the_guests_files(guest: Guest) -> None:
    assert sh(guest, "echo x > /etc/passwd") == (1, "", "bash: line 1: /etc/passwd: Permission denied\n")
    assert sh(guest, "cat /etc/shadow") == (1, "", "cat: /etc/shadow: Permission denied\n")
    assert sh(guest, "mkdir /datadisks") == (1, "", "mkdir: cannot create directory ‘/datadisks’: Permission denied\n")
    assert sh(guest, "echo 'UUID=x /d ext4 nofail 0 2' | tee -a /etc/fstab") == (
        1, "UUID=x /d ext4 nofail 0 2\n", "tee: /etc/fstab: Permission denied\n")
    assert out(guest, "echo 'UUID=x /d ext4 nofail 0 2' | sudo tee -a /etc/fstab >/dev/null; tail -1 /etc/fstab") \
        == "UUID=x /d ext4 nofail 0 2\n"
    assert out(guest, "cd; echo hi > notes; cat ~/notes; ls -l notes | cut -d' ' -f1,3,4") == \
        "hi\n-rw-r--r-- azureuser azureuser\n"


# ---------------------------------------------------------------- the disk tools, as an operator sees them

LSBLK = ("NAME    MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\n"
         "sda       8:0    0   30G  0 disk \n"  # an empty last column leaves its separator, as in lsblk
         "├─sda1    8:1    0 29.9G  0 part /\n"
         "├─sda14   8:14   0    4M  0 part \n"
         "└─sda15   8:15   0  106M  0 part /boot/efi\n"
         "sdb       8:16   0   16G  0 disk \n"
         "└─sdb1    8:17   0   16G  0 part /mnt\n"
         "sdc       8:32   0  128G  0 disk \n"
         "└─sdc1    8:33   0  128G  0 part /datadisks/lun0\n"
         "sdd       8:48   0  512G  0 disk \n")
DF_H = """Filesystem      Size  Used Avail Use% Mounted on
/dev/root        29G  1.6G   28G   6% /
tmpfs           3.9G     0  3.9G   0% /dev/shm
tmpfs           1.6G  1.3M  1.6G   1% /run
tmpfs           5.0M     0  5.0M   0% /run/lock
efivarfs        128K   37K   87K  30% /sys/firmware/efi/efivars
/dev/sda15      105M  6.1M   99M   6% /boot/efi
/dev/sdb1        16G   28K   15G   1% /mnt
tmpfs           795M  4.0K  795M   1% /run/user/1000
/dev/sdc1       126G   24K  119G   1% /datadisks/lun0
"""


def test_lsblk_and_df_as_on_an_ubuntu_azure_vm(guest: Guest) -> None:
    guest.prepare(0)
    assert out(guest, "lsblk") == LSBLK
    assert out(guest, "df -h") == DF_H
    assert out(guest, "lsblk -d -n -p -o NAME,SIZE,HCTL") == (
        "/dev/sda   30G 0:0:0:0\n/dev/sdb   16G 0:0:0:1\n/dev/sdc  128G 1:0:0:0\n/dev/sdd  512G 1:0:0:1\n")
    assert out(guest, "lsblk -o NAME,MOUNTPOINT /dev/disk/azure/scsi1/lun0") == \
        "NAME   MOUNTPOINT\nsdc    \n└─sdc1 /datadisks/lun0\n"
    header, row = out(guest, "df -B1 -P /datadisks/lun0").splitlines()
    assert header.split() == ["Filesystem", "1-blocks", "Used", "Available", "Capacity", "Mounted", "on"]
    fields = row.split()
    assert fields[0] == "/dev/sdc1" and int(fields[2]) == 24576 and fields[5] == "/datadisks/lun0"
    assert 0.97 * 128 * 1024 ** 3 < int(fields[1]) < 128 * 1024 ** 3  # ext4's own blocks are not in the total
    assert out(guest, "df -T -h /datadisks/lun0").splitlines()[1].split()[:2] == ["/dev/sdc1", "ext4"]
    assert sh(guest, "df /nope") == (1, "", "df: /nope: No such file or directory\n")


def test_lsblk_json_has_util_linux_shape(guest: Guest) -> None:
    guest.prepare(0)
    text = out(guest, "lsblk -J -b -o NAME,SIZE,MOUNTPOINTS,HCTL /dev/sdc")
    assert text == """{
   "blockdevices": [
      {
         "name": "sdc",
         "size": 137438953472,
         "mountpoints": [
             null
         ],
         "hctl": "1:0:0:0",
         "children": [
            {
               "name": "sdc1",
               "size": 137436856320,
               "mountpoints": [
                   "/datadisks/lun0"
               ],
               "hctl": null
            }
         ]
      }
   ]
}
"""
    tree = json.loads(out(guest, "lsblk -J -o NAME,RM,RO,FSTYPE,UUID,FSUSE%"))
    sda1 = tree["blockdevices"][0]["children"][0]
    assert sda1["rm"] is False and sda1["fstype"] == "ext4" and sda1["fsuse%"] == "5%"
    assert sh(guest, "lsblk /dev/nope") == (32, "", "lsblk: /dev/nope: not a block device\n")
    assert sh(guest, "lsblk -o NAME,BOGUS") == (1, "", "lsblk: unknown column: BOGUS\n")


def test_fdisk_needs_root_as_the_real_one(guest: Guest) -> None:
    status, stdout, stderr = sh(guest, "fdisk -l")
    assert (status, stdout) == (0, "") and stderr.splitlines() == [
        f"fdisk: cannot open /dev/{name}: Permission denied" for name in ("sda", "sdb", "sdc", "sdd")]
    listing = out(guest, "sudo fdisk -l")
    assert listing.startswith("Disk /dev/sda: 30 GiB, 32212254720 bytes, 62914560 sectors\nDisk model: Virtual Disk")
    assert "/dev/sda1  227328 62914526 62687199 29.9G Linux filesystem\n" in listing
    assert "Partition table entries are not in disk order." in listing
    assert "Disk /dev/sdd: 512 GiB, 549755813888 bytes, 1073741824 sectors\n" in listing


def test_blkid_as_root_and_from_the_cache_as_a_user(guest: Guest) -> None:
    guest.prepare(0)
    assert sh(guest, "blkid") == (2, "", "")  # nothing cached yet, and a user cannot open the disks
    listing = out(guest, "sudo blkid")
    assert 'LABEL="cloudimg-rootfs"' in listing and listing.count("\n") == 5  # sda1 sda14 sda15 sdb1 sdc1
    assert out(guest, "blkid /dev/sdc1") == out(guest, "sudo blkid /dev/sdc1")  # now from /run/blkid
    uuid = out(guest, "sudo blkid -s UUID -o value /dev/sdc1").strip()
    assert out(guest, f"sudo blkid -U {uuid}") == "/dev/sdc1\n"
    assert sh(guest, "sudo blkid -p /dev/sdd") == (2, "", "")
    guest.reboot()
    assert sh(guest, "blkid") == (2, "", "")  # /run is empty after a boot


def test_partitioning_formatting_and_mounting_by_hand(guest: Guest) -> None:
    script = """set -e
sudo parted -s /dev/sdd mklabel gpt mkpart data xfs 0% 100%
sudo partprobe /dev/sdd && sudo udevadm settle
sudo mkfs.xfs -q /dev/sdd1
sudo mkdir -p /data
sudo mount /dev/sdd1 /data
findmnt -n -o SOURCE,FSTYPE /data
"""
    assert out(guest, script) == "/dev/sdd1 xfs\n"
    status, _, stderr = sh(guest, "sudo mkfs.ext4 /dev/sdd1")
    assert status == 1 and "/dev/sdd1 is mounted; will not make a filesystem here!" in stderr
    assert sh(guest, "sudo mount /dev/sdd1 /data")[2] == ("mount: /data: /dev/sdd1 already mounted on /data.\n"
                                                         "       dmesg(1) may have more information after failed "
                                                         "mount system call.\n")
    assert sh(guest, "mount /dev/sdc /x")[0] == 32
    assert sh(guest, "umount /data") == (32, "", "umount: /data: must be superuser to unmount.\n")
    assert out(guest, "sudo umount /data; mountpoint /data; echo $?") == "/data is not a mountpoint\n32\n"
    assert out(guest, "sudo blockdev --getsize64 /dev/sdd1") == "549753716736\n"


def test_mkfs_ext4_asks_on_a_terminal_and_not_without_one(guest: Guest) -> None:
    assert sh(guest, "sudo mkfs.ext4 -q /dev/sdc")[0] == 0
    uuid = out(guest, "sudo blkid -s UUID -o value /dev/sdc")
    status, shown = on_terminal(guest, "sudo mkfs.ext4 /dev/sdc", "n\n")
    assert status == 1 and "/dev/sdc contains a ext4 file system" in shown and shown.endswith("Proceed anyway? (y,N) ")
    assert out(guest, "sudo blkid -s UUID -o value /dev/sdc") == uuid
    assert sh(guest, "sudo mkfs.ext4 -q /dev/sdc")[0] == 0  # no terminal: mke2fs does not ask
    assert out(guest, "sudo blkid -s UUID -o value /dev/sdc") != uuid
    status, shown = on_terminal(guest, "sudo mkfs.ext4 /dev/sdc", "y\n")
    assert status == 0 and "Creating filesystem with 33554432 4k blocks" in shown


def test_mount_a_and_the_fstab_hint(guest: Guest) -> None:
    out(guest, "sudo mkfs.ext4 -q /dev/sdc; sudo mkdir /data")
    uuid = out(guest, "sudo blkid -s UUID -o value /dev/sdc").strip()
    out(guest, f"echo 'UUID={uuid} /data ext4 defaults,nofail 0 2' | sudo tee -a /etc/fstab")
    assert out(guest, "sudo mount -a") == ("mount: (hint) your fstab has been modified, but systemd still uses\n"
                                           "       the old version; use 'systemctl daemon-reload' to reload.\n")
    assert out(guest, "findmnt -s -n -o TARGET /data; findmnt -n -o SOURCE /data") == "/data\n/dev/sdc\n"
    out(guest, "sudo umount /data; sudo systemctl daemon-reload")
    assert out(guest, "sudo mount /data; findmnt -n -o SOURCE /data") == "/dev/sdc\n"


def test_everyday_commands(guest: Guest) -> None:
    assert out(guest, "uname -a").startswith("Linux vmss-data000001 6.8.0-1031-azure #")
    assert out(guest, "uname -sr") == "Linux 6.8.0-1031-azure\n"
    assert out(guest, "readlink -f /dev/disk/azure/scsi1/lun1; readlink /dev/disk/azure/scsi1/lun1") == \
        "/dev/sdd\n../../../sdd\n"
    assert out(guest, "grep -c nofail /etc/fstab; grep -q cloudimg /etc/fstab && echo has-root") == "1\nhas-root\n"
    assert out(guest, "grep -E '^(LABEL|UUID)=' /etc/fstab | cut -f2") == "/\n/boot/efi\n"
    assert out(guest, "echo a-b-c | sed 's/-/+/g'; echo abc | tr a-z A-Z; basename /a/b.txt .txt; dirname /a/b") \
        == "a+b+c\nABC\nb\n/a\n"
    assert out(guest, "sleep 0.1 && echo slept; printf '%-5s|%3d\\n' ab 7") == "slept\nab   |  7\n"
    assert out(guest, "cat /etc/os-release | head -1") == 'PRETTY_NAME="Ubuntu 22.04.5 LTS"\n'
    assert out(guest, "command -v parted; type cd; which lsblk") == "/usr/sbin/parted\ncd is a shell builtin\n" \
                                                                   "/usr/bin/lsblk\n"
    assert sh(guest, "stty size") == (1, "", "stty: 'standard input': Inappropriate ioctl for device\n")
    assert on_terminal(guest, "stty size; tty") == (0, "40 120\n/dev/pts/0\n")
    assert on_terminal(guest, "clear")[1] == "\x1b[H\x1b[2J\x1b[3J"
    assert sh(guest, "clear") == (1, "", "TERM environment variable not set.\n")  # an exec has no TERM


def test_reboot_from_inside_needs_root_and_asks_the_simulator(guest: Guest) -> None:
    status, _, stderr = sh(guest, "reboot")
    assert status == 1 and "Interactive authentication required" in stderr
    asked: list[str] = []
    guest.on_power_request = lambda action: asked.append(action) is None
    assert sh(guest, "sudo reboot")[0] == 0 and asked == ["reboot"]


# ---------------------------------------------------------------- nothing reaches the host


def host_fingerprint() -> dict[str, str]:
    found = {}
    for path in ("/etc/passwd", "/etc/hostname", "/etc/fstab", "/etc/hosts"):
        if os.path.exists(path):
            found[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


def test_destructive_commands_change_only_the_guest(guest: Guest, monkeypatch: pytest.MonkeyPatch) -> None:
    guest.prepare(0)
    before = host_fingerprint()
    out(guest, "true")  # the first run imports what it needs

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the guest touched the host: {args!r}")

    for name in ("open",):
        monkeypatch.setattr(builtins, name, refuse)
    for name in ("open", "system", "fork", "execv", "execve", "execvp", "remove", "unlink", "rmdir", "mkdir",
                 "rename", "chmod", "chown", "listdir", "scandir", "stat", "lstat", "readlink", "posix_spawn"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)

    status, _, stderr = sh(guest, "rm -rf /")
    assert status == 1 and "dangerous to operate recursively on '/'" in stderr
    assert sh(guest, "echo pwned > /etc/passwd") == (1, "", "bash: line 1: /etc/passwd: Permission denied\n")
    script = """
echo 'root::0:0::/:/bin/sh' | sudo tee /etc/passwd >/dev/null
echo evil | sudo tee /etc/hostname >/dev/null
sudo dd if=/dev/zero of=/dev/sdc bs=1M count=1 2>/dev/null
sudo wipefs -a /dev/sdd >/dev/null
sudo mkfs.ext4 -q -F /dev/sdb1 2>/dev/null
sudo rm -rf --no-preserve-root / 2>/dev/null
true
"""
    sh(guest, script)
    monkeypatch.undo()
    assert host_fingerprint() == before
    # the guest is the one that changed: its hostname file, its wiped root (its commands gone), its disks
    assert sh(guest, ": < /etc/hostname") == (1, "", "bash: line 1: /etc/hostname: No such file or directory\n")
    assert sh(guest, "lsblk")[0] == 127 and "lsblk: command not found" in sh(guest, "lsblk")[2]
    assert guest.describe()["disks"]["sdc"]["table"] is None


def test_the_guests_hostname_file_is_the_guests(guest: Guest) -> None:
    assert out(guest, "cat /etc/hostname") == "vmss-data000001\n"
    out(guest, "echo renamed | sudo tee /etc/hostname >/dev/null")
    assert out(guest, "cat /etc/hostname; hostname") == "renamed\nrenamed\n"
    if os.path.exists("/etc/hostname"):
        assert Path("/etc/hostname").read_text() != "renamed\n"


def test_a_terminal_read_waits_for_typed_input() -> None:
    guest = Guest(hostname="vm", admin_user="azureuser", os_disk_gb=30)
    shell = Shell(guest, user="azureuser", terminal=Terminal())

    class Keys(TextInput):
        is_terminal = True

        def __init__(self) -> None:
            super().__init__()
            self.ready: asyncio.Queue[str] | None = None

        async def readline(self) -> str:
            if self.ready is None:
                await asyncio.sleep(0)  # waits, as for a key
                return ""
            return await self.ready.get()

    async def scenario() -> str:
        keys = Keys()
        keys.ready = asyncio.Queue()
        buffer = BufferOutput()
        running = asyncio.ensure_future(shell.run_text("read answer; echo got:$answer", Io(keys, buffer, buffer)))
        await asyncio.sleep(0)
        assert not running.done()  # it waits: nothing was typed
        keys.ready.put_nowait("yes\n")
        await asyncio.wait_for(running, 5)
        return buffer.value()

    assert asyncio.run(scenario()) == "got:yes\n"
    with pytest.raises(RuntimeError, match="waited"):
        drive(shell.run_text("read answer", Io(Keys(), BufferOutput(), BufferOutput())))


AWK_CASES = [
    ("'{print $2, $1}'", "a b\nc d\n"),
    ("-F: '$3 >= 1000 {print $1}'", "root:x:0:0\nazureuser:x:1000:1000\nnobody:x:65534:65534\n"),
    ("'NR > 1 {s += $3} END {print s, NR}'", "Filesystem 1-blocks Used\n/dev/sdc1 100 24576\n/dev/sdd1 9 40\n"),
    ("'$2 == \"part\" {n++} END {print n + 0}'", "sda disk\nsda1 part\nsdc disk\nsdc1 part\n"),
    ("'/nofail/ {print $2}'", "UUID=1 /data ext4 defaults,nofail 0 2\nLABEL=UEFI /boot/efi vfat umask=0077 0 1\n"),
    ("'{ $2 = \"X\"; print; print NF }'", "a b c\n"),
    ("'BEGIN { printf \"%-5s|%5.1f|%03d\\n\", \"ab\", 3.14159, 7 }'", ""),
    ("'{ x = substr($0, 2, 3); print x, length(x), toupper(x), index($0, \"l\") }'", "hello\n"),
    ("'{ sub(/[0-9]+$/, \"\"); print }'", "/dev/sdc1\n/dev/nvme0n1p12\n"),
    ("'{ gsub(/o/, \"0\"); print $0, NF }'", "foo boo\n"),
    ("'{ n = split($0, parts, \",\"); print n, parts[2] }'", "a,b,c\n"),
    ("'$1 ~ /^\\/dev\\/sd/ && $5+0 > 50 { print $6 }'", "/dev/sdc1 10 6 4 60% /a\n/dev/sdd1 10 1 9 10% /b\ntmpfs 1 1 0 99% /c\n"),
    ("'{ print ($1 > 5 ? \"big\" : \"small\") }'", "3\n10\n"),
    ("'END { print NR }'", "1\n2\n3\n"),
    ("'{ if ($1 == \"a\") next; print }'", "a\nb\n"),
    ("'{ printf \"%s=%d\\n\", $1, $2 * 2 }'", "x 21\n"),
]


@pytest.mark.parametrize(("program", "text"), AWK_CASES)
def test_awk_prints_what_the_real_awk_prints(guest: Guest, program: str, text: str) -> None:
    real_awk = shutil.which("awk")
    if real_awk is None:
        pytest.skip("no awk on this machine to compare with")
    real = subprocess.run(f"awk {program}", shell=True, input=text, capture_output=True, text=True, check=False)
    assert sh(guest, f"awk {program}", stdin=text) == (real.returncode, real.stdout, real.stderr)


def test_awk_on_the_guests_commands(guest: Guest) -> None:
    guest.prepare(0)
    assert out(guest, "df -P | awk 'NR > 1 && $6 ~ /^\\/datadisks/ {print $1, $6}'") == "/dev/sdc1 /datadisks/lun0\n"
    assert out(guest, "lsblk -rno NAME,TYPE | awk '$2 == \"disk\" {print $1}'") == "sda\nsdb\nsdc\nsdd\n"
    assert out(guest, "awk -F: '$3 >= 1000 && $3 < 60000 {print $1}' /etc/passwd") == "azureuser\n"
    assert sh(guest, "awk '{print' /etc/fstab")[0] == 2
