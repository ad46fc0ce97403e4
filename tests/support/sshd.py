"""A throwaway OpenSSH server for tests and benchmarks: the real `sshd`, on a loopback port, with
its own host key and one authorized key, all in a temporary folder.

    server = ThrowawaySshd(workdir)
    await server.start()            # or SshdUnavailable with the reason (no sshd, not root ...)
    server.port, server.client_key  # connect as server.user with that key
    await server.restart(new_host_key=True)   # same port, different host key
    await server.stop()

sshd is strict about its environment: it is started with `-D -e -f <config>`, with StrictModes
off, UsePAM off, root login by key only, and a PidFile in the folder. Sessions get HOME set to
a folder of their own with a minimal .bashrc, so the account's start-up files do not run.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
from pathlib import Path

import asyncssh

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


class SshdUnavailable(Exception):
    """Why a real sshd cannot be run here (one line, for a skip reason)."""


def find_sshd() -> str | None:
    for path in SSHD_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("sshd")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so that a killed test run
    leaves no sshd listening behind (Linux only; elsewhere a no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _write_private_key(key: asyncssh.SSHKey, path: Path, passphrase: str | None = None) -> None:
    key.write_private_key(str(path), passphrase=passphrase)
    os.chmod(path, 0o600)
    key.write_public_key(str(path) + ".pub")


class ThrowawaySshd:
    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.user = getpass.getuser()
        self.client_key_path = self.workdir / "client_ed25519"
        self.host_key_path = self.workdir / "host_ed25519"
        self.authorized_keys = self.workdir / "authorized_keys"
        self._process: asyncio.subprocess.Process | None = None
        self._sshd = find_sshd()
        self.extra_config: list[str] = []

    @property
    def client_key(self) -> str:
        return str(self.client_key_path)

    def host_public_key(self) -> asyncssh.SSHKey:
        return asyncssh.read_public_key(str(self.host_key_path) + ".pub")

    def _prepare(self, new_host_key: bool) -> Path:
        if self._sshd is None:
            raise SshdUnavailable("sshd not installed (apt-get install openssh-server)")
        if os.geteuid() != 0:
            raise SshdUnavailable("sshd needs root to switch to the logged-in user here")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if new_host_key or not self.host_key_path.exists():
            self.host_key_path.unlink(missing_ok=True)
            _write_private_key(asyncssh.generate_private_key("ssh-ed25519"), self.host_key_path)
        if not self.client_key_path.exists():
            _write_private_key(asyncssh.generate_private_key("ssh-ed25519"), self.client_key_path)
            self.authorized_keys.write_text(
                (self.workdir / "client_ed25519.pub").read_text(encoding="utf-8"), encoding="utf-8"
            )
        # Sessions get their own HOME, so the account's shell start-up files (which may run
        # slow or locking commands, e.g. `pyenv rehash`) are neither run nor disturbed.
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        (home / ".bashrc").write_text('PS1="\\u@\\h:\\w# "\n', encoding="utf-8")
        (home / ".profile").write_text(". ~/.bashrc\n", encoding="utf-8")
        # Privilege separation directory (Debian's sshd refuses to start without it).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.workdir / "sshd_config"
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PrintMotd no",
            "PrintLastLog no",
            "LogLevel ERROR",
            "MaxStartups 50",
            f"SetEnv HOME={home}",
            *self.extra_config,
        ]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return config

    async def start(self, new_host_key: bool = False, ready_within: float = 10.0) -> None:
        config = await asyncio.to_thread(self._prepare, new_host_key)
        assert self._sshd is not None
        # sshd's log goes to a file, not a pipe: session processes inherit the descriptor and
        # would keep a pipe open after the listener exits.
        log = self.workdir / "sshd.log"
        with log.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                self._sshd, "-D", "-e", "-f", str(config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log_file,
                preexec_fn=_die_with_parent,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ready_within
        while loop.time() < deadline:
            if self._process.returncode is not None:
                lines = log.read_text(errors="replace").strip().splitlines()
                raise SshdUnavailable(f"sshd exited: {lines[-1] if lines else self._process.returncode}")
            try:
                _r, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        await self.stop()
        raise SshdUnavailable(f"sshd did not listen on {self.host}:{self.port} within {ready_within:g} s")

    async def stop(self) -> None:
        """Stop the listener. Sessions already open live on, as with a real sshd restart."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def restart(self, new_host_key: bool = False) -> None:
        await self.stop()
        await self.start(new_host_key=new_host_key)
