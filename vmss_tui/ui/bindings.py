"""The console's key bindings as a whole: every class that declares some, every binding id the
config's [keys] may name, and what is wrong with a [keys] table (unknown ids, one key bound to two
actions of one pane).

Finding them imports every module of the ui package (asyncssh among them), so the App runs this
in a thread after the first frame, never on the start-up path.
"""

from __future__ import annotations

import importlib
import pkgutil

from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from vmss_tui.config import Config, binding_clash_problems, bindings_of, unknown_binding_problems

# The App passes itself in: no ui module imports it.
_SKIPPED = ("vmss_tui.ui.app",)


def binding_classes(app_class: type) -> list[type]:
    """Every class of the console that declares key bindings: the app, and the widgets and
    screens of every module of vmss_tui.ui (a new pane or view is found without a list to keep)."""
    import vmss_tui.ui as ui_package

    classes: list[type] = [app_class]
    for info in pkgutil.walk_packages(ui_package.__path__, ui_package.__name__ + "."):
        if info.name in _SKIPPED:
            continue
        module = importlib.import_module(info.name)
        classes.extend(
            obj for obj in vars(module).values()
            if isinstance(obj, type) and obj.__module__ == module.__name__ and issubclass(obj, Widget | Screen)
            and vars(obj).get("BINDINGS")
        )
    return classes


def all_binding_ids(app_class: type) -> set[str]:
    """Every binding id the config's [keys] may name."""
    ids: set[str] = set()
    for cls in binding_classes(app_class):
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()) or ():
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return ids


def keymap_problems(config: Config, app_class: type) -> tuple[Config, tuple[str, ...]]:
    """The config without its unknown [keys] ids, and one message per problem of [keys]: an id
    that does not exist, or a key it binds to two actions that apply at the same time."""
    from vmss_tui.ui.screens.fleet import FleetScreen

    classes = binding_classes(app_class)
    known = {b.id for cls in classes for k in cls.__mro__ for b in vars(k).get("BINDINGS", ()) or ()
             if isinstance(b, Binding) and b.id}
    config, unknown = unknown_binding_problems(config, known)
    owners: dict[str, list[tuple[str, str]]] = {}
    for cls in classes:
        if cls is app_class:
            continue
        # A screen's keys meet the app's; a pane's meet its screen's too.
        chain = [cls, app_class] if issubclass(cls, Screen) else [cls, FleetScreen, app_class]
        owners[getattr(cls, "HELP_SECTION", None) or cls.__name__] = bindings_of(chain)
    clashes = binding_clash_problems(config, owners)
    return config, (*unknown, *clashes)
