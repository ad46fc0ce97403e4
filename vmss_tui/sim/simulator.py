"""`Simulator`: the local Azure (ARM over loopback HTTP + SSH servers on NAT ports)."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from .arm import ArmApp, FaultRule
from .clock import ManualClock, SimClock
from .state import ActionFault, Instance, World
from .topology import Topology, default_topology

log = logging.getLogger(__name__)

DEFAULT_SUBSCRIPTION_ID = "5151a7e0-0000-4000-8000-00000000cafe"


class Simulator:
    """A simulated Azure subscription served over HTTP on loopback.

    Use `await start()` / `await stop()` inside an event loop, or `start_in_thread()` /
    `stop_thread()` to run it on its own thread and loop.
    """

    def __init__(
        self,
        topology: Topology | None = None,
        speed: float = 1.0,
        latency: float = 0.0,
        ssh: bool = True,
        *,
        page_size: int = 100,
        throttle_after: int | None = None,
        throttle_window: float = 60.0,
        retry_after: int | None = None,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        clock: SimClock | None = None,
        ip_prefix: tuple[int, int] | None = None,
        require_auth: bool = True,
        execute_run_commands: bool = True,
        host: str = "127.0.0.1",
        seed: int | None = None,
        ssh_user_home: Path | None = None,
        ssh_agent: bool = True,
    ) -> None:
        """`seed` makes every id the simulator generates (vmIds, uniqueIds, disk names, operation
        and request ids) the same from run to run; None draws them at random. Public IPs are
        chosen by `ip_prefix` (random unless given), SSH host and client keys are always fresh.

        The SSH servers take public keys only: `ssh_client_key_path` (made per simulator), those
        of `ssh_user_home`/.ssh (default: the home of the user running the simulator: its
        authorized_keys and *.pub) and, with `ssh_agent`, those of the agent at SSH_AUTH_SOCK."""
        self.topology = topology if topology is not None else default_topology()
        self.clock = clock if clock is not None else SimClock(speed)
        self.ip_prefix = ip_prefix or (random.randrange(1, 255), random.randrange(0, 255))
        self.seed = seed
        self.world = World(self.topology, self.clock, subscription_id, self.ip_prefix, seed=seed)
        self.arm = ArmApp(self.world, page_size=page_size, latency=latency, throttle_after=throttle_after,
                          throttle_window=throttle_window, retry_after=retry_after, require_auth=require_auth,
                          execute_run_commands=execute_run_commands)
        self.ssh_enabled = ssh
        self.ssh_user_home = ssh_user_home
        self.ssh_agent = ssh_agent
        self.host = host
        self.port: int | None = None
        self.ssh: Any = None  # ssh_server.SshFleet when ssh=True and started
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None  # created in start(), inside the loop
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self._thread_error: BaseException | None = None

    # ---- the contract

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("the simulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ssh_client_key_path(self) -> Path | None:
        """The demo client private key (OpenSSH format, mode 0600, in a private directory removed
        on stop) that the SSH servers accept for the admin user; None without SSH servers."""
        return self.ssh.client_key_path if self.ssh is not None else None

    @property
    def subscription_id(self) -> str:
        return self.world.subscription_id

    @property
    def write_count(self) -> int:
        """Mutating requests received (PUT/PATCH/POST/DELETE; POST queries such as
        queryInboundNatRulePortMapping are reads and not counted)."""
        return self.arm.write_count

    @property
    def request_count(self) -> int:
        return self.arm.request_count

    @property
    def peak_in_flight(self) -> int:
        """The most requests the simulator was handling at one moment."""
        return self.arm.peak_in_flight

    def reset_peak_in_flight(self) -> None:
        self.arm.peak_in_flight = self.arm.in_flight

    async def start(self, port: int = 0, host: str | None = None) -> Simulator:
        if host is not None:
            self.host = host
        app = self.arm.make_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the real port when port=0
        sockets: list[socket.socket] = list(getattr(server, "sockets", []) or [])
        self.port = sockets[0].getsockname()[1] if sockets else port
        self._wake = asyncio.Event()
        self.world.listeners.append(self._wake.set)
        if self.ssh_enabled:
            from .ssh_server import SshFleet

            self.ssh = SshFleet(self.world, user_home=self.ssh_user_home, use_agent=self.ssh_agent)
            self.world.listeners.append(self.ssh.request_reconcile)
            await self.ssh.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="vmss-sim-ticker")
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        if self.ssh is not None:
            await self.ssh.stop()
            self.ssh = None
        await self.arm.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, port: int = 0, timeout: float = 15.0) -> Simulator:
        ready = threading.Event()

        async def main() -> None:
            self._thread_loop = asyncio.get_running_loop()
            self._thread_stop = asyncio.Event()
            try:
                await self.start(port)
            except BaseException as exc:
                self._thread_error = exc
                ready.set()
                return
            ready.set()
            try:
                await self._thread_stop.wait()
            finally:
                await self.stop()

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), name="vmss-sim", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the simulator did not start in time")
        if self._thread_error is not None:
            raise RuntimeError(f"the simulator failed to start: {self._thread_error}") from self._thread_error
        return self

    def stop_thread(self, timeout: float = 15.0) -> None:
        if self._thread is None or self._thread_loop is None or self._thread_stop is None:
            return
        try:
            self._thread_loop.call_soon_threadsafe(self._thread_stop.set)
        except RuntimeError:
            pass  # loop already closed
        self._thread.join(timeout)
        self._thread = None

    # ---- knobs

    @property
    def latency(self) -> float:
        return self.arm.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.arm.latency = seconds

    @property
    def throttle_after(self) -> int | None:
        return self.arm.throttle_after

    @throttle_after.setter
    def throttle_after(self, value: int | None) -> None:
        self.arm.throttle_after = value

    @property
    def page_size(self) -> int:
        return self.arm.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self.arm.page_size = value

    @property
    def forbidden(self) -> set[str]:
        """Resource ids (and everything under them) that answer 403 AuthorizationFailed."""
        return self.arm.forbidden

    @property
    def faults(self) -> list[FaultRule]:
        return self.arm.faults

    def add_fault(self, pattern: str, status: int = 500, *, method: str | None = None, count: int | None = 1,
                  code: str | None = None, message: str | None = None, retry_after: int | None = None) -> FaultRule:
        """Fail the next `count` requests whose path matches the regex `pattern` with `status`."""
        rule = FaultRule(pattern, status, method, count, code, message, retry_after)
        self.arm.faults.append(rule)
        return rule

    def fail_action(self, action: str, code: str = "InternalExecutionError",
                    message: str = "An internal execution error occurred. Please retry later.", *, count: int | None = 1,
                    instance_ids: list[str] | None = None) -> ActionFault:
        """Make the next `count` operations of `action` end Failed with `code`.

        Actions: start, powerOff, deallocate, restart, reimage, delete, manualupgrade,
        osRollingUpgrade (fails instances of a batch), runCommand, update (scale set PATCH)."""
        fault = ActionFault(action, code, message, count, set(instance_ids) if instance_ids is not None else None)
        self.world.action_faults.append(fault)
        return fault

    # ---- introspection for tests and the CLI

    @property
    def public_ip_prefix(self) -> str:
        return f"127.{self.ip_prefix[0]}.{self.ip_prefix[1]}"

    def instance(self, resource_group: str, scale_set: str, instance_id: str | int) -> Instance:
        return self.world.get_instance(self.world.get_scale_set(resource_group, scale_set), str(instance_id))

    def ssh_targets(self) -> list[dict[str, Any]]:
        """Where each instance's SSH (backend port 22) NAT mapping points, and whether it listens."""
        from .ssh_server import ssh_targets

        listening = self.ssh.listening_addresses() if self.ssh is not None else set()
        return [{**{k: v for k, v in t.items() if k != "instance"}, "listening": (t["host"], t["port"]) in listening}
                for t in ssh_targets(self.world)]

    def advance(self, seconds: float) -> None:
        """Step a ManualClock and run what became due (tests)."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs Simulator(clock=ManualClock())")
        self.clock.advance(seconds)
        self.world.advance()

    async def settle(self) -> None:
        """Wait (real time) until no simulated state change is pending; wrap it in
        `asyncio.timeout()` to bound the wait."""
        while self.world.scheduler.next_due() is not None:
            await asyncio.sleep(0.01)
            self.world.advance()

    async def _tick_forever(self) -> None:
        assert self._wake is not None
        while True:
            self.world.advance()
            due = self.world.scheduler.next_due()
            if due is None:
                delay = 0.5
            else:
                delay = min(0.5, max(0.005, self.clock.real_seconds(due - self.clock.now())))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
