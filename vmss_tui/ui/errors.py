"""Any failure as one line for people (the status line, a notification): never a traceback."""

from __future__ import annotations

from vmss_tui.azure.errors import FleetError


def one_line(error: BaseException) -> str:
    if isinstance(error, FleetError):
        return error.one_line()
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
