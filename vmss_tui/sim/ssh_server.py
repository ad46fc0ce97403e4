"""SSH servers on the simulated NAT frontends.

Every running instance with a NAT mapping to backend port 22 on a public frontend gets an
asyncssh server on that frontend's address and port (127.X.Y.Z:port). What a session talks to
is the instance's simulated guest OS (`guest.py`, through the shell of `shell.py`): its
hostname, its admin user with passwordless sudo, its disks, mounts and files. Nothing a session
runs reads or changes anything on the machine the simulator runs on: no process is started,
no file or device of the host is opened.

An interactive session (a PTY) gets a login shell with a bash-like line editor (printable
characters, backspace, Ctrl-C, Ctrl-D, Ctrl-U, Ctrl-W, Ctrl-K, Ctrl-A/E, Ctrl-L, left/right,
Home/End, Delete, up/down history) and the prompt `user@computername:~$ `; while a command runs,
what is typed goes through a terminal line discipline (echo, erase, Enter) to the command that
reads it. An exec request runs one command line, with or without a PTY, and returns its exit
status. Each instance has its own host key, replaced on reimage or OS upgrade. A listener
closes (and drops its sessions) while the instance is not running, or when its guest did not
boot (an fstab entry without nofail whose disk is gone: emergency mode, no sshd).

Who may log in: loopback addresses are reachable by every local user, so only public-key
authentication is offered, for the instance's admin user, with the keys the user running the
simulator could already log in with: a demo key pair the simulator makes (its private half
readable only by this user, removed on stop), the unrestricted entries of
~/.ssh/authorized_keys, ~/.ssh/*.pub, and the keys of the ssh-agent at SSH_AUTH_SOCK. No
password is accepted.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from .shell import (
    CallbackOutput,
    Input,
    Io,
    Shell,
    StreamInput,
    Terminal,
)

log = logging.getLogger(__name__)

SSH_BACKEND_PORT = 22
DEFAULT_MAX_SERVERS = 300  # a 1,000-instance benchmark fleet need not hold 1,000 sockets open
DEMO_KEY_NAME = "id_ed25519"
AGENT_TIMEOUT = 2.0  # seconds to wait for an ssh-agent that does not answer
LONGEST_SLEEP = 0.5  # real seconds a guest `sleep` takes at most: the guest's time is simulated
HISTORY_SIZE = 1000


def ssh_targets(world: Any) -> list[dict[str, Any]]:
    """Every (instance, public frontend ip:port) that NATs to backend port 22."""
    return list(world.ssh_endpoints(SSH_BACKEND_PORT))


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
    def __init__(self, acceptor: asyncssh.SSHAcceptor, inst: Any, generation: int) -> None:
        self.acceptor = acceptor
        self.instance = inst
        self.generation = generation
        self.connections: set[asyncssh.SSHServerConnection] = set()


class SshFleet:
    """Keeps one SSH server per running instance's SSH NAT mapping."""

    def __init__(self, world: Any, max_servers: int = DEFAULT_MAX_SERVERS, *, user_home: Path | None = None,
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
        self._sessions: set[GuestSession] = set()
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
            await self.stop()  # no listener or private key left behind
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
        if self._key_dir is not None:
            shutil.rmtree(self._key_dir, ignore_errors=True)
            self._key_dir = None

    def may_log_in(self, inst: Any, username: str, key: asyncssh.SSHKey) -> bool:
        return username == inst.admin_user and key.public_data in self.authorized_keys

    def request_reconcile(self) -> None:
        self._wake.set()

    def listening_addresses(self) -> set[tuple[str, int]]:
        return set(self._listeners)

    def host_key(self, inst: Any) -> asyncssh.SSHKey:
        key_id = inst.id.lower()
        current = self._host_keys.get(key_id)
        if current is None or current[0] != inst.host_key_generation:
            current = (inst.host_key_generation, asyncssh.generate_private_key("ssh-ed25519"))
            self._host_keys[key_id] = current
        return current[1]

    def guest_for(self, inst: Any) -> Any:
        """The instance's simulated guest OS (the world makes it and keeps its disks in step)."""
        return self.world.guest_for(inst)

    def _guest_is_up(self, inst: Any) -> bool:
        guest = inst.guest  # a guest not made yet boots fresh when first used
        return guest is None or getattr(guest, "boot_error", None) is None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("ssh reconcile failed")

    async def reconcile(self) -> None:
        desired: dict[tuple[str, int], Any] = {}
        for target in ssh_targets(self.world):
            inst = target["instance"]
            if inst.power == "running" and not inst.deleted and self._guest_is_up(inst):
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

    async def _open(self, key: tuple[str, int], inst: Any) -> None:
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


class _InstanceServer(asyncssh.SSHServer):
    def __init__(self, fleet: SshFleet, inst: Any, holder: dict[str, _Listener]) -> None:
        self.fleet = fleet
        self.instance = inst
        self.holder = holder
        self.conn: asyncssh.SSHServerConnection | None = None
        self.username = ""

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
        self.username = username
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False  # any local user could try passwords on loopback: keys only

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self.fleet.may_log_in(self.instance, username, key)

    def session_requested(self) -> asyncssh.SSHServerSession:
        peer = self.conn.get_extra_info("peername") if self.conn is not None else None
        return GuestSession(self.fleet, self.instance, self.instance.admin_user, peer)


class TerminalInput(Input):
    """What a command reads from the terminal: lines typed, echoed and edited by the line
    discipline (ICANON, ECHO) as the keys arrive; Ctrl-D on an empty line is end of input."""

    is_terminal = True

    def __init__(self, keys: asyncio.Queue[str], write: Callable[[str], None]) -> None:
        self.keys = keys
        self.write = write

    async def readline(self) -> str:
        line: list[str] = []
        while True:
            key = await self.keys.get()
            if key in ("\r", "\n"):
                if key == "\r" and not self.keys.empty() and _peek(self.keys) == "\n":
                    self.keys.get_nowait()
                self.write("\r\n")
                return "".join(line) + "\n"
            if key == "\x04":
                if not line:
                    return ""
                return "".join(line)
            if key in ("\x7f", "\x08"):
                if line:
                    line.pop()
                    self.write("\b \b")
                continue
            if key == "\x15":
                self.write("\b \b" * len(line))
                line.clear()
                continue
            if key.startswith("\x1b") or (len(key) == 1 and ord(key) < 32 and key != "\t"):
                continue
            line.append(key)
            self.write(key)

    async def read(self) -> str:
        parts = []
        while line := await self.readline():
            parts.append(line)
        return "".join(parts)


def _peek(queue: asyncio.Queue[str]) -> str | None:
    items = getattr(queue, "_queue", None)
    return items[0] if items else None


class GuestSession(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """One SSH channel: a login shell or a command, in a PTY when the client asked for one,
    answered by the instance's guest."""

    def __init__(self, fleet: SshFleet, inst: Any, user: str, peer: Any) -> None:
        self.fleet = fleet
        self.instance = inst
        self.user = user
        self.peer = peer
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.command: str | None = None
        self.terminal: Terminal | None = None
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.stdin: StreamInput | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.shells: list[Shell] = []  # the login shell, then those of sudo -i / su on top
        self.history: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.running: asyncio.Task[int] | None = None  # the command line being run
        self.disconnect_after_command = False  # `reboot` in the guest: sshd goes away
        self._output: list[tuple[bool, list[str]]] = []  # (to stderr, pieces) not written to the channel yet
        self._flush_scheduled = False
        self._writable = asyncio.Event()  # cleared while the channel asks us to stop writing
        self._writable.set()
        self._done = False

    # ---- channel callbacks

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any) -> bool:
        width, height = term_size[0], term_size[1]
        self.terminal = Terminal(columns=width or 80, rows=height or 24, term=term_type or "xterm-256color")
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # no sftp: the guest's files are not served

    def session_started(self) -> None:
        self.fleet._sessions.add(self)
        self.task = asyncio.ensure_future(self._main())

    def data_received(self, data: bytes, datatype: Any) -> None:  # type: ignore[override]
        text = self.decoder.decode(data)
        if self.terminal is None:
            if self.stdin is not None and text:
                self.stdin.feed(text)
            return
        for key in _keys(text):
            if key == "\x03" and self.running is not None and not self.running.done():
                self.write("^C")
                self.running.cancel()
                continue
            self.keys.put_nowait(key)

    def eof_received(self) -> bool:
        if self.terminal is None:
            if self.stdin is not None:
                self.stdin.end()
        else:
            self.keys.put_nowait("\x04")
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.terminal is not None:
            self.terminal.columns = width or self.terminal.columns
            self.terminal.rows = height or self.terminal.rows

    def signal_received(self, signal_name: str) -> None:
        if signal_name.upper() in ("INT", "TERM", "HUP", "KILL") and self.running is not None:
            self.running.cancel()

    def break_received(self, msec: int) -> bool:
        if self.running is not None:
            self.running.cancel()
        return True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.terminate()

    # ---- output

    def write(self, text: str) -> None:
        if self.terminal is not None:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")  # the PTY's ONLCR
        self._queue_output(False, text)

    def write_stderr(self, text: str) -> None:
        if self.terminal is not None:
            self.write(text)  # a terminal has one output
            return
        self._queue_output(True, text)

    def _queue_output(self, stderr: bool, text: str) -> None:
        """Commands write in many small pieces: what one event-loop turn wrote goes out as one
        channel write per stream (in order), not one SSH packet per piece."""
        if self.chan is None or self._done or not text:
            return
        if self._output and self._output[-1][0] == stderr:
            self._output[-1][1].append(text)
        else:
            self._output.append((stderr, [text]))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_output)

    async def _yield_point(self) -> None:
        """A long loop in the guest pauses here: other sessions and the ARM API run, and output
        waits while the client reads slower than the loop writes."""
        await asyncio.sleep(0)
        await self._writable.wait()

    def _flush_output(self) -> None:
        self._flush_scheduled = False
        pending, self._output = self._output, []
        if self.chan is None:
            return
        for stderr, parts in pending:
            data = "".join(parts).encode()
            with contextlib.suppress(Exception):
                if stderr:
                    self.chan.write_stderr(data)
                else:
                    self.chan.write(data)

    # ---- the shell

    def new_shell(self, user: str, *, login: bool) -> Shell:
        guest = self.fleet.guest_for(self.instance)
        host, port = (self.peer[0], self.peer[1]) if isinstance(self.peer, tuple) and len(self.peer) >= 2 \
            else ("127.0.0.1", 0)
        environment = {"SSH_CLIENT": f"{host} {port} 22", "SSH_CONNECTION": f"{host} {port} 10.0.0.4 22"}
        shell = Shell(guest, user=user, login=login, terminal=self.terminal,
                      environment=environment if user == self.user else {})
        shell.sleeper = _short_sleep
        shell.yield_point = self._yield_point
        shell.session = self
        shell.history = self.history
        return shell

    @property
    def interactive(self) -> bool:
        """A login shell in a terminal: sudo -i and su can put a shell of another user on top."""
        return self.terminal is not None and self.command is None

    def drop_connection(self) -> None:
        """The guest went down under the session (`reboot`): the client sees the connection close."""
        if self.chan is not None:
            with contextlib.suppress(Exception):
                self.chan.get_connection().close()

    def push_user(self, user: str, *, login: bool) -> None:
        """sudo -i / sudo -s / su: a shell of `user` on top of this one, until it exits."""
        shell = self.new_shell(user, login=login)
        if not login and self.shells:
            shell.frame.cwd = self.shells[-1].cwd
            shell.frame.variables["PWD"] = shell.cwd
        self.shells.append(shell)

    def io(self, stdin: Input) -> Io:
        return Io(stdin, CallbackOutput(self.write), CallbackOutput(self.write_stderr))

    async def _main(self) -> None:
        status = 0
        try:
            guest = self.fleet.guest_for(self.instance)
            if guest is None:
                self.write_stderr("This instance has no simulated guest operating system.\n")
                status = 1
            elif self.command is not None:
                status = await self._run_command(self.command)
            else:
                status = await self._interactive()
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("ssh session on %s failed", self.instance.name)
            self.write_stderr("the simulated guest failed to run this (see the simulator's log)\n")
            status = 1
        self._finish(status)

    async def _run_command(self, command: str) -> int:
        shell = self.new_shell(self.user, login=False)
        if self.terminal is not None:
            stdin: Input = TerminalInput(self.keys, self.write)
        else:
            self.stdin = StreamInput()
            stdin = self.stdin
        self.running = asyncio.ensure_future(shell.run_text(command, self.io(stdin), source="-c"))
        try:
            status = await self.running
        except asyncio.CancelledError:
            if self._done:
                raise
            return 130
        finally:
            self.running = None
        if self.disconnect_after_command:
            self.drop_connection()
        return status

    async def _interactive(self) -> int:
        self.shells = [self.new_shell(self.user, login=True)]
        self.write(self._motd())
        pending = ""
        while True:
            shell = self.shells[-1]
            line = await self._read_line(shell.prompt() if not pending else (shell.get("PS2") or "> "))
            if line is None:  # Ctrl-D on an empty line
                if pending:
                    self.write(f"{shell.name}: syntax error: unexpected end of file\r\n")
                    pending = ""
                    continue
                self.write("logout\r\n" if shell.login else "exit\r\n")
                if len(self.shells) > 1:
                    self.shells.pop()
                    continue
                return shell.last_status
            if line == "\x03":
                pending = ""
                shell.last_status = 130
                continue
            text = pending + line
            if not Shell.complete(text):
                pending = text + "\n"
                continue
            pending = ""
            if text.strip():
                self.history.append(text)
                del self.history[:-HISTORY_SIZE]
            self.running = asyncio.ensure_future(shell.run_text(text, self.io(TerminalInput(self.keys, self.write)),
                                                                source="interactive"))
            try:
                await self.running
            except asyncio.CancelledError:
                if self._done:
                    raise
                self.write("\r\n")
                shell.last_status = 130
            finally:
                self.running = None
            if self.disconnect_after_command:
                self.drop_connection()
                return 0
            if shell.exited:
                if shell is self.shells[0] or len(self.shells) == 1:
                    self.write("logout\r\n")
                    return shell.last_status
                self.shells.remove(shell)
                self.write("logout\r\n" if shell.login else "exit\r\n")

    async def _read_line(self, prompt: str) -> str | None:
        """bash's readline, enough for typing commands: returns the line, None at Ctrl-D on an
        empty line, or "\x03" after Ctrl-C."""
        self.write(prompt)
        buffer: list[str] = []
        cursor = 0
        position = len(self.history)
        draft = ""

        def redraw() -> None:
            back = len(buffer) - cursor
            self.write("\r" + prompt + "".join(buffer) + "\x1b[K" + (f"\x1b[{back}D" if back else ""))

        while True:
            key = await self.keys.get()
            if key in ("\r", "\n"):
                if key == "\r" and _peek(self.keys) == "\n":
                    self.keys.get_nowait()
                self.write("\r\n")
                return "".join(buffer)
            if key == "\x03":
                self.write("^C\r\n")
                return "\x03"
            if key == "\x04":
                if not buffer:
                    return None
                if cursor < len(buffer):
                    del buffer[cursor]
                    redraw()
                continue
            if key in ("\x7f", "\x08"):
                if cursor:
                    del buffer[cursor - 1]
                    cursor -= 1
                    if cursor == len(buffer):
                        self.write("\b \b")
                    else:
                        redraw()
                continue
            if key in ("\x15",):  # Ctrl-U: kill to the start
                del buffer[:cursor]
                cursor = 0
                redraw()
                continue
            if key == "\x0b":  # Ctrl-K: kill to the end
                del buffer[cursor:]
                redraw()
                continue
            if key == "\x17":  # Ctrl-W: the word before the cursor
                start = cursor
                while start and buffer[start - 1] == " ":
                    start -= 1
                while start and buffer[start - 1] != " ":
                    start -= 1
                del buffer[start:cursor]
                cursor = start
                redraw()
                continue
            if key in ("\x01", "\x1b[H", "\x1bOH", "\x1b[1~", "\x1b[7~"):
                cursor = 0
                redraw()
                continue
            if key in ("\x05", "\x1b[F", "\x1bOF", "\x1b[4~", "\x1b[8~"):
                cursor = len(buffer)
                redraw()
                continue
            if key in ("\x02", "\x1b[D", "\x1bOD"):
                if cursor:
                    cursor -= 1
                    self.write("\b")
                continue
            if key in ("\x06", "\x1b[C", "\x1bOC"):
                if cursor < len(buffer):
                    self.write(buffer[cursor])
                    cursor += 1
                continue
            if key == "\x1b[3~":
                if cursor < len(buffer):
                    del buffer[cursor]
                    redraw()
                continue
            if key in ("\x1b[A", "\x1bOA", "\x10", "\x1b[B", "\x1bOB", "\x0e"):
                up = key in ("\x1b[A", "\x1bOA", "\x10")
                if up and position > 0:
                    if position == len(self.history):
                        draft = "".join(buffer)
                    position -= 1
                elif not up and position < len(self.history):
                    position += 1
                else:
                    self.write("\x07")
                    continue
                shown = draft if position == len(self.history) else self.history[position]
                buffer = list(shown)
                cursor = len(buffer)
                redraw()
                continue
            if key == "\x0c":  # Ctrl-L
                self.write("\x1b[H\x1b[2J")
                redraw()
                continue
            if key == "\t":
                self.write("\x07")
                continue
            if key.startswith("\x1b") or (len(key) == 1 and ord(key) < 32):
                continue
            buffer.insert(cursor, key)
            cursor += 1
            if cursor == len(buffer):
                self.write(key)
            else:
                redraw()

    def _motd(self) -> str:
        from .guest import KERNEL_RELEASE

        guest = self.fleet.guest_for(self.instance)
        now = time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime(guest.clock()))
        inst = self.instance
        where = f"{inst.scale_set.name} instance {inst.instance_id}" if inst.scale_set is not None else inst.name
        return (f"Welcome to Ubuntu 22.04.5 LTS (GNU/Linux {KERNEL_RELEASE} x86_64)\n\n"
                " * Documentation:  https://help.ubuntu.com\n"
                " * Management:     https://landscape.canonical.com\n"
                " * Support:        https://ubuntu.com/pro\n\n"
                f" System information as of {now}\n\n"
                f" This is {guest.hostname} ({where}), a vmss-tui simulated guest: its disks,\n"
                " files and commands are simulated; nothing here touches the machine running it.\n\n")

    # ---- the end

    def _finish(self, code: int) -> None:
        if self._done:
            return
        self._flush_output()  # what the command wrote goes out before its exit status
        self._done = True
        self.fleet._sessions.discard(self)
        if self.chan is not None:
            with contextlib.suppress(Exception):
                self.chan.exit(code)

    def terminate(self) -> None:
        """The connection went away (or the instance stopped): end the session."""
        if self._done:
            return
        self._done = True
        self.fleet._sessions.discard(self)
        if self.stdin is not None:
            self.stdin.end()
        for task in (self.running, self.task):
            if task is not None and not task.done():
                task.cancel()


def _keys(text: str) -> list[str]:
    """Split typed text into keys: characters and escape sequences (ESC [ ... final, ESC O x)."""
    keys = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\x1b" and i + 1 < len(text) and text[i + 1] in "[O":
            j = i + 2
            if text[i + 1] == "[":
                while j < len(text) and not ("@" <= text[j] <= "~"):
                    j += 1
            keys.append(text[i:j + 1])
            i = j + 1
            continue
        keys.append(c)
        i += 1
    return keys


async def _short_sleep(seconds: float) -> None:
    await asyncio.sleep(min(seconds, LONGEST_SLEEP))
