"""Errors the data layer raises, each carrying a one-line message for people."""

from __future__ import annotations


class FleetError(Exception):
    """A failure worth one line to the user: what is wrong and what to do."""

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # the ARM error code, where there is one
        self.hint = hint  # what to do about it

    def one_line(self) -> str:
        text = f"{self.code}: {self.message}" if self.code else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ReadOnlyError(FleetError):
    """A write was asked for while the session is read-only."""


class NotFoundError(FleetError):
    pass


class AuthError(FleetError):
    pass


class EndpointError(FleetError):
    """The Resource Manager endpoint could not be reached."""
