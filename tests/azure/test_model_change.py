"""Model changes through the Fleet: the PATCH carries only what changed, against the simulator."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from vmss_tui.azure.errors import FleetError
from vmss_tui.azure.model import etag_of, model_patch_body
from vmss_tui.domain.model_change import ModelChange, model_change_from_input, parse_image

WEB = "rg-web-prod"
NEXT = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.209901010"
GALLERY = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-images/providers/"
           "Microsoft.Compute/galleries/gallery1/images/web/versions/1.4.0")


def without(raw: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of the resource JSON without the given paths, and without what changes by itself."""
    data = copy.deepcopy(raw)
    for path in (*paths, ("properties", "provisioningState"), ("etag",)):
        node = data
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    return data


async def wait_succeeded(result: Any) -> None:
    assert result.status == "Succeeded", result


async def test_patch_body_has_only_what_changed(fleet) -> None:
    web = await fleet.get_scale_set(WEB, "vmss-web")
    change = model_change_from_input(image=NEXT, vm_size="Standard_D2s_v3", set_tags=["env=prod", "owner=ops"],
                                     remove_tags=["team"], custom_data="#cloud-config\n")
    assert model_patch_body(web, change) == {
        "properties": {"virtualMachineProfile": {
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                                  "sku": "22_04-lts-gen2", "version": "22.04.209901010"}},
            "osProfile": {"customData": base64.b64encode(b"#cloud-config\n").decode()},
        }},
        # The size is the current one (no sku); tags are a whole map in ARM.
        "tags": {"env": "prod", "owner": "ops"},
    }
    assert model_patch_body(web, ModelChange(vm_size="Standard_D4s_v5")) == {
        "sku": {"name": "Standard_D4s_v5", "tier": "Standard"}}
    # Marketplace -> gallery clears the marketplace keys (null removes in a PATCH), and back.
    to_gallery = model_patch_body(web, ModelChange(image=parse_image(GALLERY)))
    assert to_gallery["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] == {
        "id": GALLERY, "publisher": None, "offer": None, "sku": None, "version": None}
    assert model_patch_body(web, ModelChange(image=parse_image(web.image or ""))) == {}


async def test_update_model_changes_the_model_and_nothing_else(fleet, simulator) -> None:
    web = await fleet.get_scale_set(WEB, "vmss-web")
    before = web.raw
    writes = simulator.write_count
    change = model_change_from_input(image=NEXT, vm_size="Standard_D4s_v5", set_tags=["owner=ops"],
                                     remove_tags=["team"])
    await wait_succeeded(await fleet.update_model(web, change))
    assert simulator.write_count == writes + 1  # one PATCH
    method, path, body = simulator.write_log[-1]
    assert (method, path.rsplit("/", 1)[-1]) == ("PATCH", "vmss-web")
    assert body == {  # what the simulator received: the changed fields, nothing else
        "sku": {"name": "Standard_D4s_v5", "tier": "Standard"},
        "tags": {"env": "prod", "owner": "ops"},
        "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {
            "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
            "version": "22.04.209901010"}}}},
    }
    after = await fleet.get_scale_set(WEB, "vmss-web")
    assert after.image == NEXT and after.sku == "Standard_D4s_v5" and after.tier == "Standard"
    assert dict(after.tags) == {"env": "prod", "owner": "ops"}
    assert after.capacity == web.capacity  # the size change kept the capacity
    image_path = ("properties", "virtualMachineProfile", "storageProfile", "imageReference")
    assert without(after.raw, image_path, ("sku",), ("tags",)) == without(before, image_path, ("sku",), ("tags",))
    # Under Rolling, the instances now run an older model than the scale set's.
    assert any(i.latest_model is False for i in await fleet.list_instances(after))


async def test_custom_data_is_patched_base64_and_never_read_back(fleet) -> None:
    batch = await fleet.get_scale_set("rg-batch-dev", "vmss-batch")
    await wait_succeeded(await fleet.update_model(batch, ModelChange(custom_data="#!/bin/sh\necho hi\n")))
    after = await fleet.get_scale_set("rg-batch-dev", "vmss-batch")
    assert "customData" not in str(after.raw)  # scrubbed from what the console keeps, whatever ARM answers


async def test_a_change_that_changes_nothing_sends_nothing(fleet, simulator) -> None:
    web = await fleet.get_scale_set(WEB, "vmss-web")
    writes = simulator.write_count
    with pytest.raises(FleetError) as nothing:
        await fleet.update_model(web, ModelChange(vm_size=web.sku, set_tags=tuple(web.tags)))
    assert "nothing to change" in nothing.value.message
    assert simulator.write_count == writes


async def test_the_patch_is_conditional_on_the_etag_read(simulator, open_fleet, monkeypatch) -> None:
    """If-Match carries the ETag of the scale set the person saw (where ARM gave one)."""
    from dataclasses import replace

    from vmss_tui.azure.fleet import Fleet

    sent: list[tuple[str, str | None]] = []
    original = Fleet._on_request

    def on_request(self: Fleet, request: Any) -> None:
        sent.append((request.http_request.method, request.http_request.headers.get("If-Match")))
        original(self, request)

    monkeypatch.setattr(Fleet, "_on_request", on_request)
    fleet = await open_fleet(simulator)
    web = await fleet.get_scale_set(WEB, "vmss-web")
    assert etag_of(replace(web, raw=None)) is None
    seen = replace(web, raw={**web.raw, "etag": '"7"'})
    await wait_succeeded(await fleet.update_model(seen, ModelChange(set_tags=(("owner", "ops"),))))
    assert ("PATCH", '"7"') in sent
    sent.clear()
    await wait_succeeded(await fleet.update_model(replace(web, raw={}), ModelChange(set_tags=(("owner", "dev"),))))
    assert ("PATCH", None) in sent  # no ETag known: an unconditional PATCH
