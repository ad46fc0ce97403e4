"""The simulator's wire output on the default topology, captured for a before/after comparison.

    python benchmarks/sim_wire.py capture before.jsonl      # deterministic: manual clock, seeded ids
    ... change the simulator ...
    python benchmarks/sim_wire.py capture after.jsonl
    python benchmarks/sim_wire.py compare before.jsonl after.jsonl

About 440 requests: every list and resource (compute, network, disks, instance views, NICs, IP
configurations, LB children), paging, the error answers (404 of each kind, 405, 400, 401, 409),
then actions, scaling, model changes and upgrades over simulated time. `compare` prints each
response whose status, headers or body differ (JSON paths), ignoring the port. This is how the
rework of the simulator into a small ARM was checked to keep the default topology byte-identical.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmss_tui.sim import ManualClock, Simulator  # noqa: E402

SKIP_HEADERS = {"date", "server", "content-length"}


async def capture(out_path: Path, rolling: bool = True) -> None:
    clock = ManualClock()
    clock._wall_origin = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # timestamps independent of today
    sim = Simulator(clock=clock, ip_prefix=(77, 1), ssh=False, seed=20260101)
    await sim.start()
    token = sim.bearer_token
    sub = sim.subscription_id
    base = sim.endpoint
    subscription_path = f"/subscriptions/{sub}"
    out = out_path.open("w")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        async def call(method: str, path: str, body: Any = None, api: str = "2026-04-01", raw_query: str | None = None,
                       headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
            url = base + path
            if raw_query is not None:
                url += "?" + raw_query
            elif "api-version" not in path:
                url += ("&" if "?" in path else "?") + f"api-version={api}"
            kw = {}
            if body is not None:
                kw["json"] = body
            async with session.request(method, url, headers=headers, **kw) as r:
                data = await r.read()
                hdrs = {k: v for k, v in r.headers.items() if k.lower() not in SKIP_HEADERS}
                out.write(json.dumps({"req": f"{method} {path} {raw_query or ''}", "status": r.status,
                                      "headers": hdrs, "body": data.decode()}) + "\n")
                try:
                    return r.status, json.loads(data) if data else None, hdrs
                except ValueError:
                    return r.status, None, hdrs
        # ---- discovery reads
        await call("GET", "/subscriptions", api="2022-12-01")
        await call("GET", subscription_path, api="2022-12-01")
        _, rgs, _ = await call("GET", f"{subscription_path}/resourcegroups", api="2021-04-01")
        for rg in rgs["value"]:
            await call("GET", rg["id"], api="2021-04-01")
        _, sets, _ = await call("GET", f"{subscription_path}/providers/Microsoft.Compute/virtualMachineScaleSets")
        await call("GET", f"{subscription_path}/providers/Microsoft.Compute/locations/westeurope/virtualMachineScaleSets")
        for rg in rgs["value"]:
            await call("GET", rg["id"] + "/providers/Microsoft.Compute/virtualMachineScaleSets")
            await call("GET", rg["id"] + "/providers/Microsoft.Compute/disks", api="2026-03-02")
            for t in ("loadBalancers", "publicIPAddresses", "networkSecurityGroups", "virtualNetworks"):
                _, lst, _ = await call("GET", rg["id"] + f"/providers/Microsoft.Network/{t}", api="2026-03-01")
                for item in lst["value"]:
                    _, body, _ = await call("GET", item["id"], api="2026-03-01")
                    for prop, val in body["properties"].items():
                        if isinstance(val, list) and val and isinstance(val[0], dict) and "id" in val[0] and "name" in val[0]:
                            await call("GET", item["id"] + "/" + prop, api="2026-03-01")
                            for child in val:
                                await call("GET", child["id"], api="2026-03-01")
        await call("GET", f"{subscription_path}/providers/Microsoft.Compute/disks", api="2026-03-02")
        for t in ("loadBalancers", "publicIPAddresses", "networkSecurityGroups", "virtualNetworks"):
            await call("GET", f"{subscription_path}/providers/Microsoft.Network/{t}", api="2026-03-01")
        for ss in sets["value"]:
            sid = ss["id"]
            await call("GET", sid)
            await call("GET", sid + "/instanceView")
            await call("GET", sid + "/rollingUpgrades/latest")
            await call("GET", sid + "/virtualMachines")
            _, vms, _ = await call("GET", sid + "/virtualMachines", raw_query="$expand=instanceView&api-version=2026-04-01")
            await call("GET", sid + "/networkInterfaces", api="2018-10-01")
            await call("GET", sid + "/publicipaddresses", api="2018-10-01")
            for vm in vms["value"]:
                await call("GET", vm["id"])
                await call("GET", vm["id"], raw_query="$expand=instanceView&api-version=2026-04-01")
                await call("GET", vm["id"] + "/instanceView")
                _, nics, _ = await call("GET", vm["id"] + "/networkInterfaces", api="2018-10-01")
                for nic in nics["value"]:
                    await call("GET", nic["id"], api="2018-10-01")
                    await call("GET", nic["id"] + "/ipConfigurations", api="2018-10-01")
                    for ipc in nic["properties"]["ipConfigurations"]:
                        await call("GET", ipc["id"], api="2018-10-01")
                        await call("GET", ipc["id"] + "/publicIPAddresses", api="2018-10-01")
                for d in [vm["properties"]["storageProfile"]["osDisk"], *vm["properties"]["storageProfile"]["dataDisks"]]:
                    await call("GET", d["managedDisk"]["id"], api="2026-03-02")
        # paging
        sim.page_size = 2
        web = f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-web"
        _, page, _ = await call("GET", web + "/virtualMachines", raw_query="$expand=instanceView&api-version=2026-04-01")
        while page.get("nextLink"):
            link = page["nextLink"][len(base):]
            path, _, q = link.partition("?")
            _, page, _ = await call("GET", path, raw_query=q)
        sim.page_size = 100
        # errors
        batch = f"{subscription_path}/resourceGroups/rg-batch-dev"
        await call("GET", f"{subscription_path}/resourceGroups/rg-missing/providers/Microsoft.Compute/virtualMachineScaleSets")
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachineScaleSets/nope")
        await call("GET", web + "/virtualMachines/0")
        await call("GET", web + "/virtualMachines/abc")
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Network/loadBalancers/nope", api="2026-03-01")
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Network/loadBalancers/lb-web/inboundNatRules/nope", api="2026-03-01")
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Network/loadBalancers/lb-web/bogus", api="2026-03-01")
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/disks/nope", api="2026-03-02")
        await call("GET", "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Compute/virtualMachineScaleSets")
        await call("GET", web, raw_query="")
        await call("DELETE", web)
        await call("GET", "/nothing/here")
        await call("POST", web + "/virtualMachines/7/restart")
        await call("POST", web + "/restart", body={"instanceIds": ["99"]})
        await call("POST", web + "/manualupgrade", body={"instanceIds": []})
        await call("POST", web + "/rollingUpgrades/cancel")
        await call("POST", f"{batch}/providers/Microsoft.Network/loadBalancers/lb-batch/backendAddressPools/bepool-batch/queryInboundNatRulePortMapping",
                  body={"ipAddress": "10.2.0.4"}, api="2026-03-01")
        await call("POST", f"{batch}/providers/Microsoft.Network/loadBalancers/lb-batch/backendAddressPools/bepool-batch/queryInboundNatRulePortMapping",
                  body={"ipAddress": "10.99.0.4"}, api="2026-03-01")
        await call("POST", f"{batch}/providers/Microsoft.Network/loadBalancers/lb-batch/backendAddressPools/bepool-batch/queryInboundNatRulePortMapping",
                  body={}, api="2026-03-01")
        async with aiohttp.ClientSession() as anon:
            async with anon.get(base + "/subscriptions?api-version=2022-12-01") as r:
                out.write(json.dumps({"req": "GET /subscriptions (no auth)", "status": r.status, "body": (await r.read()).decode()}) + "\n")
        # ---- mutations
        async def op_poll(hdrs: dict[str, str]) -> None:
            if "Azure-AsyncOperation" not in hdrs:
                return
            a = hdrs["Azure-AsyncOperation"][len(base):]
            p, _, q = a.partition("?")
            await call("GET", p, raw_query=q)
            if "Location" in hdrs:
                location = hdrs["Location"][len(base):]
                p, _, q = location.partition("?")
                await call("GET", p, raw_query=q)
        def adv(seconds: float) -> None:
            sim.advance(seconds)
        _, _, h = await call("POST", web + "/virtualMachines/1/restart")
        await op_poll(h)
        adv(1.0)
        await call("GET", web + "/virtualMachines/1/instanceView")
        adv(0.5)
        await op_poll(h)
        await call("GET", web + "/virtualMachines/1/instanceView")
        adv(8.0)
        await call("GET", web + "/virtualMachines/1/instanceView")
        api = f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-api"
        _, _, h = await call("POST", api + "/poweroff", body={"instanceIds": ["0", "1"]})
        adv(10)
        await call("GET", api + "/virtualMachines", raw_query="$expand=instanceView&api-version=2026-04-01")
        adv(10)
        await op_poll(h)
        await call("GET", api + "/instanceView")
        _, _, h = await call("POST", api + "/deallocate", body={"instanceIds": ["1"]})
        adv(31)
        await op_poll(h)
        _, _, h = await call("POST", api + "/start")
        adv(7)
        await op_poll(h)
        await call("GET", api + "/virtualMachines", raw_query="$expand=instanceView&api-version=2026-04-01")
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/disks", api="2026-03-02")
        bvm = f"{batch}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-batch"
        _, _, h = await call("PATCH", bvm, body={"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "22.04.209901010"}}}}})
        await op_poll(h)
        adv(2)
        await op_poll(h)
        await call("GET", bvm + "/virtualMachines")
        _, _, h = await call("POST", bvm + "/manualupgrade", body={"instanceIds": ["0", "2"]})
        adv(10)
        await call("GET", bvm + "/virtualMachines", raw_query="$expand=instanceView&api-version=2026-04-01")
        adv(11)
        await op_poll(h)
        await call("GET", bvm + "/virtualMachines")
        _, _, h = await call("POST", bvm + "/reimage", body={"instanceIds": ["1"]})
        adv(31)
        await op_poll(h)
        _, _, h = await call("PATCH", web, body={"sku": {"capacity": 8}})
        adv(20)
        await call("GET", web + "/virtualMachines", raw_query="$expand=instanceView&api-version=2026-04-01")
        adv(21)
        await op_poll(h)
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Network/loadBalancers/lb-web", api="2026-03-01")
        await call("GET", web + "/networkInterfaces", api="2018-10-01")
        _, _, h = await call("PATCH", web, body={"sku": {"capacity": 5}})
        adv(16)
        await op_poll(h)
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Network/loadBalancers/lb-web", api="2026-03-01")
        _, _, h = await call("POST", web + "/delete", body={"instanceIds": ["2"]})
        adv(16)
        await op_poll(h)
        _, _, h = await call("DELETE", api + "/virtualMachines/2")
        adv(16)
        await op_poll(h)
        await call("GET", web)
        await call("GET", f"{subscription_path}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/disks", api="2026-03-02")
        _, _, h = await call("PATCH", web, body={"sku": {"capacity": 6}})
        adv(41)
        await op_poll(h)
        await call("GET", web + "/virtualMachines")
        sim.fail_action("start", "AllocationFailed", "Allocation failed.")
        _, _, h = await call("POST", web + "/virtualMachines/5/start")
        adv(7)
        await op_poll(h)
        await call("GET", web + "/virtualMachines/5/instanceView")
        dvm = f"{batch}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-data"
        _, _, h = await call("PATCH", dvm, body={"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "22.04.209901010"}}}}})
        adv(21)
        await op_poll(h)
        await call("GET", dvm + "/virtualMachines")
        if rolling:
            # A rolling upgrade last: a PATCH on a Rolling scale set now starts it by itself (on purpose).
            _, _, h = await call("PATCH", web, body={"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "22.04.209901011"}}}}})
            adv(1)
            _, _, h = await call("POST", web + "/osRollingUpgrade")
            for _ in range(12):
                adv(5)
                await call("GET", web + "/rollingUpgrades/latest")
            await op_poll(h)
    out.close()
    await sim.stop()


def _load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(re.sub(r"http://127\.0\.0\.1:\d+", "{base}", line)) for line in path.open()]


def _diff(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if type(a) is not type(b):
        yield path, a, b
    elif isinstance(a, dict):
        if list(a) != list(b):
            yield path + " keys", list(a), list(b)
        for key in a:
            if key in b:
                yield from _diff(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        if len(a) != len(b):
            yield path + " len", len(a), len(b)
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _diff(x, y, f"{path}[{index}]")
    elif a != b:
        yield path, a, b


def compare(before_path: Path, after_path: Path, limit: int) -> int:
    before, after = _load(before_path), _load(after_path)
    if len(before) != len(after):
        print(f"row count {len(before)} -> {len(after)}")
    differences = 0
    for x, y in zip(before, after, strict=False):
        if x == y:
            continue
        differences += 1
        if differences > limit:
            continue
        print(f"== {x['req']}  {x['status']} -> {y['status']}" if x["req"] == y["req"] else f"REQ {x['req']} | {y['req']}")
        try:
            bx, by = json.loads(x["body"] or "null"), json.loads(y["body"] or "null")
        except ValueError:
            bx, by = x["body"], y["body"]
        for found in list(_diff(bx, by))[:8]:
            print("   body", found)
        if bx == by and x["body"] != y["body"]:
            print("   body bytes differ (same JSON)")
        for key in sorted(set(x.get("headers", {})) | set(y.get("headers", {}))):
            if x.get("headers", {}).get(key) != y.get("headers", {}).get(key):
                print("   header", key, x.get("headers", {}).get(key), "|", y.get("headers", {}).get(key))
    print(f"{differences} responses differ")
    return 1 if differences or len(before) != len(after) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cap = commands.add_parser("capture")
    cap.add_argument("out", type=Path)
    cap.add_argument("--no-rolling", action="store_true", help="leave out the rolling upgrade at the end")
    cmp = commands.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    cmp.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    if args.command == "capture":
        asyncio.run(capture(args.out, rolling=not args.no_rolling))
        return 0
    return compare(args.before, args.after, args.limit)


if __name__ == "__main__":
    sys.exit(main())
