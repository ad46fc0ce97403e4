"""The `vmss-tui` command line: `entry.py` parses and dispatches, `get.py` prints for scripts."""

from vmss_tui.cli.entry import main

__all__ = ["main"]
