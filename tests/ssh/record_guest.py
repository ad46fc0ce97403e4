"""Records the fixtures in tests/ssh/recorded/lab-*.txt: the inspection exec
(`vmss_tui.domain.disks.INSPECT_COMMAND`) run by this machine's real lsblk, df, ls, cat and blkid
on loop devices set up as Azure data disks in the guest lab (tests/ssh/guest_lab.py).

    sudo python -m tests.ssh.record_guest tests/ssh/recorded

Disks: LUN 0 empty; LUN 1 prepared by the prepare script (GPT, ext4, fstab by UUID, mounted);
LUN 2 a whole-disk ext4, not mounted; LUN 3 three partitions (ext4 mounted through an fstab
entry by its LUN link, xfs not mounted, one without a filesystem); LUN 4 a GPT label and no
partition; LUN 5 (azure-vm-utils by-lun link) a whole-disk xfs with a label, mounted through an
fstab LABEL= entry without nofail. Recorded twice: as root (blkid sees filesystems) and as
`nobody` without a blkid cache (no udev here, so lsblk shows no filesystem types to a non-root user); and as root with
the lsblk variants older versions fall back to (JSON with MOUNTPOINT and no PATH; `-P` pairs).

The host's own devices (and other tests' loop devices) appear in the output as they are.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.ssh.guest_lab import GuestLab
from vmss_tui.domain.disk_prepare import make_plan, prepare_script
from vmss_tui.domain.disks import _LSBLK_ATTEMPTS, INSPECT_COMMAND


def build(lab: GuestLab) -> None:
    lab.add_disk(0, 64)
    lab.add_disk(1, 64)
    whole = lab.add_disk(2, 64)
    parts = lab.add_disk(3, 400)
    label_only = lab.add_disk(4, 32)
    xfs = lab.add_disk(5, 320, link="by-lun")
    lab.run("sh", input=prepare_script(make_plan([1], mount_template=lab.mount_template)), check=True)
    lab.run(f"mkfs.ext4 -q {whole}", check=True)
    lab.run(
        f"printf 'label: gpt\\nsize=32M\\nsize=320M\\n,\\n' | sfdisk -q {parts} && partx -a {parts} 2>/dev/null; "
        f"mkfs.ext4 -q {parts}p1 && mkfs.xfs -q -f {parts}p2 && "
        f"ln -s ../../../{Path(parts).name}p1 /dev/disk/azure/scsi1/lun3-part1 && "
        f"mkdir -p {lab.mount_root}/lun3 && "
        f"echo '/dev/disk/azure/scsi1/lun3-part1 {lab.mount_root}/lun3 ext4 defaults,nofail 0 2' >> /etc/fstab && "
        f"mount {lab.mount_root}/lun3",
        check=True,
    )
    lab.run(f"parted -s {label_only} mklabel gpt", check=True)
    lab.run(
        f"mkfs.xfs -q -L data5 {xfs} && mkdir -p {lab.mount_root}/xfs && "
        f"echo 'LABEL=data5 {lab.mount_root}/xfs xfs defaults 0 0' >> /etc/fstab && mount {lab.mount_root}/xfs",
        check=True,
    )


def main(out_dir: str) -> int:
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    lab = GuestLab(Path(tempfile.mkdtemp(prefix="vmss-tui-record-")))
    lab.start()
    try:
        build(lab)
        as_root = lab.run(INSPECT_COMMAND, check=True)
        (target / "lab-root.txt").write_text(as_root.stdout, encoding="utf-8")
        # What older lsblk versions get to: the MOUNTPOINT-without-PATH JSON and the -P pairs.
        full = " || ".join(_LSBLK_ATTEMPTS)
        for name, attempt in (("lab-old-json.txt", _LSBLK_ATTEMPTS[2]), ("lab-pairs.txt", _LSBLK_ATTEMPTS[3])):
            older = lab.run(INSPECT_COMMAND.replace(full, attempt), check=True)
            (target / name).write_text(older.stdout, encoding="utf-8")
        # Last: a non-root user, and no blkid cache (root's runs above left one), hidden in the namespace only.
        lab.run("if [ -e /run/blkid/blkid.tab ]; then mount --bind /dev/null /run/blkid/blkid.tab; fi", check=True)
        quoted = INSPECT_COMMAND.replace("'", "'\\''")
        as_nobody = lab.run(f"runuser -u nobody -- sh -c '{quoted}'", check=True)
        (target / "lab-nobody.txt").write_text(as_nobody.stdout, encoding="utf-8")
        devices = dict(lab.devices)
        (target / "lab-devices.txt").write_text(
            "".join(f"{lun} {dev}\n" for lun, dev in sorted(devices.items())) + f"mount_root {lab.mount_root}\n",
            encoding="utf-8",
        )
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "tests/ssh/recorded"))
