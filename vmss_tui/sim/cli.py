"""`vmss-tui sim`: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import shlex
import signal
import sys
from typing import Any, NoReturn

PROG = "vmss-tui sim"
TOKEN_ENV = "VMSS_TUI_ARM_TOKEN"  # what the console reads for a loopback endpoint's bearer token
ENDPOINT_ENV = "VMSS_TUI_ARM_ENDPOINT"
MAX_INSTANCES = 1000  # per scale set, as Azure allows
MAX_SCALE_SETS = 2500  # scale sets per region and subscription, as Azure allows
MAX_SUBSCRIPTIONS = 1000  # what one Resource Graph request can name
MAX_PAGE_SIZE = 1000

log = logging.getLogger("vmss_tui.sim.requests")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _number(kind: type, flag: str, allowed: str, check: Any) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is not a number: {allowed}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is out of range: {allowed}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Run the local Azure simulator (ARM REST over loopback HTTP plus "
                                            "SSH servers on the simulated NAT ports) until Ctrl-C. It accepts only "
                                            "the bearer token it prints.")
    parser.add_argument("--port", type=_number(int, "--port", "0 (any free port) to 65535", lambda v: 0 <= v <= 65535),
                        default=0, help="HTTP port (default: a free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--speed", type=_number(float, "--speed", "a finite number above 0",
                                                 lambda v: math.isfinite(v) and v > 0),
                        default=1.0, help="simulated seconds per real second (default 1: a power-off takes ~19 s)")
    parser.add_argument("--latency", type=_number(float, "--latency", "a finite number of seconds, 0 or more",
                                                   lambda v: math.isfinite(v) and v >= 0),
                        default=0.0, help="added seconds per HTTP request")
    parser.add_argument("--topology", choices=("demo", "classic"),
                        help="which fleet to serve: demo (the default: Uniform and Flexible scale sets, a VM of no "
                             "scale set, data disks behind SSH, an orphaned disk), or classic (the six Uniform "
                             "scale sets of the first demo)")
    parser.add_argument("--scale-sets", type=_number(int, "--scale-sets", f"1 to {MAX_SCALE_SETS}",
                                                     lambda v: 1 <= v <= MAX_SCALE_SETS),
                        metavar="N", help="generate a large fleet of N scale sets ...")
    parser.add_argument("--instances", type=_number(int, "--instances", f"0 to {MAX_INSTANCES} (Azure's limit per "
                                                    f"scale set)", lambda v: 0 <= v <= MAX_INSTANCES),
                        metavar="N", help=f"... one of them with N instances (at most {MAX_INSTANCES})")
    parser.add_argument("--flexible", action="store_true", help="make the large fleet's big scale set Flexible")
    parser.add_argument("--subscriptions", type=_number(int, "--subscriptions", f"1 to {MAX_SUBSCRIPTIONS}",
                                                        lambda v: 1 <= v <= MAX_SUBSCRIPTIONS),
                        default=1, metavar="N", help="serve N subscriptions (the others small generated fleets)")
    parser.add_argument("--throttle-after", type=_number(int, "--throttle-after", "a whole number, 1 or more",
                                                         lambda v: v >= 1),
                        metavar="N", help="answer 429 + Retry-After after N reads per minute")
    parser.add_argument("--retry-after", type=_number(int, "--retry-after", "whole seconds, 0 to 86400",
                                                      lambda v: 0 <= v <= 86400),
                        metavar="S", help="the Retry-After of those 429s (default: until the window frees up)")
    parser.add_argument("--page-size", type=_number(int, "--page-size", f"1 to {MAX_PAGE_SIZE}",
                                                    lambda v: 1 <= v <= MAX_PAGE_SIZE),
                        default=100, metavar="N", help="items per page of a list (default 100)")
    parser.add_argument("--no-ssh", action="store_true", help="do not start SSH servers on the NAT ports")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="log every request (method, path, status, duration) on stderr")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.retry_after is not None and args.throttle_after is None:
            raise _UsageError("--retry-after needs --throttle-after (there is nothing to retry after otherwise)")
        if args.topology is not None and (args.scale_sets is not None or args.instances is not None):
            raise _UsageError("--topology and --scale-sets/--instances choose different fleets: give one")
    except _UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:
        log.setLevel(logging.INFO)
    try:
        # Built before the event loop runs, so Ctrl-C interrupts even a large fleet's construction.
        print(f"building the simulated fleet ... (Ctrl-C stops {PROG} at any moment)", flush=True)
        sim = _build(args)
        return asyncio.run(_serve(args, sim))
    except KeyboardInterrupt:
        print(f"{PROG}: stopped", file=sys.stderr)
        return 0
    except OSError as exc:
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
              f"(choose another --port or --host)", file=sys.stderr)
        return 1


def _build(args: argparse.Namespace) -> Any:
    from .simulator import Simulator
    from .topology import classic_topology, demo_topology, large_topology

    if args.scale_sets is not None or args.instances is not None:
        topology = large_topology(scale_sets=args.scale_sets or 50,
                                  instances=args.instances if args.instances is not None else MAX_INSTANCES,
                                  flexible=args.flexible)
    else:
        topology = classic_topology() if args.topology == "classic" else demo_topology()
    sim = Simulator(topology, speed=args.speed, latency=args.latency, ssh=not args.no_ssh,
                    page_size=args.page_size, throttle_after=args.throttle_after, retry_after=args.retry_after,
                    host=args.host, subscriptions=args.subscriptions)
    if args.verbose:
        sim.arm.on_request = _log_request
    return sim


def _log_request(method: str, path: str, status: int, seconds: float) -> None:
    # The path only: query strings and headers (the token) stay out of the log.
    log.info("%s %s %d %.1f ms", method, path, status, seconds * 1000)


async def _serve(args: argparse.Namespace, sim: Any) -> int:
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
        scale_sets = sum(len(w.scale_sets) for w in sim.worlds)
        instances = sum(len(s.instances) for w in sim.worlds for s in w.scale_sets.values())
        loose = sum(1 for w in sim.worlds for vm in w.virtual_machines.values() if vm.scale_set is None)
        print(f"vmss-tui simulator listening on {endpoint}", flush=True)
        print(f"subscription: {sub}" + (f" (and {len(sim.worlds) - 1} more)" if len(sim.worlds) > 1 else ""),
              flush=True)
        print(f"fleet: {scale_sets} scale sets, {instances} instances"
              + (f", {loose} VMs of no scale set" if loose else "") + f", speed x{args.speed:g}", flush=True)
        print(f"token: {sim.bearer_token} (the only bearer token this simulator accepts; new each run)", flush=True)
        key_option = ""
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
            key_option = f" -i {shlex.quote(str(sim.ssh_client_key_path))}"  # the console's SSH sessions log in with it
        print(f"use it: {TOKEN_ENV}={sim.bearer_token} vmss-tui --arm-endpoint {endpoint} --subscription {sub}"
              + key_option, flush=True)
        print(f"    or: export {ENDPOINT_ENV}={endpoint} AZURE_SUBSCRIPTION_ID={sub} {TOKEN_ENV}={sim.bearer_token}",
              flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"{PROG}: warning: listening on {args.host}: anyone who can reach it and knows the token can change "
                  f"the simulated fleet", file=sys.stderr, flush=True)
        print("Ctrl-C stops it.", flush=True)
        await stop.wait()
    finally:
        await sim.stop()
    print(f"{PROG}: stopped", file=sys.stderr, flush=True)
    return 0
