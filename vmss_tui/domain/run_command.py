"""Results of Run Command and of the Custom Script extension, in both shapes Azure answers.

- Linux (RunShellScript, and the Custom Script extension's status): ONE status, code
  `ProvisioningState/succeeded` (or `ProvisioningState/failed/<n>`), whose message packs both
  streams: "Enable succeeded: \\n[stdout]\\n...\\n[stderr]\\n..." (each the last 4,096 bytes); a
  failed script reads "Enable failed: failed to execute command: command terminated with exit
  status=127\\n[stdout]\\n...".
- Windows (RunPowerShellScript): `ComponentStatus/StdOut/succeeded` and
  `ComponentStatus/StdErr/succeeded`, each message one stream.

The statuses come in as JSON objects (`code`, `level`, `displayStatus`, `message`, `time`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STREAM_TAIL_BYTES = 4096  # Azure keeps the last 4 KiB of each stream

_EXIT_STATUS = re.compile(r"exit status[= ](-?\d+)", re.IGNORECASE)
_STDOUT = "[stdout]\n"
_STDERR = "\n[stderr]\n"


@dataclass(frozen=True, slots=True)
class RunCommandResult:
    succeeded: bool  # every status says succeeded
    stdout: str
    stderr: str
    headline: str = ""  # the text before the streams, e.g. "Enable succeeded:"
    exit_code: int | None = None  # where the message says it ("exit status=N"); None: not said
    codes: tuple[str, ...] = ()  # the status codes, as ARM sent them
    shape: str = "linux"  # "linux" (one packed status) | "windows" (StdOut + StdErr) | "empty"

    @property
    def may_be_truncated(self) -> bool:
        """Azure cuts each stream to its last 4 KiB: a stream that long may have lost its start."""
        return any(len(s.encode("utf-8")) >= STREAM_TAIL_BYTES for s in (self.stdout, self.stderr))


@dataclass(frozen=True, slots=True)
class ExtensionStatus:
    """One extension of one instance, from the instance view's `extensions[]`."""

    name: str
    type: str | None  # e.g. Microsoft.Azure.Extensions.CustomScript
    version: str | None  # typeHandlerVersion
    code: str | None  # ProvisioningState/succeeded | ProvisioningState/failed/0 | ...
    level: str | None  # Info | Warning | Error
    display_status: str | None
    message: str | None
    time: str | None = None
    stdout: str | None = None  # when the message packs [stdout]/[stderr]
    stderr: str | None = None
    exit_code: int | None = None

    @property
    def state(self) -> str | None:
        """succeeded | failed | transitioning | ... (the word after ProvisioningState/)."""
        if not self.code:
            return None
        parts = self.code.split("/")
        return parts[1].casefold() if len(parts) > 1 and parts[0].casefold() == "provisioningstate" else None

    @property
    def succeeded(self) -> bool | None:
        state = self.state
        if state is None or state in ("transitioning", "creating", "updating"):
            return None
        return state == "succeeded"


def split_streams(message: str) -> tuple[str, str | None, str | None]:
    """(headline, stdout, stderr) of a packed Linux message; the streams are None when the
    message has no such section. A stream keeps its own last newline."""
    start = message.find(_STDOUT)
    err_marker = message.rfind(_STDERR)
    if start == -1:
        if message.startswith(_STDERR[1:]):
            return "", None, message[len(_STDERR) - 1 :]
        if err_marker != -1:
            return message[:err_marker].strip(), None, message[err_marker + len(_STDERR) :]
        return message.strip(), None, None
    headline = message[:start].strip()
    body_start = start + len(_STDOUT)
    if err_marker >= start + len(_STDOUT) - 1:
        # "[stdout]\n\n[stderr]\n": an empty stdout shares its newline with the stderr marker.
        stdout = message[body_start:err_marker] if err_marker >= body_start else ""
        return headline, stdout, message[err_marker + len(_STDERR) :]
    return headline, message[body_start:], None


def _exit_code(text: str) -> int | None:
    match = _EXIT_STATUS.search(text)
    return int(match.group(1)) if match else None


def _status_succeeded(code: str) -> bool:
    parts = [p.casefold() for p in code.split("/")]
    return "succeeded" in parts[1:]


def parse_run_command_result(statuses: Iterable[Mapping[str, Any]]) -> RunCommandResult:
    """A Run Command result (`value[]` of the operation's output), Linux or Windows."""
    items = [s for s in statuses if isinstance(s, Mapping)]
    if not items:
        return RunCommandResult(succeeded=False, stdout="", stderr="", headline="no result", shape="empty")
    codes = tuple(str(s.get("code") or "") for s in items)
    by_stream: dict[str, str] = {}
    for status, code in zip(items, codes, strict=True):
        parts = code.split("/")
        if len(parts) >= 2 and parts[0].casefold() == "componentstatus":
            by_stream[parts[1].casefold()] = str(status.get("message") or "")
    if by_stream:
        return RunCommandResult(
            succeeded=all(_status_succeeded(c) for c in codes),
            stdout=by_stream.get("stdout", ""),
            stderr=by_stream.get("stderr", ""),
            codes=codes,
            shape="windows",
        )
    message = str(items[0].get("message") or "")
    headline, stdout, stderr = split_streams(message)
    exit_code = _exit_code(headline)
    succeeded = all(_status_succeeded(c) for c in codes) and not exit_code
    if exit_code is None and succeeded:
        exit_code = 0 if headline.casefold().startswith("enable succeeded") else None
    return RunCommandResult(
        succeeded=succeeded,
        stdout=stdout or "",
        stderr=stderr or "",
        headline=headline,
        exit_code=exit_code,
        codes=codes,
        shape="linux",
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def extension_statuses(instance_view: Mapping[str, Any] | None) -> list[ExtensionStatus]:
    """Every extension status of an instance view (JSON); the packed streams split out."""
    result: list[ExtensionStatus] = []
    for extension in (instance_view or {}).get("extensions") or ():
        if not isinstance(extension, Mapping):
            continue
        statuses = [s for s in extension.get("statuses") or () if isinstance(s, Mapping)] or [{}]
        for status in statuses:
            message = _text(status.get("message"))
            stdout = stderr = None
            exit_code = None
            if message:
                headline, stdout, stderr = split_streams(message)
                exit_code = _exit_code(headline)
                if exit_code is None and stdout is not None and headline.casefold().startswith("enable succeeded"):
                    exit_code = 0
            result.append(ExtensionStatus(
                name=str(extension.get("name") or ""),
                type=_text(extension.get("type")),
                version=_text(extension.get("typeHandlerVersion")),
                code=_text(status.get("code")),
                level=_text(status.get("level")),
                display_status=_text(status.get("displayStatus")),
                message=message,
                time=_text(status.get("time")),
                stdout=stdout,
                stderr=stderr,
                exit_code=exit_code,
            ))
    return result
