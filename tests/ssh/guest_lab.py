"""A Linux guest lab for the disk tests (no tests here): loop devices standing in for Azure data
disks, with `/dev/disk/azure/scsi1/lun<N>` (or `/dev/disk/azure/data/by-lun/<N>`) links and an
`/etc/fstab` of its own, in a private mount namespace, so nothing it mounts, links or writes is
seen by the rest of this machine (other tests use loop devices at the same time).

    lab = GuestLab(tmp_path)
    lab.start()                                  # or LabUnavailable(reason): not root, no losetup ...
    device = lab.add_disk(0, size_mb=64)         # an empty disk at LUN 0
    lab.run("sh", input=script)                  # a command inside the namespace
    lab.sshd_wrapper()                           # an sshd that serves sessions inside the namespace
    lab.stop()                                   # namespace gone, loop devices detached

Only the loop devices this lab attached are ever detached (by their name, after checking their
backing file is the lab's).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TOOLS = ("losetup", "unshare", "nsenter", "lsblk", "blkid", "wipefs", "findmnt", "mount", "partx")


class LabUnavailable(Exception):
    """Why the lab cannot run here (one line, for a skip reason)."""


class GuestLab:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.fstab = self.workdir / "fstab"
        self.mount_root = self.workdir / "datadisks"
        self.devices: dict[int, str] = {}  # lun -> /dev/loopN
        self._images: dict[str, Path] = {}  # /dev/loopN -> backing file
        self._holder: subprocess.Popen[bytes] | None = None

    @property
    def mount_template(self) -> str:
        return f"{self.mount_root}/lun{{lun}}"

    # ----- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        if os.geteuid() != 0:
            raise LabUnavailable("loop devices and mount namespaces need root")
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise LabUnavailable(f"missing tools: {', '.join(missing)}")
        if not Path("/dev/loop-control").exists():
            raise LabUnavailable("no /dev/loop-control (loop devices are not available here)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mount_root.mkdir(exist_ok=True)
        self.fstab.write_text("# fstab of the vmss-tui guest lab\n", encoding="utf-8")
        # The namespace hides a tmpfs on /dev/disk; the directory must exist to be a mount point
        # (udev creates it on a normal machine; an empty directory in devtmpfs otherwise).
        Path("/dev/disk").mkdir(exist_ok=True)
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sleep", "86400"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        if not self._wait_for_namespace():
            err = self._holder.stderr.read().decode(errors="replace").strip() if self._holder.stderr else ""
            self.stop()
            raise LabUnavailable(f"unshare --mount failed: {err or 'no private mount namespace'}")
        setup = (
            "mount -t tmpfs -o mode=755 vmss-tui-lab /dev/disk && "
            "mkdir -p /dev/disk/azure/scsi1 /dev/disk/azure/data/by-lun && "
            f"mount --bind {self.fstab} /etc/fstab"
        )
        done = self.run(setup)
        if done.returncode != 0:
            self.stop()
            raise LabUnavailable(f"cannot set up the namespace: {done.stderr.strip()}")

    def _wait_for_namespace(self) -> bool:
        assert self._holder is not None
        mine = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._holder.poll() is not None:
                return False
            try:
                if os.readlink(f"/proc/{self._holder.pid}/ns/mnt") != mine:
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        holder, self._holder = self._holder, None
        if holder is not None and holder.poll() is None:
            holder.send_signal(signal.SIGTERM)
            try:
                holder.wait(5)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
        for device, image in list(self._images.items()):
            if self._backing_file(device) == str(image):
                subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
            image.unlink(missing_ok=True)
        self._images.clear()
        self.devices.clear()

    # ----- disks --------------------------------------------------------------------------

    def add_disk(self, lun: int, size_mb: int = 64, *, link: str | None = "scsi1") -> str:
        """An empty disk; `link` is "scsi1" (Azure agent), "by-lun" (azure-vm-utils) or None."""
        image = self.workdir / f"lun{lun}.img"
        with image.open("wb") as handle:
            handle.truncate(size_mb * 1024 * 1024)
        result = subprocess.run(["losetup", "-f", "--show", "-P", str(image)], capture_output=True, text=True)
        if result.returncode != 0:
            image.unlink(missing_ok=True)
            raise LabUnavailable(f"losetup cannot attach a loop device: {result.stderr.strip()}")
        device = result.stdout.strip()
        self._images[device] = image
        self.devices[lun] = device
        name = Path(device).name
        if link == "scsi1":
            self.run(f"ln -s ../../../{name} /dev/disk/azure/scsi1/lun{lun}", check=True)
        elif link == "by-lun":
            self.run(f"ln -s ../../../../{name} /dev/disk/azure/data/by-lun/{lun}", check=True)
        return device

    def hide_tool(self, name: str) -> None:
        """Make `name` absent inside the namespace (a non-executable file bound over each copy),
        so a script's `command -v name` takes its other branch."""
        empty = self.workdir / "not-installed"
        empty.write_text("", encoding="utf-8")
        empty.chmod(0o644)
        seen: set[str] = set()
        for folder in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            path = Path(folder) / name
            if path.exists() and os.path.realpath(path) not in seen:
                seen.add(os.path.realpath(path))
                self.run(f"mount --bind {empty} {os.path.realpath(path)}", check=True)

    def _backing_file(self, device: str) -> str | None:
        try:
            return Path(f"/sys/block/{Path(device).name}/loop/backing_file").read_text().strip()
        except OSError:
            return None

    # ----- commands -----------------------------------------------------------------------

    def run(self, command: str, *, input: str | None = None, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`sh -c command` inside the namespace (stdin from `input`, else /dev/null)."""
        if self._holder is None:
            raise RuntimeError("the lab is not started")
        argv = ["nsenter", "-t", str(self._holder.pid), "-m", "--", "sh", "-c", command]
        result = subprocess.run(
            argv, input=input if input is not None else "", capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{command!r} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def sshd_wrapper(self) -> str:
        """A program that runs sshd inside the namespace (for ThrowawaySshd), so SSH sessions see
        the lab's links, fstab and mounts."""
        if self._holder is None:
            raise RuntimeError("the lab is not started")
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        wrapper = self.workdir / "sshd-in-lab"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter -t {self._holder.pid} -m -- {sshd} "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
        return str(wrapper)


@pytest.fixture(name="guest_lab")
def guest_lab_fixture(tmp_path: Path) -> Iterator[GuestLab]:
    """A started lab (skipped, with the reason, where this machine cannot run one)."""
    lab = GuestLab(tmp_path / "lab")
    try:
        lab.start()
    except LabUnavailable as exc:
        pytest.skip(f"guest lab unavailable: {exc}")
    try:
        yield lab
    finally:
        lab.stop()
