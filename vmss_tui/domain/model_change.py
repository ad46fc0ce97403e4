"""A change of a scale set's model, checked as typed, shown as before -> after, and what the
upgrade policy will then do with it.

Each `parse_*` function takes what a person typed into one field and returns the value or raises
`ModelChangeError` with one line per problem (which field, what was wrong, what is allowed).
`model_change_from_input` checks every field and reports all problems at once.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vmss_tui.domain.models import ScaleSet

CUSTOM_DATA_MAX_BYTES = 65535  # Azure: customData decodes to at most 65,535 bytes
TAG_NAME_MAX = 512
TAG_VALUE_MAX = 256
TAGS_MAX = 50
TAG_NAME_FORBIDDEN = set('<>%&\\?/')


class ModelChangeError(ValueError):
    """What was wrong with the typed change: one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A marketplace image (publisher/offer/sku/version) or a gallery image (version) id."""

    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    version: str | None = None
    gallery_image_id: str | None = None

    @property
    def is_gallery(self) -> bool:
        return self.gallery_image_id is not None

    @property
    def is_latest(self) -> bool:
        """A version Azure resolves itself: "latest", or a gallery image id without /versions/."""
        if self.gallery_image_id is not None:
            return "/versions/" not in self.gallery_image_id.casefold()
        return (self.version or "").casefold() == "latest"

    def text(self) -> str:
        if self.gallery_image_id is not None:
            return self.gallery_image_id
        return ":".join(p for p in (self.publisher, self.offer, self.sku, self.version) if p)


@dataclass(frozen=True, slots=True)
class ModelChange:
    """What to change in the model; None / empty: leave as it is."""

    image: ImageRef | None = None
    vm_size: str | None = None  # the scale set's SKU name, e.g. Standard_D2s_v5
    set_tags: tuple[tuple[str, str], ...] = ()
    remove_tags: tuple[str, ...] = ()
    custom_data: str | None = None  # the text; the PATCH carries it base64-encoded

    @property
    def is_empty(self) -> bool:
        return (self.image is None and self.vm_size is None and not self.set_tags and not self.remove_tags
                and self.custom_data is None)

    @property
    def changes_instances(self) -> bool:
        """Tags belong to the scale set resource; the rest is the instances' model."""
        return self.image is not None or self.vm_size is not None or self.custom_data is not None


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str  # "image", "size", "tag <name>", "custom data"
    before: str | None  # None: absent
    after: str | None  # None: removed


# ---------------------------------------------------------------- parsing what was typed

_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_GALLERY_IMAGE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+"
    r"(?:/versions/[^/]+)?$",
    re.IGNORECASE,
)
_VM_SIZE = re.compile(r"^(Standard|Basic)_[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$")


def parse_image(text: str, *, where: str = "image") -> ImageRef:
    """`publisher:offer:sku:version` (version: major.minor.build or `latest`), or a gallery image
    id `/subscriptions/.../galleries/G/images/I[/versions/V]`."""
    value = text.strip()
    if not value:
        raise ModelChangeError([f"{where}: empty (type publisher:offer:sku:version or a gallery image id)"])
    if value.startswith("/"):
        if not _GALLERY_IMAGE.match(value):
            raise ModelChangeError([
                f"{where}: {value!r} is not a gallery image id "
                "(/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/galleries/G/images/I[/versions/V])"
            ])
        return ImageRef(gallery_image_id=value)
    parts = value.split(":")
    if len(parts) != 4:
        raise ModelChangeError([
            f"{where}: {value!r} has {len(parts)} part{'s' if len(parts) != 1 else ''}; "
            "type publisher:offer:sku:version (e.g. Canonical:ubuntu-24_04-lts:server:latest)"
        ])
    problems: list[str] = []
    for label, part in zip(("publisher", "offer", "sku"), parts[:3], strict=True):
        if not _NAME_PART.match(part):
            problems.append(f"{where}: {label} {part!r} may hold only letters, digits, '.', '-' and '_'")
    version = parts[3]
    if version.casefold() != "latest" and not _VERSION.match(version):
        problems.append(f"{where}: version {version!r} is not major.minor.build (e.g. 22.04.202404090) or latest")
    if problems:
        raise ModelChangeError(problems)
    return ImageRef(parts[0], parts[1], parts[2], "latest" if version.casefold() == "latest" else version)


def parse_vm_size(text: str, *, where: str = "size") -> str:
    value = text.strip()
    if not _VM_SIZE.match(value):
        raise ModelChangeError([f"{where}: {value!r} is not a VM size (e.g. Standard_D2s_v5, Standard_B2ms)"])
    return value


def _tag_name_problem(name: str, where: str) -> str | None:
    if not name:
        return f"{where}: a tag needs a name"
    if len(name) > TAG_NAME_MAX:
        return f"{where}: tag name is {len(name)} characters; at most {TAG_NAME_MAX}"
    bad = sorted(set(name) & TAG_NAME_FORBIDDEN)
    if bad:
        return f"{where}: tag name {name!r} may not contain {' '.join(bad)}"
    if name != name.strip():
        return f"{where}: tag name {name!r} starts or ends with a space"
    return None


def parse_tag(text: str, *, where: str = "tag") -> tuple[str, str]:
    """`name=value` (the value may be empty; the first `=` splits)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise ModelChangeError([f"{where}: {text!r} needs the form name=value"])
    problem = _tag_name_problem(name, where)
    if problem:
        raise ModelChangeError([problem])
    if len(value) > TAG_VALUE_MAX:
        raise ModelChangeError([f"{where}: value of {name!r} is {len(value)} characters; at most {TAG_VALUE_MAX}"])
    return name, value


def parse_tag_name(text: str, *, where: str = "remove tag") -> str:
    problem = _tag_name_problem(text, where)
    if problem:
        raise ModelChangeError([problem])
    return text


def parse_custom_data(text: str, *, where: str = "custom data") -> str:
    size = len(text.encode("utf-8"))
    if size > CUSTOM_DATA_MAX_BYTES:
        raise ModelChangeError([f"{where}: {size:,} bytes; Azure takes at most {CUSTOM_DATA_MAX_BYTES:,}"])
    return text


def model_change_from_input(
    *,
    image: str | None = None,
    vm_size: str | None = None,
    set_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    custom_data: str | None = None,
    current_tags: Mapping[str, str] | None = None,
) -> ModelChange:
    """Every typed field checked; all problems raised together. Blank fields change nothing.
    With `current_tags`, the tag count after the change is checked against Azure's limit too."""
    problems: list[str] = []
    parsed_image = parsed_size = parsed_data = None
    tags: dict[str, str] = {}
    removed: list[str] = []
    try:
        parsed_image = parse_image(image) if image and image.strip() else None
    except ModelChangeError as exc:
        problems.extend(exc.problems)
    try:
        parsed_size = parse_vm_size(vm_size) if vm_size and vm_size.strip() else None
    except ModelChangeError as exc:
        problems.extend(exc.problems)
    for index, text in enumerate(t for t in set_tags if t.strip()):
        try:
            name, value = parse_tag(text.strip(), where=f"tag {index + 1}")
        except ModelChangeError as exc:
            problems.extend(exc.problems)
            continue
        tags[name] = value
    for text in (t.strip() for t in remove_tags if t.strip()):
        try:
            removed.append(parse_tag_name(text))
        except ModelChangeError as exc:
            problems.extend(exc.problems)
    both = sorted(set(tags) & set(removed))
    if both:
        problems.append(f"tags: {', '.join(both)} both set and removed; choose one")
    if current_tags is not None:
        after = (set(current_tags) | set(tags)) - set(removed)
        if len(after) > TAGS_MAX:
            problems.append(f"tags: the scale set would have {len(after)} tags; Azure allows {TAGS_MAX}")
    if custom_data:
        try:
            parsed_data = parse_custom_data(custom_data)
        except ModelChangeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ModelChangeError(problems)
    return ModelChange(
        image=parsed_image,
        vm_size=parsed_size,
        set_tags=tuple(tags.items()),
        remove_tags=tuple(dict.fromkeys(removed)),
        custom_data=parsed_data,
    )


# ---------------------------------------------------------------- before -> after


def image_ref_of(scale_set: ScaleSet) -> ImageRef | None:
    """The scale set's image as an ImageRef (ScaleSet.image is publisher:offer:sku:version or an id)."""
    text = scale_set.image
    if not text:
        return None
    if text.startswith("/"):
        return ImageRef(gallery_image_id=text)
    parts = text.split(":")
    if len(parts) == 4:
        return ImageRef(*parts)
    if len(parts) == 3:
        return ImageRef(parts[0], parts[1], parts[2], None)
    return None


def _same_image(a: ImageRef | None, b: ImageRef) -> bool:
    if a is None:
        return False
    if a.is_gallery or b.is_gallery:
        return (a.gallery_image_id or "").casefold() == (b.gallery_image_id or "").casefold()
    return all((x or "").casefold() == (y or "").casefold()
               for x, y in ((a.publisher, b.publisher), (a.offer, b.offer), (a.sku, b.sku), (a.version, b.version)))


def effective_change(scale_set: ScaleSet, change: ModelChange) -> ModelChange:
    """`change` without what the scale set already has (the same image, size or tag value)."""
    current_tags = dict(scale_set.tags)
    image = None if change.image is not None and _same_image(image_ref_of(scale_set), change.image) else change.image
    size = None if change.vm_size is not None and change.vm_size.casefold() == scale_set.sku.casefold() else change.vm_size
    return ModelChange(
        image=image,
        vm_size=size,
        set_tags=tuple((k, v) for k, v in change.set_tags if current_tags.get(k) != v),
        remove_tags=tuple(k for k in change.remove_tags if k in current_tags),
        custom_data=change.custom_data,
    )


def model_diff(scale_set: ScaleSet, change: ModelChange) -> tuple[FieldChange, ...]:
    """Before -> after of each field the change really changes (nothing for a no-op)."""
    effective = effective_change(scale_set, change)
    current_tags = dict(scale_set.tags)
    rows: list[FieldChange] = []
    if effective.image is not None:
        current = image_ref_of(scale_set)
        rows.append(FieldChange("image", current.text() if current else scale_set.image, effective.image.text()))
    if effective.vm_size is not None:
        rows.append(FieldChange("size", scale_set.sku or None, effective.vm_size))
    for name, value in effective.set_tags:
        rows.append(FieldChange(f"tag {name}", current_tags.get(name), value))
    for name in effective.remove_tags:
        rows.append(FieldChange(f"tag {name}", current_tags.get(name), None))
    if effective.custom_data is not None:
        # ARM never returns custom data: the old value cannot be shown.
        size = len(effective.custom_data.encode("utf-8"))
        rows.append(FieldChange("custom data", "(not readable)", f"{size:,} bytes"))
    return tuple(rows)


def tags_after(scale_set: ScaleSet, change: ModelChange) -> dict[str, str]:
    """The whole tag set after the change (ARM replaces a resource's tags as a whole)."""
    tags = dict(scale_set.tags)
    tags.update(change.set_tags)
    for name in change.remove_tags:
        tags.pop(name, None)
    return tags


def encoded_custom_data(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def rolling_batch_size(scale_set: ScaleSet) -> int:
    """Instances per batch of a rolling upgrade: maxBatchInstancePercent of the capacity, at least one."""
    percent = scale_set.rolling_policy.max_batch_instance_percent if scale_set.rolling_policy else 20
    return max(1, math.floor(scale_set.capacity * percent / 100))


def policy_consequence(scale_set: ScaleSet, change: ModelChange | None = None) -> str:
    """One sentence: what the upgrade policy does with the changed model."""
    if change is not None and not change.changes_instances:
        if change.is_empty:
            return "Nothing to change."
        return "Tags belong to the scale set resource: no instance is updated."
    count = scale_set.capacity
    instances = f"{count} instance{'s' if count != 1 else ''}"
    mode = scale_set.upgrade_mode.casefold()
    if mode == "automatic":
        sentence = f"Automatic policy: Azure updates all {instances} at once, now."
    elif mode == "rolling":
        policy = scale_set.rolling_policy
        size = rolling_batch_size(scale_set)
        percent = policy.max_batch_instance_percent if policy else 20
        pause = policy.pause_time_between_batches if policy else "PT0S"
        unhealthy = policy.max_unhealthy_upgraded_instance_percent if policy else 20
        sentence = (
            f"Rolling policy: Azure rolls it out by itself in batches of {size} "
            f"({percent}% of {instances}), pausing {pause} between batches, and stops when more than "
            f"{unhealthy}% of the upgraded instances are unhealthy."
        )
    else:
        sentence = (
            f"Manual policy: nothing changes on the {instances} until they are updated "
            "(update instances, or a guarded rollout); new instances get the new model."
        )
    if change is not None and change.custom_data is not None:
        sentence += " Custom data reaches an instance only when it is reimaged or newly created."
    return sentence


# ---------------------------------------------------------------- data disks of the model

DISK_SKUS = ("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS",
             "StandardSSD_ZRS", "Premium_ZRS")
DISK_CACHING = ("None", "ReadOnly", "ReadWrite")
DISK_SIZE_GB_MIN = 1
DISK_SIZE_GB_MAX = 32767
LUN_MAX = 63  # LUNs 0-63; a VM size allows fewer disks than that, and ARM says so when it does


def next_free_lun(used: Iterable[int]) -> int | None:
    taken = set(used)
    return next((lun for lun in range(LUN_MAX + 1) if lun not in taken), None)


def validate_data_disk(
    *, size_gb: object, sku: object, lun: object = None, caching: object = "None", used_luns: Iterable[int] = ()
) -> tuple[int, str, int, str]:
    """(size_gb, sku, lun, caching) of a new empty data disk, checked as typed; the LUN is the
    lowest free one when not given. Raises ModelChangeError with one line per problem."""
    problems: list[str] = []
    taken = set(used_luns)
    size: int | None = None
    text = str(size_gb).strip() if size_gb is not None else ""
    if isinstance(size_gb, bool) or not text.isdigit():
        problems.append(f"size: {size_gb!r} is not a whole number of GB ({DISK_SIZE_GB_MIN}-{DISK_SIZE_GB_MAX})")
    else:
        size = int(text)
        if not DISK_SIZE_GB_MIN <= size <= DISK_SIZE_GB_MAX:
            problems.append(f"size: {size} GB is out of range ({DISK_SIZE_GB_MIN}-{DISK_SIZE_GB_MAX} GB)")
    sku_text = str(sku or "").strip()
    canonical_sku = next((s for s in DISK_SKUS if s.casefold() == sku_text.casefold()), None)
    if canonical_sku is None:
        problems.append(f"sku: {sku_text or '(empty)'!r} is not a disk SKU (one of {', '.join(DISK_SKUS)})")
    try:
        chosen, canonical_caching = validate_lun_and_caching(lun=lun, caching=caching, used_luns=taken, sku=canonical_sku)
    except ModelChangeError as exc:
        problems.extend(exc.problems)
        chosen = canonical_caching = None
    if problems:
        raise ModelChangeError(problems)
    assert size is not None and canonical_sku is not None and canonical_caching is not None and chosen is not None
    return size, canonical_sku, chosen, canonical_caching


def validate_lun_and_caching(
    *, lun: object = None, caching: object = "None", used_luns: Iterable[int] = (), sku: str | None = None
) -> tuple[int, str]:
    """(lun, caching) for a disk to attach: the LUN checked against those in use (the lowest free
    one when not given), the caching against what the SKU allows."""
    problems: list[str] = []
    taken = set(used_luns)
    caching_text = str(caching if caching is not None else "None").strip()
    canonical_caching = next((c for c in DISK_CACHING if c.casefold() == caching_text.casefold()), None)
    if canonical_caching is None:
        problems.append(f"caching: {caching_text!r} is not one of {', '.join(DISK_CACHING)}")
    elif sku in ("UltraSSD_LRS", "PremiumV2_LRS") and canonical_caching != "None":
        problems.append(f"caching: {sku} disks take no host caching (use None)")
    chosen: int | None = None
    if lun is None or (isinstance(lun, str) and not lun.strip()):
        chosen = next_free_lun(taken)
        if chosen is None:
            problems.append(f"lun: all LUNs 0-{LUN_MAX} are taken")
    else:
        lun_text = str(lun).strip()
        if isinstance(lun, bool) or not lun_text.isdigit() or not 0 <= int(lun_text) <= LUN_MAX:
            problems.append(f"lun: {lun!r} is not a LUN (0-{LUN_MAX})")
        elif int(lun_text) in taken:
            free = next_free_lun(taken)
            problems.append(f"lun: {lun_text} is taken" + (f" (lowest free: {free})" if free is not None else ""))
        else:
            chosen = int(lun_text)
    if problems:
        raise ModelChangeError(problems)
    assert chosen is not None and canonical_caching is not None
    return chosen, canonical_caching
