"""What widgets ask for: messages posted upwards, handled by the screen or the app.

A pane never calls the app or the screen; it posts one of these and the screen decides
(attributes down, messages up). Each carries only what the widget knows.
"""

from __future__ import annotations

from textual.message import Message


class RunInstanceAction(Message):
    """Run an instance action (`restart`, `delete` ...) on the marked instances, else the cursor's."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action


class RunScaleSetAction(Message):
    """Run a scale-set action (`scale`, `start_all`, `stop_all`) on the scale set under the cursor."""

    def __init__(self, action: str, scale_set_id: str | None) -> None:
        super().__init__()
        self.action = action
        self.scale_set_id = scale_set_id


class OpenSsh(Message):
    """An SSH session to an instance of the selected scale set (by its resource id): its open
    session's tab, or (`new`) another session beside it."""

    def __init__(self, instance_key: str | None, *, new: bool = False) -> None:
        super().__init__()
        self.instance_key = instance_key
        self.new = new


class ShowDetails(Message):
    """`y` (json) or `d` (describe) of what the focused pane has under its cursor."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode


class ShowView(Message):
    """Bring a view (`vmss`, `inst`, `nat`, `disk`) to the front."""

    def __init__(self, view: str) -> None:
        super().__init__()
        self.view = view


class ToggleMark(Message):
    def __init__(self, instance_key: str | None) -> None:
        super().__init__()
        self.instance_key = instance_key


class MarkInstances(Message):
    def __init__(self, instance_keys: list[str]) -> None:
        super().__init__()
        self.instance_keys = instance_keys


class ClearMarks(Message):
    pass


class PromptDone(Message):
    """The `:` or `/` line closed: Enter (`cancel` False) or Esc."""

    def __init__(self, mode: str, value: str, *, cancel: bool) -> None:
        super().__init__()
        self.mode = mode
        self.value = value
        self.cancel = cancel


class FilterChanged(Message):
    """The `/` filter line changed its table's filter (`error`: why the text is not a regex)."""

    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error


class CloseTab(Message):
    """A tab's content asks to be closed (its session ended for good)."""

    def __init__(self, tab_id: str) -> None:
        super().__init__()
        self.tab_id = tab_id


class SwitchSubscription(Message):
    """`:sub [id]`: connect to another subscription (None: pick one from a list)."""

    def __init__(self, subscription_id: str | None) -> None:
        super().__init__()
        self.subscription_id = subscription_id


class ShowRollout(Message):
    """Open the live rollout view of a scale set in its tab (or switch to it when open)."""

    def __init__(self, scale_set_id: str | None) -> None:
        super().__init__()
        self.scale_set_id = scale_set_id


class ChangeModel(Message):
    """The model-change dialog of a scale set (image, size, tags, custom data)."""

    def __init__(self, scale_set_id: str | None) -> None:
        super().__init__()
        self.scale_set_id = scale_set_id
