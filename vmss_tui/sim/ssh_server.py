"""SSH servers on the simulated NAT frontends.

Every running instance with a NAT mapping to backend port 22 on a public frontend gets an
asyncssh server on that frontend's address and port (127.X.Y.Z:port). A session is a real
shell (bash, else sh) in a pseudo-terminal whose prompt and $HOSTNAME are the instance's
computer name; the machine's own hostname is left alone. Each instance has its own host key,
replaced on reimage or OS upgrade. A listener closes (and drops its sessions) while the
instance is not running.

Who may log in: the shell runs as the user running the simulator, and loopback addresses are
reachable by every local user, so only public-key authentication is offered, for the scale
set's admin user, with the keys that user could already log in with: a demo key pair the
simulator makes (its private half readable only by this user, removed on stop), the unrestricted
entries of ~/.ssh/authorized_keys, ~/.ssh/*.pub, and the keys of the ssh-agent at SSH_AUTH_SOCK.
No password is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import stat
import struct
import tempfile
import termios
from pathlib import Path
from typing import Any

import asyncssh

from .state import Instance, LoadBalancer, World

log = logging.getLogger(__name__)

SSH_BACKEND_PORT = 22
DEFAULT_MAX_SERVERS = 300  # a 1,000-instance benchmark fleet need not hold 1,000 sockets open
DEMO_KEY_NAME = "id_ed25519"
AGENT_TIMEOUT = 2.0  # seconds to wait for an ssh-agent that does not answer


def ssh_targets(world: World) -> list[dict[str, Any]]:
    """Every (instance, public frontend ip:port) that NATs to backend port 22."""
    targets: list[dict[str, Any]] = []
    for ss in world.scale_sets.values():
        lb = ss.load_balancer
        if lb is None:
            continue
        addresses = _frontend_addresses(world, lb)
        for inst in ss.sorted_instances():
            for pool in lb.spec.nat_pools:
                port = inst.pool_ports.get((lb.name.lower(), pool.name.lower()))
                host = addresses.get(pool.frontend.lower())
                if port is not None and host and pool.backend_port == SSH_BACKEND_PORT:
                    targets.append(_target(inst, host, port, f"{pool.name}.{inst.instance_id}"))
            for rule in lb.spec.nat_rules_v2:
                port = inst.rule_ports.get((lb.name.lower(), rule.name.lower()))
                host = addresses.get(rule.frontend.lower())
                if port is not None and host and rule.backend_port == SSH_BACKEND_PORT:
                    targets.append(_target(inst, host, port, rule.name))
    return targets


def _frontend_addresses(world: World, lb: LoadBalancer) -> dict[str, str]:
    """Frontend name (lowered) -> allocated public address."""
    result = {}
    for fe in lb.spec.frontends:
        if not fe.public_ip:
            continue
        pip = world.public_ips.get(
            world.resource_id(lb.resource_group, "Microsoft.Network", "publicIPAddresses", fe.public_ip).lower())
        if pip is not None and pip.address:
            result[fe.name.lower()] = pip.address
    return result


def _target(inst: Instance, host: str, port: int, rule: str) -> dict[str, Any]:
    return {
        "resource_group": inst.scale_set.resource_group,
        "scale_set": inst.scale_set.name,
        "instance_id": inst.instance_id,
        "computer_name": inst.computer_name,
        "user": inst.scale_set.spec.admin_user,
        "host": host,
        "port": port,
        "rule": rule,
        "instance": inst,
    }


def _write_demo_client_key() -> tuple[str, Path, bytes]:
    """A fresh ed25519 key pair in a new private directory (0700; the private key 0600).
    Returns (directory, private key path, public key blob). Blocking: run it in a thread."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="vmss-tui simulator demo key")
    directory = tempfile.mkdtemp(prefix="vmss-tui-sim-key-")  # created 0700
    path = Path(directory) / DEMO_KEY_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.export_private_key("openssh"))
        path.with_suffix(".pub").write_bytes(key.export_public_key("openssh"))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory, path, key.public_data


def _home_or_none() -> Path | None:
    try:
        return Path.home()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry: only the demo key and the agent
        return None


def _safe_to_trust(path: Path) -> bool:
    """As sshd's StrictModes: owned by this user (or root) and writable by no one else; else
    another local user could have put a key there."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid in (os.getuid(), 0) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def user_public_keys(home: Path) -> set[bytes]:
    """Public key blobs from `home`/.ssh/authorized_keys (entries without options only: a key
    restricted there, by from= or command= ..., gets no unrestricted shell here) and from
    `home`/.ssh/*.pub. Files another user could write to are skipped. Blocking: use a thread."""
    ssh_dir = home / ".ssh"
    if not (_safe_to_trust(home) and _safe_to_trust(ssh_dir)):
        return set()
    keys: set[bytes] = set()
    try:
        files = [ssh_dir / "authorized_keys", *sorted(ssh_dir.glob("*.pub"))]
    except OSError:
        return keys
    for path in files:
        if not path.is_file():
            continue
        if not _safe_to_trust(path):
            log.warning("ssh: ignoring %s: another user can write to it", path)
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:  # a line with options in front is not a bare public key: not imported
                keys.add(asyncssh.import_public_key(line).public_data)
            except (asyncssh.KeyImportError, ValueError):
                continue
    return keys


async def agent_public_keys() -> set[bytes]:
    """Public key blobs of the keys the ssh-agent at SSH_AUTH_SOCK holds (none without one)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return set()
    try:
        async with asyncio.timeout(AGENT_TIMEOUT):
            async with asyncssh.connect_agent() as agent:
                return {pair.public_data for pair in await agent.get_keys()}
    except (OSError, TimeoutError, asyncssh.Error, ValueError) as exc:
        log.info("ssh: cannot list the keys of the ssh-agent: %s", exc)
        return set()


class _Listener:
    def __init__(self, acceptor: asyncssh.SSHAcceptor, inst: Instance, generation: int) -> None:
        self.acceptor = acceptor
        self.instance = inst
        self.generation = generation
        self.connections: set[asyncssh.SSHServerConnection] = set()


class SshFleet:
    """Keeps one SSH server per running instance's SSH NAT mapping."""

    def __init__(self, world: World, max_servers: int = DEFAULT_MAX_SERVERS, *, user_home: Path | None = None,
                 use_agent: bool = True) -> None:
        self.world = world
        self.max_servers = max_servers
        self.user_home = user_home  # whose ~/.ssh keys may log in; None: the home of the user running this
        self.use_agent = use_agent
        self.client_key_path: Path | None = None  # the demo private key, once started
        self.authorized_keys: frozenset[bytes] = frozenset()  # public key blobs that may log in
        self._key_dir: str | None = None
        self._listeners: dict[tuple[str, int], _Listener] = {}
        self._host_keys: dict[str, tuple[int, asyncssh.SSHKey]] = {}
        self._failed: set[tuple[str, int, str]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._home_root = tempfile.mkdtemp(prefix="vmss-tui-sim-")
        self._sessions: set[ShellSession] = set()
        self._warned_cap = False

    async def start(self) -> None:
        try:
            self._key_dir, self.client_key_path, demo_key = await asyncio.to_thread(_write_demo_client_key)
            home = self.user_home if self.user_home is not None else _home_or_none()
            own_keys = await asyncio.to_thread(user_public_keys, home) if home is not None else set()
            agent_keys = await agent_public_keys() if self.use_agent else set()
            self.authorized_keys = frozenset({demo_key, *own_keys, *agent_keys})
            log.info("ssh: %d public keys may log in (demo key %s, %d from %s/.ssh, %d from the agent)",
                     len(self.authorized_keys), self.client_key_path, len(own_keys), home, len(agent_keys))
            await self.reconcile()
        except BaseException:
            await self.stop()  # no listener, private key or home directory left behind
            raise
        self._task = asyncio.create_task(self._run(), name="vmss-sim-ssh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for key in list(self._listeners):
            await self._close(key)
        for session in list(self._sessions):
            session.terminate()
        shutil.rmtree(self._home_root, ignore_errors=True)
        if self._key_dir is not None:
            shutil.rmtree(self._key_dir, ignore_errors=True)
            self._key_dir = None

    def may_log_in(self, inst: Instance, username: str, key: asyncssh.SSHKey) -> bool:
        return username == inst.scale_set.spec.admin_user and key.public_data in self.authorized_keys

    def request_reconcile(self) -> None:
        self._wake.set()

    def listening_addresses(self) -> set[tuple[str, int]]:
        return set(self._listeners)

    def host_key(self, inst: Instance) -> asyncssh.SSHKey:
        key_id = inst.id.lower()
        current = self._host_keys.get(key_id)
        if current is None or current[0] != inst.host_key_generation:
            current = (inst.host_key_generation, asyncssh.generate_private_key("ssh-ed25519"))
            self._host_keys[key_id] = current
        return current[1]

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("ssh reconcile failed")

    async def reconcile(self) -> None:
        desired: dict[tuple[str, int], Instance] = {}
        for target in ssh_targets(self.world):
            inst: Instance = target["instance"]
            if inst.power == "running" and not inst.deleted:
                desired[(target["host"], target["port"])] = inst
        for key, listener in list(self._listeners.items()):
            inst = desired.get(key)
            if inst is not listener.instance or inst.host_key_generation != listener.generation:
                await self._close(key)
        for key, inst in desired.items():
            if key in self._listeners:
                continue
            if len(self._listeners) >= self.max_servers:
                if not self._warned_cap:
                    log.warning("ssh: not starting more than %d servers", self.max_servers)
                    self._warned_cap = True
                break
            marker = (key[0], key[1], f"{inst.id}:{inst.host_key_generation}")
            if marker in self._failed:
                continue
            try:
                await self._open(key, inst)
            except OSError as exc:
                self._failed.add(marker)
                log.warning("ssh: cannot listen on %s:%d for %s: %s", key[0], key[1], inst.name, exc)

    async def _open(self, key: tuple[str, int], inst: Instance) -> None:
        holder: dict[str, _Listener] = {}
        fleet = self

        def make_server() -> asyncssh.SSHServer:
            return _InstanceServer(fleet, inst, holder)

        acceptor = await asyncssh.listen(
            key[0], key[1],
            server_host_keys=[self.host_key(inst)],
            server_factory=make_server,
            encoding=None,
            line_editor=False,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=30,
            reuse_address=True,
        )
        listener = _Listener(acceptor, inst, inst.host_key_generation)
        holder["listener"] = listener
        self._listeners[key] = listener

    async def _close(self, key: tuple[str, int]) -> None:
        listener = self._listeners.pop(key, None)
        if listener is None:
            return
        listener.acceptor.close()
        for conn in list(listener.connections):
            conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listener.acceptor.wait_closed(), 2)

    def home_for(self, inst: Instance) -> str:
        home = os.path.join(self._home_root, inst.computer_name)
        os.makedirs(home, exist_ok=True)
        return home


class _InstanceServer(asyncssh.SSHServer):
    def __init__(self, fleet: SshFleet, inst: Instance, holder: dict[str, _Listener]) -> None:
        self.fleet = fleet
        self.instance = inst
        self.holder = holder
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        listener = self.holder.get("listener")
        if listener is not None:
            listener.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        listener = self.holder.get("listener")
        if listener is not None and self.conn is not None:
            listener.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False  # any local user could try passwords on loopback: keys only

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self.fleet.may_log_in(self.instance, username, key)

    def session_requested(self) -> asyncssh.SSHServerSession:
        return ShellSession(self.fleet, self.instance)


class ShellSession(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """One SSH channel: a shell or a command, in a PTY when the client asked for one."""

    def __init__(self, fleet: SshFleet, inst: Instance) -> None:
        self.fleet = fleet
        self.instance = inst
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.command: str | None = None
        self.term_type = "xterm-256color"
        self.term_size: tuple[int, int] = (80, 24)
        self.use_pty = False
        self.master_fd: int | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._pending_input = bytearray()
        self._reading = False
        self._loop = asyncio.get_event_loop()
        self._done = False

    # ---- channel callbacks

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any) -> bool:
        self.use_pty = True
        self.term_type = term_type or self.term_type
        width, height = term_size[0], term_size[1]
        if width and height:
            self.term_size = (width, height)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        self.fleet._sessions.add(self)
        asyncio.ensure_future(self._start())

    def data_received(self, data: bytes, datatype: Any) -> None:  # type: ignore[override]
        if self.master_fd is not None:
            self._pending_input += data
            self._flush_input()
        elif self.process is not None and self.process.stdin is not None:
            self.process.stdin.write(data)

    def eof_received(self) -> bool:
        if self.master_fd is not None:
            self._pending_input += b"\x04"  # Ctrl-D: end of input for the shell on the terminal
            self._flush_input()
        elif self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.term_size = (width, height)
        if self.master_fd is not None:
            _set_winsize(self.master_fd, width, height)

    def signal_received(self, signal_name: str) -> None:
        signum = getattr(signal, f"SIG{signal_name.upper()}", None)
        if signum is not None:
            self._signal_group(signum)

    def break_received(self, msec: int) -> bool:
        self._signal_group(signal.SIGINT)
        return True

    def pause_writing(self) -> None:
        if self.master_fd is not None and self._reading:
            self._loop.remove_reader(self.master_fd)
            self._reading = False

    def resume_writing(self) -> None:
        if self.master_fd is not None and not self._reading and not self._done:
            self._loop.add_reader(self.master_fd, self._on_pty_readable)
            self._reading = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.terminate()

    # ---- the process

    def _environment(self) -> dict[str, str]:
        inst = self.instance
        user = inst.scale_set.spec.admin_user
        home = self.fleet.home_for(inst)
        rcfile = os.path.join(home, ".simrc")
        name = inst.computer_name
        with open(rcfile, "w", encoding="utf-8") as handle:
            # The machine's hostname stays as it is; inside the session the instance's name shows.
            handle.write(f"hostname() {{ echo {name}; }}\nexport PS1='{user}@{name}:\\w$ '\n")
        env = {
            "HOME": home,
            "USER": user,
            "LOGNAME": user,
            "HOSTNAME": name,
            "PS1": f"{user}@{name}:\\w$ ",
            "TERM": self.term_type,
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "SHELL": "/bin/bash" if shutil.which("bash") else "/bin/sh",
            "BASH_ENV": rcfile,
            "VMSS_SIM_INSTANCE": f"{inst.scale_set.name}/{inst.instance_id}",
        }
        return env

    def _argv(self, env: dict[str, str]) -> list[str]:
        bash = shutil.which("bash")
        if self.command is not None:
            return [bash, "-c", self.command] if bash else ["/bin/sh", "-c", self.command]
        if bash:
            return [bash, "--noprofile", "--rcfile", env["BASH_ENV"], "-i"]
        return ["/bin/sh", "-i"]

    async def _start(self) -> None:
        assert self.chan is not None
        try:
            env = self._environment()
            argv = self._argv(env)
            if self.use_pty:
                await self._start_pty(argv, env)
            else:
                await self._start_pipes(argv, env)
        except Exception as exc:
            log.warning("ssh: cannot start a shell for %s: %s", self.instance.name, exc)
            with contextlib.suppress(Exception):
                self.chan.write_stderr(f"cannot start a shell: {exc}\r\n".encode())
                self.chan.exit(127)

    async def _start_pty(self, argv: list[str], env: dict[str, str]) -> None:
        assert self.chan is not None
        master, slave = os.openpty()
        _set_winsize(master, *self.term_size)
        os.set_blocking(master, False)
        self.master_fd = master
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=env["HOME"],
                start_new_session=True, preexec_fn=_take_controlling_terminal)
        finally:
            os.close(slave)
        if self.command is None:
            name = self.instance.computer_name
            self.chan.write(f"Welcome to {name} ({self.instance.scale_set.name} instance {self.instance.instance_id}), "
                            f"a vmss-tui simulated instance.\r\n".encode())
        self._loop.add_reader(master, self._on_pty_readable)
        self._reading = True
        self._flush_input()

    async def _start_pipes(self, argv: list[str], env: dict[str, str]) -> None:
        assert self.chan is not None
        self.process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=env["HOME"], start_new_session=True)
        chan = self.chan

        async def pump(stream: asyncio.StreamReader | None, stderr: bool) -> None:
            if stream is None:
                return
            while chunk := await stream.read(65536):
                if stderr:
                    chan.write_stderr(chunk)
                else:
                    chan.write(chunk)

        await asyncio.gather(pump(self.process.stdout, False), pump(self.process.stderr, True))
        code = await self.process.wait()
        self._finish(code)

    def _on_pty_readable(self) -> None:
        assert self.master_fd is not None and self.chan is not None
        # A PTY hands out ~4 KB per read; drain what is there (up to 256 KB) into one channel write.
        batch = bytearray()
        ended = False
        while len(batch) < 262144:
            try:
                data = os.read(self.master_fd, 65536)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.EIO:
                    log.debug("pty read failed: %s", exc)
                ended = True
                break
            if not data:
                ended = True
                break
            batch += data
        if batch:
            self.chan.write(bytes(batch))
        if not ended:
            return
        # EOF / EIO: the shell and everything on the terminal has gone.
        self._loop.remove_reader(self.master_fd)
        self._reading = False
        asyncio.ensure_future(self._reap())

    async def _reap(self) -> None:
        code = 0
        if self.process is not None:
            try:
                code = await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
                code = await self.process.wait()
        self._finish(code)

    def _flush_input(self) -> None:
        if self.master_fd is None or not self._pending_input:
            return
        try:
            written = os.write(self.master_fd, bytes(self._pending_input))
        except BlockingIOError:
            written = 0
        except OSError:
            self._pending_input.clear()
            return
        del self._pending_input[:written]
        if self._pending_input:
            self._loop.call_later(0.01, self._flush_input)

    def _finish(self, code: int) -> None:
        if self._done:
            return
        self._done = True
        self._close_pty()
        self.fleet._sessions.discard(self)
        if self.chan is not None:
            with contextlib.suppress(Exception):
                self.chan.exit(code if code >= 0 else 128 - code)

    def _close_pty(self) -> None:
        if self.master_fd is not None:
            if self._reading:
                self._loop.remove_reader(self.master_fd)
                self._reading = False
            with contextlib.suppress(OSError):
                os.close(self.master_fd)
            self.master_fd = None

    def _signal_group(self, signum: int) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def terminate(self) -> None:
        """The connection went away (or the instance stopped): hang up on the shell."""
        if self._done:
            return
        self._done = True
        self._signal_group(signal.SIGHUP)
        self._close_pty()
        self.fleet._sessions.discard(self)
        process = self.process
        if process is not None and process.returncode is None:
            self._loop.call_later(2.0, lambda: self._kill_if_alive(process))

    def _kill_if_alive(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def _set_winsize(fd: int, width: int, height: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _take_controlling_terminal() -> None:
    # Runs in the child after setsid(): make the PTY (our stdin) its controlling terminal, so
    # job control, Ctrl-C and SIGWINCH reach the shell's foreground job.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
