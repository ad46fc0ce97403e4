"""Model changes of a scale set: one PATCH carrying only what changed.

A mixin of `Fleet`. The PATCH is conditional on the ETag of the scale set the caller read
(where ARM gave one): a model changed by someone else since is refused with 412 rather than
overwritten, so the before -> after a person confirmed is the change made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmss_tui.azure.errors import FleetError
from vmss_tui.domain.model_change import (
    ModelChange,
    effective_change,
    encoded_custom_data,
    image_ref_of,
    tags_after,
)
from vmss_tui.domain.models import OperationResult, ScaleSet

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ProgressCallback


def etag_of(scale_set: ScaleSet) -> str | None:
    raw = scale_set.raw
    value = raw.get("etag") if isinstance(raw, dict) else None
    return str(value) if value else None


def model_patch_body(scale_set: ScaleSet, change: ModelChange) -> dict[str, Any]:
    """The JSON of the PATCH: only the fields `change` really changes against `scale_set`.

    Tags are a whole map in ARM (a PATCH replaces them all), so the body carries the full tag
    set after the change. An image of the other kind (marketplace <-> gallery) clears the old
    kind's keys with nulls, which a PATCH reads as "remove"."""
    effective = effective_change(scale_set, change)
    body: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    if effective.image is not None:
        new = effective.image
        old = image_ref_of(scale_set)
        if new.is_gallery:
            reference: dict[str, Any] = {"id": new.gallery_image_id}
            if old is not None and not old.is_gallery:
                reference.update(publisher=None, offer=None, sku=None, version=None)
        else:
            reference = {"publisher": new.publisher, "offer": new.offer, "sku": new.sku, "version": new.version}
            if old is not None and old.is_gallery:
                reference["id"] = None
        profile["storageProfile"] = {"imageReference": reference}
    if effective.custom_data is not None:
        profile["osProfile"] = {"customData": encoded_custom_data(effective.custom_data)}
    if profile:
        body["properties"] = {"virtualMachineProfile": profile}
    if effective.vm_size is not None:
        sku: dict[str, Any] = {"name": effective.vm_size}
        if scale_set.tier:
            sku["tier"] = scale_set.tier
        body["sku"] = sku
    if effective.set_tags or effective.remove_tags:
        body["tags"] = tags_after(scale_set, effective)
    return body


class ModelCalls:
    """Fleet methods that change a scale set's model."""

    if TYPE_CHECKING:
        _compute: Any

        async def _run_lro(self, start: Any, on_progress: ProgressCallback | None) -> OperationResult: ...
        def _check_writable(self, what: str) -> None: ...

    async def _patch_scale_set(
        self, scale_set: ScaleSet, body: dict[str, Any], on_progress: ProgressCallback | None
    ) -> OperationResult:
        from azure.core import MatchConditions

        operations = self._compute.virtual_machine_scale_sets
        group, name = scale_set.resource_group, scale_set.name
        etag = etag_of(scale_set)
        kwargs: dict[str, Any] = {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}
        return await self._run_lro(lambda: operations.begin_update(group, name, body, **kwargs), on_progress)

    async def update_model(
        self, scale_set: ScaleSet, change: ModelChange, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        """PATCH the scale set with what `change` changes (image, size, tags, custom data); waits
        for the operation. What the instances then do is the upgrade policy's (see
        `domain.model_change.policy_consequence`)."""
        self._check_writable("changing the model")
        body = model_patch_body(scale_set, change)
        if not body:
            raise FleetError(f"{scale_set.name}: the model already is as asked; nothing to change")
        return await self._patch_scale_set(scale_set, body, on_progress)
