"""`vmss-tui sim`: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import NoReturn

PROG = "vmss-tui sim"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Run the local Azure simulator (ARM REST over loopback HTTP plus "
                                            "SSH servers on the simulated NAT ports) until Ctrl-C.")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: a free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per real second (default 1: a power-off takes ~19 s)")
    parser.add_argument("--latency", type=float, default=0.0, help="added seconds per HTTP request")
    parser.add_argument("--scale-sets", type=int, metavar="N", help="generate a large fleet of N scale sets ...")
    parser.add_argument("--instances", type=int, metavar="N", help="... one of them with N instances")
    parser.add_argument("--throttle-after", type=int, metavar="N",
                        help="answer 429 + Retry-After after N reads per minute")
    parser.add_argument("--page-size", type=int, default=100, metavar="N", help="items per page of a list (default 100)")
    parser.add_argument("--no-ssh", action="store_true", help="do not start SSH servers on the NAT ports")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.speed <= 0:
            raise _UsageError("--speed must be positive")
        if args.latency < 0:
            raise _UsageError("--latency cannot be negative")
        if args.page_size < 1:
            raise _UsageError("--page-size must be at least 1")
        if (args.scale_sets is not None and args.scale_sets < 1) or (args.instances is not None and args.instances < 0):
            raise _UsageError("--scale-sets must be at least 1 and --instances not negative")
    except _UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        print(f"{PROG}: stopped", file=sys.stderr)
        return 0
    except OSError as exc:
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
              f"(choose another --port or --host)", file=sys.stderr)
        return 1


async def _serve(args: argparse.Namespace) -> int:
    from .simulator import Simulator
    from .topology import default_topology, large_topology

    if args.scale_sets is not None or args.instances is not None:
        topology = large_topology(scale_sets=args.scale_sets or 50, instances=args.instances if args.instances is not None else 1000)
    else:
        topology = default_topology()
    sim = Simulator(topology, speed=args.speed, latency=args.latency, ssh=not args.no_ssh,
                    page_size=args.page_size, throttle_after=args.throttle_after, host=args.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await sim.start(args.port)
    try:
        endpoint, sub = sim.endpoint, sim.subscription_id
        instances = sum(len(s.instances) for s in sim.world.scale_sets.values())
        print(f"vmss-tui simulator listening on {endpoint}", flush=True)
        print(f"subscription: {sub}", flush=True)
        print(f"fleet: {len(sim.world.scale_sets)} scale sets, {instances} instances, speed x{args.speed:g}", flush=True)
        if sim.ssh is not None:
            listening = len(sim.ssh.listening_addresses())
            print(f"ssh: {listening} servers on {sim.public_ip_prefix}.0/24, user azureuser, public keys only: "
                  f"the demo key below, your ~/.ssh/authorized_keys and ~/.ssh/*.pub keys, your ssh-agent's",
                  flush=True)
            print(f"ssh demo key: {sim.ssh_client_key_path} (removed when the simulator stops)", flush=True)
            example = next((t for t in sim.ssh_targets() if t["listening"]), None)
            if example is not None:
                print(f"    e.g. ssh -i {sim.ssh_client_key_path} -p {example['port']} {example['user']}@{example['host']}"
                      f"   ({example['scale_set']} instance {example['instance_id']})", flush=True)
        print(f"use it: vmss-tui --arm-endpoint {endpoint} --subscription {sub}", flush=True)
        print(f"    or: export VMSS_TUI_ARM_ENDPOINT={endpoint} AZURE_SUBSCRIPTION_ID={sub}", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"{PROG}: warning: listening on {args.host}; anyone who can reach it can run commands through "
                  f"runCommand", file=sys.stderr, flush=True)
        print("Ctrl-C stops it.", flush=True)
        await stop.wait()
    finally:
        await sim.stop()
    print(f"{PROG}: stopped", file=sys.stderr, flush=True)
    return 0
