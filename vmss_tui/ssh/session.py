"""An interactive SSH session (PTY + shell) to one target, on asyncssh, for the embedded terminal.

Host keys are checked against the app's own known_hosts (never ~/.ssh/known_hosts): a trusted key
connects; an unknown key asks `prompts.confirm_host_key` and is saved when confirmed; a changed or
revoked key is refused (`SshFailure` with kind HOST_KEY_CHANGED) until `replace_host_key()` is
called by an explicit user action. The same rules apply to the jump host.

Authentication: ssh-agent keys, then key files (settings/flag, ~/.ssh/config IdentityFile,
~/.ssh/id_*), read only when reached; an encrypted key asks `prompts.ask_passphrase`; then
password and keyboard-interactive ask `prompts.ask_password`. Secrets are passed straight to
asyncssh and never logged, stored or put in an error message.

`run()` uses the same connection, host-key and authentication code for one command without a
PTY (the guest inspection, health checks). Non-interactive prompts (`non_interactive_prompts`)
refuse a host key never seen (`HOST_KEY_UNKNOWN`) unless they accept new keys, as OpenSSH's
`StrictHostKeyChecking=accept-new` does; a changed key is refused either way.

Every failure is an `SshFailure` whose str() is one line for people.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from vmss_tui.domain.ssh_target import JumpHost, SshTarget
from vmss_tui.ssh.keys import KeyNeedsPassphrase, KeySources, discover_key_sources, read_key
from vmss_tui.ssh.known_hosts import HostKeyCheck, HostKeyStatus, KnownHosts, host_pattern
from vmss_tui.ssh.settings import SshSettings

log = logging.getLogger(__name__)

# asyncssh logs at INFO, including user names and key fingerprints: keep it quiet unless asked.
logging.getLogger("asyncssh").setLevel(logging.WARNING)

TERM_TYPE = "xterm-256color"
MAX_SECRET_ATTEMPTS = 3
MAX_COMMAND_OUTPUT = 8 * 1024 * 1024  # bytes kept per stream of `run()`; the rest is dropped
AUTH_HINT = "give the right key with -i PATH or [ssh] identity_file in the config"

T = TypeVar("T")


class FailureKind(enum.StrEnum):
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    AUTH = "auth"
    HOST_KEY_CHANGED = "host-key-changed"
    HOST_KEY_REJECTED = "host-key-rejected"
    HOST_KEY_UNKNOWN = "host-key-unknown"  # never seen, and the prompts are not interactive
    DISCONNECTED = "disconnected"
    PROTOCOL = "protocol"
    CONFIG = "config"


class SshFailure(Exception):
    """A failed connect; str() is one line for people."""

    def __init__(self, kind: FailureKind, message: str, host_key: HostKeyCheck | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.host_key = host_key


@dataclass
class SshPrompts:
    """What the session asks the person at the keyboard. Each returns None when cancelled."""

    confirm_host_key: Callable[[HostKeyCheck], Awaitable[bool]]
    ask_passphrase: Callable[[str, int], Awaitable[str | None]]  # (key file label, attempt 1..)
    ask_password: Callable[[str, int], Awaitable[str | None]]  # (prompt, attempt 1..)
    interactive: bool = True  # False: nobody is asked; an unknown host key is HOST_KEY_UNKNOWN


async def _no_secret(_label: str, _attempt: int) -> str | None:
    return None


def refuse_all_prompts() -> SshPrompts:
    """Prompts that answer no: for non-interactive use (tests, benchmarks, probes)."""

    async def no_key(_check: HostKeyCheck) -> bool:
        return False

    return SshPrompts(no_key, _no_secret, _no_secret)


def non_interactive_prompts(accept_new: bool = False) -> SshPrompts:
    """For commands nobody watches (`vmss-tui get`, surveys, health checks): no secret is asked;
    a host key never seen is trusted and saved only with `accept_new` (trust on first use);
    a changed key is refused whatever this says."""

    async def new_key(_check: HostKeyCheck) -> bool:
        return accept_new

    return SshPrompts(new_key, _no_secret, _no_secret, interactive=False)


class SessionState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The end of one command run without a PTY."""

    exit_status: int | None  # None when the command was killed by a signal or the channel closed
    stdout: str
    stderr: str
    exit_signal: str | None = None
    truncated: bool = False  # more than MAX_COMMAND_OUTPUT bytes on a stream


@dataclass
class _AuthState:
    """Per connection attempt: which keys and prompts were used."""

    sources: KeySources
    pending_files: list[Path]
    destination: str = ""  # whose password is asked: user@host:port, or "jump host user@host"
    agent_keys_done: bool = False
    password_attempts: int = 0
    password_cancelled: bool = False
    tried: list[str] = field(default_factory=list)
    key_errors: list[str] = field(default_factory=list)


class _Client(asyncssh.SSHClient):
    def __init__(self, session: SshSession, auth: _AuthState) -> None:
        self._session = session
        self._auth = auth
        self.presented_key: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        # Reached only when the key is not among the trusted ones passed in: remember it, refuse,
        # and let the session decide (ask, or refuse a changed key) outside the handshake.
        self.presented_key = key
        return False

    async def public_key_auth_requested(self) -> asyncssh.SSHKeyPair | None:
        return await self._session._next_key(self._auth)

    async def password_auth_requested(self) -> str | None:
        return await self._session._ask_password(self._auth, "Password")

    def kbdint_auth_requested(self) -> str:
        return ""  # any submethod the server offers

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: list[tuple[str, bool]]
    ) -> list[str] | None:
        answers: list[str] = []
        for prompt, _echo in prompts:
            answer = await self._session._ask_password(self._auth, prompt.strip() or "Password")
            if answer is None:
                return None
            answers.append(answer)
        return answers


class _Channel(asyncssh.SSHClientSession[bytes]):
    def __init__(self, session: SshSession) -> None:
        self._session = session

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        callback = self._session._on_data
        if callback is not None:
            callback(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._session._channel_closed(exc)


class SshSession:
    """One tab's SSH session. `connect()` may be called again after it closed (reconnect)."""

    def __init__(self, target: SshTarget, settings: SshSettings, prompts: SshPrompts) -> None:
        self.target = target
        self.settings = settings
        self.prompts = prompts
        self.state = SessionState.IDLE
        self.close_reason: str | None = None
        self.exit_status: int | None = None
        self.refused_host_key: HostKeyCheck | None = None  # the last changed key that was refused
        self._known_hosts = KnownHosts(settings.known_hosts)
        self._refused_key: asyncssh.SSHKey | None = None
        self._decrypted: dict[Path, asyncssh.SSHKeyPair] = {}  # for reconnects; lives with the tab
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jump_conn: asyncssh.SSHClientConnection | None = None
        self._channel: asyncssh.SSHClientChannel[bytes] | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._on_closed: Callable[[str], None] | None = None
        self._prompting = 0
        self._closing = False
        self._size = (80, 24)  # the latest terminal size, also while connecting
        self._pty_size = self._size  # the size the PTY was opened with

    # ----- public API -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state is SessionState.CONNECTED

    async def connect(
        self,
        cols: int,
        rows: int,
        on_data: Callable[[bytes], None],
        on_closed: Callable[[str], None],
    ) -> None:
        """Connect, authenticate and open a shell in a PTY of cols x rows.

        `on_data` gets the PTY output; `on_closed` gets one line saying why the session ended
        (called once, also after `close()`). Raises SshFailure when it cannot connect.
        """
        if self.state in (SessionState.CONNECTING, SessionState.CONNECTED):
            raise SshFailure(FailureKind.CONFIG, "already connected")
        self.state = SessionState.CONNECTING
        self.close_reason = None
        self.exit_status = None
        self._closing = False
        self._on_data = on_data
        self._on_closed = on_closed
        self._size = (max(cols, 1), max(rows, 1))
        try:
            await self._open()
        except BaseException:
            self.state = SessionState.CLOSED
            self._on_data = None
            self._on_closed = None
            await self._close_connections()
            raise
        self.state = SessionState.CONNECTED
        if self._channel is not None and self._size != self._pty_size:  # resized meanwhile
            self._channel.change_terminal_size(*self._size)

    def write(self, data: bytes) -> None:
        if self._channel is not None and self.state is SessionState.CONNECTED:
            self._channel.write(data)

    @property
    def terminal_size(self) -> tuple[int, int]:
        """The latest (cols, rows) the terminal reported: the PTY is opened with it."""
        return self._size

    def resize(self, cols: int, rows: int) -> None:
        """The terminal's new size. Remembered while connecting (the PTY is requested with the
        latest size), sent to the remote once the shell is open."""
        self._size = (max(cols, 1), max(rows, 1))
        if self._channel is not None and self.state is SessionState.CONNECTED:
            self._channel.change_terminal_size(*self._size)

    def pause_reading(self) -> None:
        if self._channel is not None:
            self._channel.pause_reading()

    def resume_reading(self) -> None:
        if self._channel is not None:
            self._channel.resume_reading()

    async def close(self, reason: str = "closed") -> None:
        """Close the session (idempotent). `on_closed` gets `reason` if it was still open."""
        if self.state is SessionState.CONNECTED and self.close_reason is None:
            self.close_reason = reason
        self._closing = True
        if self._channel is not None:
            self._channel.close()
        await self._close_connections()
        self._finish(self.close_reason or reason)

    async def replace_host_key(self) -> str:
        """Trust the changed host key that was refused last (an explicit user action)."""
        check, key = self.refused_host_key, self._refused_key
        if check is None or key is None:
            raise SshFailure(FailureKind.CONFIG, "no refused host key to replace")
        if check.status is not HostKeyStatus.CHANGED:
            raise SshFailure(FailureKind.CONFIG, f"the host key of {check.host_pattern} is {check.status}")
        await asyncio.to_thread(self._known_hosts.replace, check.host, check.port, key)
        self.refused_host_key = None
        self._refused_key = None
        return f"saved the new host key of {check.host_pattern}: {check.key_type} {check.fingerprint}"

    def command_line(self) -> list[str]:
        """The equivalent system `ssh` command (no secret in it)."""
        return ssh_command(self.target, self.settings)

    # ----- connecting -----------------------------------------------------------------------

    async def run(self, command: str, *, time_limit: float = 60.0) -> CommandResult:
        """Connect, run `command` without a PTY (stdin empty), and close. Raises SshFailure when
        it cannot connect, and SshFailure(TIMEOUT) when the command outlives `time_limit` seconds
        (connecting has its own `settings.connect_timeout`)."""
        if self.state in (SessionState.CONNECTING, SessionState.CONNECTED):
            raise SshFailure(FailureKind.CONFIG, "already connected")
        self._closing = False
        try:
            conn = await self._open_connection()
            try:
                result = await asyncio.wait_for(_run_limited(conn, command), time_limit)
                log.info("ssh %s: command ended: exit status %s", self.target.destination,
                         result.exit_status if result.exit_signal is None else f"signal {result.exit_signal}")
                return result
            except TimeoutError:
                raise SshFailure(
                    FailureKind.TIMEOUT, f"{self.target.endpoint}: the command did not finish within {time_limit:g} s"
                ) from None
            except asyncssh.ChannelOpenError as exc:
                raise SshFailure(FailureKind.PROTOCOL, f"{self.target.endpoint} refused to run a command: {exc.reason}") from None
            except (asyncssh.Error, OSError) as exc:
                raise self._failure(exc, self.target.endpoint, self.target.username, None) from None
        finally:
            await self._close_connections()

    async def _open_connection(self) -> asyncssh.SSHClientConnection:
        """The verified, authenticated connection to the target (through the jump host if any)."""
        try:
            conn = await self._connect_target()
        except SshFailure as failure:
            log.info("ssh %s: %s: %s", self.target.destination, failure.kind, failure)
            raise
        log.info("ssh %s: connected%s", self.target.destination,
                 f" through jump host {self.target.jump.spec}" if self.target.jump else "")
        return conn

    async def _connect_target(self) -> asyncssh.SSHClientConnection:
        target = self.target
        tunnel = None
        if target.jump is not None:
            jump = target.jump
            jump_user = jump.user or target.username
            self._jump_conn = await self._connect_verified(
                jump.host, jump.port, jump_user, tunnel=None, what=f"jump host {jump.spec}",
                who=f"jump host {jump_user}@{JumpHost(jump.host, jump.port).spec}",
            )
            tunnel = self._jump_conn
        self._conn = await self._connect_verified(
            target.host, target.port, target.username, tunnel=tunnel, what=target.endpoint, who=target.destination
        )
        return self._conn

    async def _open(self) -> None:
        target = self.target
        self._conn = await self._open_connection()
        self._pty_size = self._size
        try:
            channel, _session = await self._deadline(
                self._conn.create_session(
                    lambda: _Channel(self),
                    term_type=TERM_TYPE,
                    term_size=self._pty_size,  # the size now, not when connecting started
                    encoding=None,
                )
            )
        except asyncssh.ChannelOpenError as exc:
            raise SshFailure(FailureKind.PROTOCOL, f"{target.endpoint} refused a shell session: {exc.reason}") from None
        except TimeoutError:
            raise SshFailure(FailureKind.TIMEOUT, f"{target.endpoint} did not open a shell in time") from None
        self._channel = channel

    async def _connect_verified(
        self, host: str, port: int, username: str, *, tunnel: Any, what: str, who: str
    ) -> asyncssh.SSHClientConnection:
        """`who` names the account in password prompts (the jump host's, when it is the jump host)."""
        trusted = await asyncio.to_thread(self._known_hosts.keys_for, host, port)
        for _ in range(2):  # second round after the user trusted an unknown key
            sources = await asyncio.to_thread(
                discover_key_sources,
                host=host,
                port=port,
                username=username,
                identity_file=self.settings.identity_file,
                use_agent=self.settings.use_agent,
                use_default_keys=self.settings.use_default_keys,
                ssh_config=self.settings.ssh_config,
            )
            auth = _AuthState(sources=sources, pending_files=list(sources.key_files), destination=who)
            client = _Client(self, auth)
            try:
                return await self._deadline(
                    asyncssh.connect(
                        host,
                        port,
                        tunnel=tunnel,
                        username=username,
                        known_hosts=(list(trusted), [], []),
                        client_factory=lambda c=client: c,
                        client_keys=None,  # keys come from _next_key, read lazily
                        agent_path=None,  # the agent is asked in _next_key too, first
                        config=None,
                        keepalive_interval=self.settings.keepalive_interval or None,
                        keepalive_count_max=3,
                    )
                )
            except asyncssh.HostKeyNotVerifiable:
                presented = client.presented_key
                if presented is None:
                    raise SshFailure(FailureKind.PROTOCOL, f"{what}: host key could not be verified") from None
            except asyncssh.KeyExchangeFailed as exc:
                if not trusted:
                    raise SshFailure(FailureKind.PROTOCOL, f"{what}: key exchange failed: {exc.reason}") from None
                # The server no longer offers the saved key's type: find out what it offers now.
                presented = await self._scan_host_key(host, port, tunnel, what)
            except BaseException as exc:
                raise self._failure(exc, what, username, auth) from None
            check = await asyncio.to_thread(self._known_hosts.check, host, port, presented)
            if check.status in (HostKeyStatus.CHANGED, HostKeyStatus.REVOKED):
                self.refused_host_key = check
                self._refused_key = presented
                raise SshFailure(FailureKind.HOST_KEY_CHANGED, check.describe(), host_key=check)
            if check.status is HostKeyStatus.TRUSTED:  # saved meanwhile (another tab)
                trusted = [presented]
                continue
            self._prompting += 1
            try:
                accepted = await self.prompts.confirm_host_key(check)
            finally:
                self._prompting -= 1
            if not accepted:
                if not self.prompts.interactive:
                    raise SshFailure(FailureKind.HOST_KEY_UNKNOWN, check.describe(), host_key=check)
                raise SshFailure(
                    FailureKind.HOST_KEY_REJECTED, f"host key of {host_pattern(host, port)} not trusted: cancelled"
                )
            await asyncio.to_thread(self._known_hosts.add, host, port, presented)
            trusted = [presented]
        raise SshFailure(FailureKind.PROTOCOL, f"{what}: host key could not be verified")

    async def _scan_host_key(self, host: str, port: int, tunnel: Any, what: str) -> asyncssh.SSHKey:
        try:
            key = await self._deadline(asyncssh.get_server_host_key(host, port, tunnel=tunnel, config=None))
        except BaseException as exc:
            raise self._failure(exc, what, None, None) from None
        if key is None:
            raise SshFailure(FailureKind.PROTOCOL, f"{what}: the server sent no host key")
        return key

    async def _deadline(self, awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        """Await with settings.connect_timeout, not counting time spent in a prompt."""
        timeout = self.settings.connect_timeout
        task = asyncio.ensure_future(awaitable)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if self._prompting:
                    remaining = timeout
                    deadline = loop.time() + timeout
                if remaining <= 0:
                    task.cancel()
                    raise TimeoutError
                done, _ = await asyncio.wait({task}, timeout=min(remaining, 0.2))
                if done:
                    return task.result()
        except BaseException:
            if task.done():
                if not task.cancelled():
                    task.exception()  # seen: a failure that lands as the caller is cancelled is nobody's
            else:
                task.cancel()
                try:
                    await task
                except BaseException:  # the cancellation we asked for
                    pass
            raise

    def _failure(self, exc: BaseException, what: str, username: str | None, auth: _AuthState | None) -> BaseException:
        """Map an exception from connecting to one line; re-raise cancellation as is."""
        if isinstance(exc, SshFailure | asyncio.CancelledError | KeyboardInterrupt | SystemExit):
            return exc
        timeout = self.settings.connect_timeout
        if isinstance(exc, TimeoutError):
            return SshFailure(
                FailureKind.TIMEOUT, f"no answer from {what} within {timeout:g} s (an NSG or a route may drop it)"
            )
        if isinstance(exc, ConnectionRefusedError):
            return SshFailure(FailureKind.REFUSED, f"{what} refused the connection: nothing listens on that port")
        if isinstance(exc, asyncssh.PermissionDenied):
            if auth and auth.tried:
                tried = ", ".join(auth.tried)
            elif auth and auth.key_errors:
                tried = "no usable key"
            else:
                tried = "nothing: no ssh-agent keys and no key files"
            extra = f"; {auth.key_errors[0]}" if auth and auth.key_errors else ""
            return SshFailure(
                FailureKind.AUTH, f"authentication failed for {username}@{what} (tried {tried}){extra}; {AUTH_HINT}"
            )
        if isinstance(exc, asyncssh.ChannelOpenError):
            # Through a jump host: the jump host could not reach the target.
            reason = exc.reason or "channel refused"
            kind = FailureKind.REFUSED if "refused" in reason.lower() else FailureKind.UNREACHABLE
            return SshFailure(kind, f"jump host could not reach {what}: {reason}")
        if isinstance(exc, asyncssh.ConnectionLost):
            return SshFailure(FailureKind.DISCONNECTED, f"{what} closed the connection during login: {exc.reason}")
        if isinstance(exc, asyncssh.DisconnectError):
            return SshFailure(FailureKind.DISCONNECTED, f"{what} disconnected: {exc.reason}")
        if isinstance(exc, OSError):
            return SshFailure(FailureKind.UNREACHABLE, f"cannot reach {what}: {exc.strerror or exc}")
        if isinstance(exc, asyncssh.Error):
            return SshFailure(FailureKind.PROTOCOL, f"{what}: {exc.reason}")
        return SshFailure(FailureKind.PROTOCOL, f"{what}: {type(exc).__name__}: {exc}".splitlines()[0])

    # ----- authentication callbacks ---------------------------------------------------------

    async def _next_key(self, auth: _AuthState) -> asyncssh.SSHKeyPair | list[asyncssh.SSHKeyPair] | None:
        if not auth.agent_keys_done:
            auth.agent_keys_done = True
            if auth.sources.agent_path:
                keys = await self._agent_keys(auth.sources.agent_path)
                if keys:
                    auth.tried.append(describe_agent_keys(keys))
                    return keys
        while auth.pending_files:
            path = auth.pending_files.pop(0)
            pair = await self._load_key(path, auth)
            if pair is not None:
                auth.tried.append(_label(path))
                return pair
        return None

    async def _agent_keys(self, agent_path: str) -> list[asyncssh.SSHKeyPair]:
        try:
            agent = await asyncssh.connect_agent(agent_path)
        except (OSError, asyncssh.Error):
            return []
        if agent is None:
            return []
        try:
            return list(await agent.get_keys())
        except (OSError, asyncssh.Error, ValueError):
            return []
        # The agent client stays open for signing; asyncssh closes it with the connection.

    async def _load_key(self, path: Path, auth: _AuthState) -> asyncssh.SSHKeyPair | None:
        if path in self._decrypted:
            return self._decrypted[path]
        try:
            return await asyncio.to_thread(read_key, path)
        except KeyNeedsPassphrase:
            pass
        except ValueError as exc:
            auth.key_errors.append(str(exc))
            return None
        if not self.prompts.interactive:
            auth.key_errors.append(f"key {_label(path)} needs its passphrase, which is not asked here (add it to ssh-agent)")
            return None
        for attempt in range(1, MAX_SECRET_ATTEMPTS + 1):
            self._prompting += 1
            try:
                passphrase = await self.prompts.ask_passphrase(_label(path), attempt)
            finally:
                self._prompting -= 1
            if passphrase is None:
                return None
            try:
                pair = await asyncio.to_thread(read_key, path, passphrase)
            except KeyNeedsPassphrase:
                continue
            except ValueError as exc:
                auth.key_errors.append(str(exc))
                return None
            finally:
                del passphrase
            self._decrypted[path] = pair
            return pair
        auth.key_errors.append(f"wrong passphrase for {_label(path)}")
        return None

    async def _ask_password(self, auth: _AuthState, prompt: str) -> str | None:
        if auth.password_attempts >= MAX_SECRET_ATTEMPTS or auth.password_cancelled or not self.prompts.interactive:
            return None
        auth.password_attempts += 1
        if "password" not in auth.tried:
            auth.tried.append("password")
        label = f"{prompt.rstrip(': ')} for {auth.destination or self.target.destination}"
        self._prompting += 1
        try:
            answer = await self.prompts.ask_password(label, auth.password_attempts)
        finally:
            self._prompting -= 1
        if answer is None:
            # Cancelled: keyboard-interactive would ask the same again; do not.
            auth.password_cancelled = True
        return answer

    # ----- closing --------------------------------------------------------------------------

    def _channel_closed(self, exc: Exception | None) -> None:
        channel = self._channel
        if self.close_reason is None:
            self.close_reason = self._closed_reason(channel, exc)
        self._channel = None
        if self._conn is not None:
            self._conn.close()
        if self._jump_conn is not None:
            self._jump_conn.close()
        self._finish(self.close_reason)

    def _closed_reason(self, channel: asyncssh.SSHClientChannel[bytes] | None, exc: Exception | None) -> str:
        if exc is not None:
            if isinstance(exc, asyncssh.ConnectionLost):
                reason = exc.reason or "connection lost"
                if "keepalive" in reason.lower():
                    return f"connection to {self.target.endpoint} timed out (no keepalive answer)"
                return f"connection to {self.target.endpoint} lost: {reason}"
            if isinstance(exc, asyncssh.DisconnectError):
                return f"{self.target.endpoint} disconnected: {exc.reason}"
            return f"connection to {self.target.endpoint} failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        if channel is not None:
            signal = channel.get_exit_signal()
            if signal is not None and signal[0]:
                return f"remote shell killed by signal {signal[0]}"
            status = channel.get_exit_status()
            if status is not None:
                self.exit_status = status
                return f"session ended (exit status {status})" if status else "session ended (logged out)"
        return f"{self.target.endpoint} closed the session"

    def _finish(self, reason: str) -> None:
        self.state = SessionState.CLOSED
        callback, self._on_closed = self._on_closed, None
        self._on_data = None
        if callback is not None:
            callback(reason)

    async def _close_connections(self) -> None:
        for conn in (self._conn, self._jump_conn):
            if conn is None:
                continue
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), 2.0)
            except (TimeoutError, OSError, asyncssh.Error):
                pass
        self._conn = None
        self._jump_conn = None


def key_pair_fingerprint(pair: asyncssh.SSHKeyPair) -> str:
    """`SHA256:...` of a key pair's public key, as `ssh-keygen -l` prints it."""
    digest = hashlib.sha256(pair.public_data).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def describe_agent_keys(keys: list[asyncssh.SSHKeyPair], shown: int = 3) -> str:
    """`ssh-agent keys me@laptop, SHA256:abc... and 2 more`: by comment, else by fingerprint."""
    names = []
    for pair in keys[:shown]:
        comment = (pair.get_comment() or "").strip()
        names.append(comment.splitlines()[0][:60] if comment else key_pair_fingerprint(pair))
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"ssh-agent key{'s' if len(keys) > 1 else ''} {', '.join(names)}{more}"


async def _run_limited(conn: asyncssh.SSHClientConnection, command: str) -> CommandResult:
    """Run `command` (no PTY, empty stdin), keeping at most MAX_COMMAND_OUTPUT bytes per stream."""
    process = await conn.create_process(command, stdin=asyncssh.DEVNULL, encoding=None)
    truncated = False

    async def drain(stream: asyncssh.SSHReader[bytes]) -> bytes:
        nonlocal truncated
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return b"".join(chunks)
            if size < MAX_COMMAND_OUTPUT:
                chunks.append(chunk[: MAX_COMMAND_OUTPUT - size])
            if size + len(chunk) > MAX_COMMAND_OUTPUT:
                truncated = True
            size += len(chunk)

    try:
        out, err = await asyncio.gather(drain(process.stdout), drain(process.stderr))
        await process.wait_closed()
    finally:
        process.close()
    signal = process.exit_signal[0] if process.exit_signal else None
    return CommandResult(
        exit_status=process.exit_status if signal is None else None,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        exit_signal=signal,
        truncated=truncated,
    )


def _label(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def ssh_command(target: SshTarget, settings: SshSettings) -> list[str]:
    """`ssh -p PORT [-J jump] [-i key] -o UserKnownHostsFile=<ours> user@host` as argv."""
    argv = ["ssh", "-p", str(target.port), "-o", f"UserKnownHostsFile={settings.known_hosts}"]
    if target.jump is not None:
        argv += ["-J", _jump_spec(target.jump, target.username)]
    if settings.identity_file:
        argv += ["-i", str(Path(settings.identity_file).expanduser())]
    argv.append(f"{target.username}@{target.host}")
    return argv


def _jump_spec(jump: JumpHost, default_user: str) -> str:
    return jump.spec if jump.user else JumpHost(jump.host, jump.port, default_user).spec
