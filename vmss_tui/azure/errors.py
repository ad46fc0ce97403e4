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


class ThrottledError(FleetError):
    """Resource Manager refused the request for too many requests (429) beyond the retries."""


# ARM's codes for "too many requests": Compute's body says TooManyRequests (in details), ARM's
# own SubscriptionRequestsThrottled.
_THROTTLE_CODES = frozenset({"toomanyrequests", "subscriptionrequeststhrottled", "429", "throttled"})


def is_throttled(error: BaseException) -> bool:
    """Whether an error means Resource Manager is throttling: back off, do not retry now."""
    if isinstance(error, ThrottledError):
        return True
    if not isinstance(error, FleetError):
        return False
    code = (error.code or "").casefold()
    return code in _THROTTLE_CODES or "too many requests" in error.message.casefold()


def _first_line(text: str | None, limit: int = 300) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _arm_error(exc: BaseException) -> tuple[str | None, str | None]:
    """(code, message) of an ARM error body carried by an azure-core exception."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if not message:
        message = getattr(exc, "message", None) or str(exc)
        # azure-core formats "(Code) message\nCode: ...\nMessage: ..."; keep the first line.
        message = (message or "").split("\n", 1)[0]
        if code and message.startswith(f"({code}) "):
            message = message[len(code) + 3 :]
    return (str(code) if code else None), _first_line(message)


def _network_reason(exc: BaseException) -> str:
    """A short reason for a connection failure ("Connection refused"), not the transport's dump."""
    import os

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "os_error", None)
        if isinstance(inner, OSError) and inner.errno:
            return os.strerror(inner.errno) if inner.errno > 0 else _first_line(inner.strerror, 120)
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno) if current.errno > 0 else _first_line(current.strerror, 120)
        if isinstance(current, TimeoutError):
            return "timed out"
        current = getattr(current, "inner_exception", None) or current.__cause__ or current.__context__
    return _first_line(str(exc).split("\n", 1)[0], 160)


def translate(exc: BaseException, *, endpoint: str | None = None, subscription_id: str | None = None) -> FleetError:
    """A FleetError saying, in one line, what went wrong and what to do about it."""
    if isinstance(exc, FleetError):
        return exc
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    where = endpoint or "Azure Resource Manager"
    if isinstance(exc, ClientAuthenticationError):
        code, message = _arm_error(exc)
        status = getattr(exc, "status_code", None)
        if status is None:  # the credential could not get a token at all
            return AuthError(
                "not signed in to Azure: no credential (environment, workload or managed identity, "
                "Azure CLI ...) produced a token",
                hint="run `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET",
            )
        return AuthError(message or "authentication failed", code=code, hint="run `az login` again")
    if isinstance(exc, ServiceRequestError):
        return EndpointError(
            f"cannot reach {where}: {_network_reason(exc)}",
            hint="is the endpoint reachable? check --arm-endpoint and your network",
        )
    if isinstance(exc, ServiceResponseError):
        return EndpointError(
            f"{where} did not answer properly: {_network_reason(exc)}",
            hint="is the endpoint reachable? try again",
        )
    if isinstance(exc, HttpResponseError):
        code, message = _arm_error(exc)
        status = exc.status_code
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            if code in ("SubscriptionNotFound", "InvalidSubscriptionId"):
                return NotFoundError(
                    message or f"subscription {subscription_id} not found", code=code,
                    hint="check --subscription (or AZURE_SUBSCRIPTION_ID)",
                )
            if code == "ResourceGroupNotFound":
                return NotFoundError(message or "resource group not found", code=code, hint="check -g")
            return NotFoundError(message or "not found", code=code, hint="check the name, -g and --subscription")
        if status == 403:
            return AuthError(
                message or "not authorized", code=code,
                hint="check --subscription and your role assignment (Reader at least)",
            )
        if status == 401:
            return AuthError(message or "not authenticated", code=code, hint="run `az login`")
        if status == 429:
            return ThrottledError(
                message or "too many requests", code=code,
                hint="Resource Manager is throttling this subscription; wait a minute and retry",
            )
        if status is not None and status >= 500:
            return FleetError(message or f"server error {status}", code=code, hint="Azure had a problem; retry later")
        return FleetError(message or f"request failed ({status})", code=code)
    if isinstance(exc, TimeoutError):
        return EndpointError(f"{where} timed out", hint="is the endpoint reachable? try again")
    if isinstance(exc, OSError):
        return EndpointError(f"cannot reach {where}: {_network_reason(exc)}", hint="is the endpoint reachable?")
    return FleetError(f"unexpected error: {type(exc).__name__}: {_first_line(str(exc), 200)}")
