"""Model changes as typed: validation, before -> after, and what the upgrade policy then does."""

from __future__ import annotations

import base64

import pytest

from vmss_tui.domain.model_change import (
    CUSTOM_DATA_MAX_BYTES,
    FieldChange,
    ImageRef,
    ModelChange,
    ModelChangeError,
    model_change_from_input,
    model_diff,
    next_free_lun,
    parse_image,
    parse_tag,
    parse_vm_size,
    policy_consequence,
    rolling_batch_size,
    tags_after,
    validate_data_disk,
)
from vmss_tui.domain.models import RollingPolicy, ScaleSet

GALLERY = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-images/providers/"
           "Microsoft.Compute/galleries/gallery1/images/web/versions/1.4.0")


def scale_set(mode: str = "Rolling", capacity: int = 6, **overrides) -> ScaleSet:
    values = dict(
        id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web",
        name="web", resource_group="rg", subscription_id="s", location="westeurope", sku="Standard_D2s_v5",
        capacity=capacity, upgrade_mode=mode, orchestration_mode="Uniform", provisioning_state="Succeeded",
        tier="Standard", image="Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202507010",
        rolling_policy=RollingPolicy(max_batch_instance_percent=34, pause_time_between_batches="PT30S",
                                     max_unhealthy_upgraded_instance_percent=20) if mode == "Rolling" else None,
        tags=(("env", "prod"), ("team", "web")),
    )
    values.update(overrides)
    return ScaleSet(**values)


def problems(fn, *args, **kwargs) -> tuple[str, ...]:
    with pytest.raises(ModelChangeError) as info:
        fn(*args, **kwargs)
    return info.value.problems


# ---------------------------------------------------------------- fields as typed


def test_parse_image_marketplace_and_gallery() -> None:
    assert parse_image(" Canonical:ubuntu-24_04-lts:server:latest ") == ImageRef("Canonical", "ubuntu-24_04-lts", "server",
                                                                                 "latest")
    assert parse_image("Canonical:ubuntu-24_04-lts:server:LATEST").is_latest
    pinned = parse_image("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202509010")
    assert pinned.version == "22.04.202509010" and not pinned.is_latest and not pinned.is_gallery
    gallery = parse_image(GALLERY)
    assert gallery.is_gallery and not gallery.is_latest and gallery.text() == GALLERY
    assert parse_image(GALLERY.rsplit("/versions/", 1)[0]).is_latest  # no version: the gallery's latest


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", "image: empty (type publisher:offer:sku:version or a gallery image id)"),
        ("Canonical:ubuntu", "image: 'Canonical:ubuntu' has 2 parts; type publisher:offer:sku:version"),
        ("Canonical:ubuntu:server:22.04", "image: version '22.04' is not major.minor.build"),
        ("Can onical:ubuntu:server:latest", "image: publisher 'Can onical' may hold only"),
        ("/subscriptions/x/galleries/g", "image: '/subscriptions/x/galleries/g' is not a gallery image id"),
    ],
)
def test_parse_image_problems(typed: str, expected: str) -> None:
    found = problems(parse_image, typed)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_sizes_and_tags() -> None:
    assert parse_vm_size(" Standard_D4s_v5 ") == "Standard_D4s_v5"
    assert parse_vm_size("Standard_NC24ads_A100_v4") == "Standard_NC24ads_A100_v4"
    assert problems(parse_vm_size, "D4s_v5") == ("size: 'D4s_v5' is not a VM size (e.g. Standard_D2s_v5, Standard_B2ms)",)
    assert parse_tag("owner=ops=team") == ("owner", "ops=team")
    assert parse_tag("empty=") == ("empty", "")
    assert problems(parse_tag, "owner") == ("tag: 'owner' needs the form name=value",)
    assert problems(parse_tag, "a/b=1") == ("tag: tag name 'a/b' may not contain /",)
    assert problems(parse_tag, "=1") == ("tag: a tag needs a name",)
    assert problems(parse_tag, "k=" + "v" * 257) == ("tag: value of 'k' is 257 characters; at most 256",)


def test_all_problems_at_once_each_naming_its_field() -> None:
    found = problems(
        model_change_from_input, image="nope", vm_size="big", set_tags=["ok=1", "bad", "x=1"], remove_tags=["x"],
        custom_data="é" * (CUSTOM_DATA_MAX_BYTES // 2 + 1),
    )
    assert [p.split(":", 1)[0] for p in found] == ["image", "size", "tag 2", "tags", "custom data"]
    assert found[-1] == f"custom data: {CUSTOM_DATA_MAX_BYTES + 1:,} bytes; Azure takes at most {CUSTOM_DATA_MAX_BYTES:,}"


def test_blank_fields_change_nothing_and_the_tag_limit_counts_current_tags() -> None:
    assert model_change_from_input(image=" ", vm_size="", set_tags=["  "], remove_tags=[""]).is_empty
    current = {f"t{i}": "v" for i in range(49)}
    assert model_change_from_input(set_tags=["new=1"], current_tags=current).set_tags == (("new", "1"),)
    found = problems(model_change_from_input, set_tags=["new=1", "other=2"], current_tags=current)
    assert found == ("tags: the scale set would have 51 tags; Azure allows 50",)


# ---------------------------------------------------------------- before -> after


def test_diff_shows_only_what_changes() -> None:
    web = scale_set()
    change = model_change_from_input(
        image="Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202509010",
        vm_size="Standard_D2s_v5",  # as it is: no row
        set_tags=["env=prod", "owner=ops"],  # env unchanged: no row
        remove_tags=["team", "absent"],  # absent: no row
        custom_data="#cloud-config\n",
    )
    assert model_diff(web, change) == (
        FieldChange("image", "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202507010",
                    "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202509010"),
        FieldChange("tag owner", None, "ops"),
        FieldChange("tag team", "web", None),
        FieldChange("custom data", "(not readable)", "14 bytes"),
    )
    assert model_diff(web, ModelChange(vm_size="standard_d2s_v5")) == ()
    assert model_diff(web, ModelChange(vm_size="Standard_D4s_v5")) == (FieldChange("size", "Standard_D2s_v5", "Standard_D4s_v5"),)
    assert model_diff(web, ModelChange(image=parse_image(GALLERY)))[0].after == GALLERY
    assert tags_after(web, change) == {"env": "prod", "owner": "ops"}


def test_policy_consequence_per_mode() -> None:
    change = ModelChange(vm_size="Standard_D4s_v5")
    assert policy_consequence(scale_set("Automatic"), change) == "Automatic policy: Azure updates all 6 instances at once, now."
    assert policy_consequence(scale_set("Rolling"), change) == (
        "Rolling policy: Azure rolls it out by itself in batches of 2 (34% of 6 instances), pausing PT30S between "
        "batches, and stops when more than 20% of the upgraded instances are unhealthy.")
    assert policy_consequence(scale_set("Manual", capacity=1), change) == (
        "Manual policy: nothing changes on the 1 instance until they are updated (update instances, or a guarded "
        "rollout); new instances get the new model.")
    assert policy_consequence(scale_set(), ModelChange(set_tags=(("a", "b"),))) == (
        "Tags belong to the scale set resource: no instance is updated.")
    assert policy_consequence(scale_set(), ModelChange()) == "Nothing to change."
    assert policy_consequence(scale_set("Automatic"), ModelChange(custom_data="x")).endswith(
        "Custom data reaches an instance only when it is reimaged or newly created.")
    assert rolling_batch_size(scale_set(capacity=2)) == 1  # never a batch of none
    assert rolling_batch_size(scale_set(capacity=1000)) == 340


# ---------------------------------------------------------------- data disks


def test_data_disk_validation_and_next_free_lun() -> None:
    assert validate_data_disk(size_gb=128, sku="premium_lrs", used_luns=[0, 1, 3]) == (128, "Premium_LRS", 2, "None")
    assert validate_data_disk(size_gb="64", sku="StandardSSD_LRS", lun="5", caching="readonly") == (
        64, "StandardSSD_LRS", 5, "ReadOnly")
    assert next_free_lun(range(64)) is None
    found = problems(validate_data_disk, size_gb=0, sku="SSD", lun=1, caching="Sometimes", used_luns=[1])
    assert found == (
        "size: 0 GB is out of range (1-32767 GB)",
        "sku: 'SSD' is not a disk SKU (one of Standard_LRS, StandardSSD_LRS, Premium_LRS, PremiumV2_LRS, UltraSSD_LRS, "
        "StandardSSD_ZRS, Premium_ZRS)",
        "caching: 'Sometimes' is not one of None, ReadOnly, ReadWrite",
        "lun: 1 is taken (lowest free: 0)",
    )
    assert problems(validate_data_disk, size_gb=32768, sku="Premium_LRS") == ("size: 32768 GB is out of range (1-32767 GB)",)
    assert problems(validate_data_disk, size_gb="1.5", sku="Premium_LRS")[0].startswith("size: '1.5' is not a whole number")
    assert problems(validate_data_disk, size_gb=True, sku="Premium_LRS")[0].startswith("size: True is not a whole number")
    assert problems(validate_data_disk, size_gb=8, sku="UltraSSD_LRS", caching="ReadWrite") == (
        "caching: UltraSSD_LRS disks take no host caching (use None)",)
    assert problems(validate_data_disk, size_gb=8, sku="Premium_LRS", lun=64) == ("lun: 64 is not a LUN (0-63)",)
    assert problems(validate_data_disk, size_gb=8, sku="Premium_LRS", used_luns=range(64)) == (
        "lun: all LUNs 0-63 are taken",)


def test_custom_data_is_sent_base64() -> None:
    from vmss_tui.domain.model_change import encoded_custom_data

    assert base64.b64decode(encoded_custom_data("#cloud-config\nruncmd: [echo hi]\n")).decode() == (
        "#cloud-config\nruncmd: [echo hi]\n")
