"""`Simulator`: the local Azure (ARM over loopback HTTP + SSH servers on NAT ports)."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from .arm import ArmApp, FaultRule
from .clock import ManualClock, SimClock
from .resources import ActionFault, Environment, Instance, RolloutRecord
from .state import World
from .topology import Topology, default_topology, fleet_subscription_topology

log = logging.getLogger(__name__)

DEFAULT_SUBSCRIPTION_ID = "5151a7e0-0000-4000-8000-00000000cafe"


def new_bearer_token() -> str:
    """A fresh random bearer token: the only one a simulator accepts."""
    return secrets.token_urlsafe(32)


def subscription_id_for(index: int) -> str:
    """The id of the simulator's `index`-th subscription (0 is DEFAULT_SUBSCRIPTION_ID)."""
    return DEFAULT_SUBSCRIPTION_ID if index == 0 else f"5151a7e0-{index:04x}-4000-8000-00000000cafe"


def default_guest_factory(world_clock: SimClock) -> Callable[[Instance], Any] | None:
    """Makes each instance's simulated guest OS (sim/guest.py); None if it is not there."""
    try:
        from .guest import Guest
    except ImportError:
        return None

    def make(inst: Instance) -> Any:
        os_gb = inst.os_disk.size_gb if inst.os_disk is not None else 30
        size = inst.scale_set.sku_name if inst.scale_set is not None else (inst.vm_spec.size if inst.vm_spec else None)
        try:
            return Guest(hostname=inst.computer_name, admin_user=inst.admin_user, os_disk_gb=os_gb, os_type=inst.os_type,
                         vm_size=size, clock=lambda: world_clock.wall().timestamp())
        except TypeError:  # a Guest with only the agreed keywords
            return Guest(hostname=inst.computer_name, admin_user=inst.admin_user, os_disk_gb=os_gb, os_type=inst.os_type)

    return make


class Simulator:
    """Simulated Azure subscriptions served over HTTP on loopback.

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
        vm_page_size: int = 50,
        throttle_after: int | None = None,
        throttle_window: float = 60.0,
        retry_after: int | None = None,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        subscriptions: int | Mapping[str, Topology | None] | None = None,
        clock: SimClock | None = None,
        ip_prefix: tuple[int, int] | None = None,
        require_auth: bool = True,
        bearer_token: str | None = None,
        host: str = "127.0.0.1",
        seed: int | None = None,
        ssh_user_home: Path | None = None,
        ssh_agent: bool = True,
        unescaped_next_link_filter: bool = False,
        backend_addresses_in_pools: bool = True,
        port_mapping_async: bool = False,
        graph_lag: float = 0.0,
        guest_factory: Callable[[Instance], Any] | None = None,
    ) -> None:
        """`seed` makes every id the simulator generates (vmIds, uniqueIds, disk names, operation
        and request ids) the same from run to run; None draws them at random. Public IPs are
        chosen by `ip_prefix` (random unless given), SSH host and client keys are always fresh.

        `subscriptions`: how many subscriptions to serve (the first has `topology` and
        `subscription_id`, the others small generated fleets), or a mapping of subscription id ->
        topology (None: a generated one), served in that order.

        The ARM endpoint accepts only `bearer_token` (default: a fresh random one per simulator,
        `sim.bearer_token`); anything else gets 401. `require_auth=False` takes any request.

        Wire knobs: `vm_page_size` (the virtual machine lists; Azure's is 50),
        `unescaped_next_link_filter` (send those lists' nextLink with the $filter unescaped, as the
        service has done), `backend_addresses_in_pools=False` (NIC-based pools without
        loadBalancerBackendAddresses), `port_mapping_async` (queryInboundNatRulePortMapping answers
        202 + Location instead of 200), `graph_lag` (simulated seconds Resource Graph lags ARM).

        The SSH servers take public keys only: `ssh_client_key_path` (made per simulator), those
        of `ssh_user_home`/.ssh (default: the home of the user running the simulator: its
        authorized_keys and *.pub) and, with `ssh_agent`, those of the agent at SSH_AUTH_SOCK."""
        self.topology = topology if topology is not None else default_topology()
        self.clock = clock if clock is not None else SimClock(speed)
        self.ip_prefix = ip_prefix or (random.randrange(1, 255), random.randrange(0, 255))
        self.seed = seed
        self.bearer_token = bearer_token or new_bearer_token()
        self.env = Environment(self.clock, self.ip_prefix, seed=seed,
                               guest_factory=guest_factory or default_guest_factory(self.clock))
        self.worlds: list[World] = []
        for sub_id, sub_topology in self._subscription_plan(subscription_id, subscriptions):
            self.worlds.append(World(sub_topology, None, sub_id, environment=self.env))
        self.world = self.worlds[0]
        self.arm = ArmApp(self.worlds, page_size=page_size, latency=latency, throttle_after=throttle_after,
                          throttle_window=throttle_window, retry_after=retry_after, require_auth=require_auth,
                          vm_page_size=vm_page_size, unescaped_next_link_filter=unescaped_next_link_filter,
                          backend_addresses_in_pools=backend_addresses_in_pools, port_mapping_async=port_mapping_async,
                          accepted_tokens={self.bearer_token})
        from .graph import ResourceGraph

        self.graph = ResourceGraph(self.worlds, lag=graph_lag)
        self.arm.graph = self.graph
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

    def _subscription_plan(self, primary_id: str, subscriptions: int | Mapping[str, Topology | None] | None
                           ) -> list[tuple[str, Topology]]:
        if subscriptions is None:
            return [(primary_id, self.topology)]
        if isinstance(subscriptions, Mapping):
            if not subscriptions:
                raise ValueError("subscriptions: give at least one")
            plan = []
            for index, (sub_id, topo) in enumerate(subscriptions.items()):
                plan.append((sub_id, topo if topo is not None else fleet_subscription_topology(index)))
            self.topology = plan[0][1]
            return plan
        if isinstance(subscriptions, bool) or not isinstance(subscriptions, int) or subscriptions < 1:
            raise ValueError("subscriptions: a count of at least 1, or a mapping of subscription id -> topology")
        plan = [(primary_id, self.topology)]
        plan += [(subscription_id_for(i), fleet_subscription_topology(i)) for i in range(1, subscriptions)]
        return plan

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
    def subscription_ids(self) -> list[str]:
        return [w.subscription_id for w in self.worlds]

    @property
    def write_count(self) -> int:
        """Mutating requests received (PUT/PATCH/POST/DELETE; POST queries such as
        queryInboundNatRulePortMapping and Resource Graph are reads and not counted)."""
        return self.arm.write_count

    @property
    def write_log(self) -> Any:
        """The last 2,000 writes as received: (method, path, JSON body or None); slices give lists."""
        return self.arm.write_log

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
        self.env.listeners.append(self._wake.set)
        if self.ssh_enabled:
            from .ssh_server import SshFleet

            self.ssh = SshFleet(self.world, user_home=self.ssh_user_home, use_agent=self.ssh_agent)
            self.env.listeners.append(self.ssh.request_reconcile)
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
    def vm_page_size(self) -> int:
        return self.arm.vm_page_size

    @vm_page_size.setter
    def vm_page_size(self, value: int) -> None:
        self.arm.vm_page_size = value

    @property
    def unescaped_next_link_filter(self) -> bool:
        return self.arm.unescaped_next_link_filter

    @unescaped_next_link_filter.setter
    def unescaped_next_link_filter(self, value: bool) -> None:
        self.arm.unescaped_next_link_filter = value

    @property
    def port_mapping_async(self) -> bool:
        return self.arm.port_mapping_async

    @port_mapping_async.setter
    def port_mapping_async(self, value: bool) -> None:
        self.arm.port_mapping_async = value

    @property
    def backend_addresses_in_pools(self) -> bool:
        return self.arm.backend_addresses_in_pools

    @backend_addresses_in_pools.setter
    def backend_addresses_in_pools(self, value: bool) -> None:
        self.arm.backend_addresses_in_pools = value

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

        Actions: start, powerOff, deallocate, restart, reimage, redeploy, delete, manualupgrade,
        osRollingUpgrade (fails instances of a batch), runCommand, attachDetachDataDisks,
        update (scale set PATCH)."""
        fault = ActionFault(action, code, message, count, set(instance_ids) if instance_ids is not None else None)
        self.world.action_faults.append(fault)
        return fault

    def inject_unhealthy(self, resource_group: str, scale_set: str, instance_ids: list[str | int] | None = None, *,
                         after_upgrade: bool = False) -> list[Instance]:
        """Make instances report HealthState/unhealthy while running: at once, or (after_upgrade)
        from when they next run a new model, as a bad image would. None: every instance."""
        ss = self.world.get_scale_set(resource_group, scale_set)
        chosen = ss.sorted_instances() if instance_ids is None else [
            self.world.get_instance(ss, str(i)) for i in instance_ids]
        for inst in chosen:
            if after_upgrade:
                inst.sick_after_upgrade = True
            else:
                inst.sick = True
                if inst.health is None or inst.power == "running":
                    inst.health = "unhealthy" if inst.power == "running" else inst.health
        self.world.changed()
        return chosen

    # ---- introspection for tests and the CLI

    @property
    def public_ip_prefix(self) -> str:
        return f"127.{self.ip_prefix[0]}.{self.ip_prefix[1]}"

    def instance(self, resource_group: str, scale_set: str, instance_id: str | int) -> Instance:
        return self.world.get_instance(self.world.get_scale_set(resource_group, scale_set), str(instance_id))

    def virtual_machine(self, resource_group: str, name: str) -> Instance:
        """A Flexible scale set's VM or a VM of no scale set, by VM name."""
        return self.world.get_virtual_machine(resource_group, name)

    def guest(self, resource_group: str, scale_set: str | None, instance_id: str | int) -> Any:
        """The simulated guest OS of an instance (scale_set None: a VM of no scale set)."""
        inst = (self.virtual_machine(resource_group, str(instance_id)) if scale_set is None
                else self.instance(resource_group, scale_set, instance_id))
        return self.world.guest_for(inst)

    def rollout_records(self, resource_group: str, scale_set: str) -> list[RolloutRecord]:
        """Per instance of the latest rolling upgrade: its batch, when it started and ended, how."""
        ss = self.world.get_scale_set(resource_group, scale_set)
        return list(ss.rolling.records) if ss.rolling is not None else []

    def ssh_endpoints(self) -> list[dict[str, Any]]:
        """Every SSH (backend port 22) NAT mapping of every subscription, with the instance object
        (`instance`): what the SSH servers listen on."""
        return [target for world in self.worlds for target in world.ssh_endpoints()]

    def ssh_targets(self) -> list[dict[str, Any]]:
        """Where each instance's SSH (backend port 22) NAT mapping points, and whether it listens."""
        listening = self.ssh.listening_addresses() if self.ssh is not None else set()
        return [{**{k: v for k, v in t.items() if k != "instance"}, "listening": (t["host"], t["port"]) in listening}
                for t in self.world.ssh_endpoints()]

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
