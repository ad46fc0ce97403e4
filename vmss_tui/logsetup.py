"""The app's own log (`--log-file PATH`, `-v`): to a file, never to the terminal, secrets redacted.

What goes in: each ARM request the Fleet sends (logger `vmss_tui.azure`: method, path, status,
duration, `x-ms-request-id`) and failures (tracebacks at DEBUG, or ERROR for the unexpected),
SSH connection events (asyncssh's INFO), and with `-v` the debug records of the app and
azure-core's request logging. Every record passes a filter that redacts `Authorization` headers,
bearer tokens, JWTs, private keys, `password=` / `passphrase=` / `secret=` / `token=` / `sig=`
values (also as JSON keys such as `adminPassword`), and any literal value registered with
`redact_value` (the Fleet registers the token it sends to a local endpoint), whichever logger
the record comes from.

Light on purpose (only `logging` and `re`): every layer may call `redact_value`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

REDACTED = "<redacted>"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_secret_values: set[str] = set()
_secret_lock = threading.Lock()

_VALUE = r"(\"[^\"]*\"|'[^']*'|[^\s\"'&,;]+)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
     REDACTED),
    # "Authorization: Bearer x", 'Authorization': 'x', authorization=x
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic)\s+)?)[^\s\"',;]+"),
     rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {REDACTED}"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),  # a JWT, wherever it appears
    # password=..., "adminPassword": "...", passphrase: ..., client_secret=..., sig=... (SAS)
    (re.compile(
        r"(?i)([\"']?\b(?:[\w-]*(?:password|passwd|passphrase|secret|token|api[_-]?key)|sig)[\"']?\s*[=:]\s*)"
        + _VALUE
    ), rf"\1{REDACTED}"),
)


def redact_value(value: str | None) -> None:
    """Register a secret (a token, a password) to be redacted from every log record from now on."""
    if value and len(value) >= 4:  # shorter strings would redact ordinary words
        with _secret_lock:
            _secret_values.add(value)


def redact(text: str) -> str:
    """`text` with every secret this module knows of, or recognizes, replaced by <redacted>."""
    with _secret_lock:
        secrets = sorted(_secret_values, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, traceback and stack text with `redact`. On a handler, it
    sees the records of every logger that reaches the handler."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep what can be shown, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class LogSetupError(ValueError):
    """The log file cannot be written; str() is one line naming the flag."""


def _our_handler(handler: logging.Handler) -> bool:
    return bool(getattr(handler, "_vmss_tui", False))


def configure_logging(path: Path | None, verbose: bool) -> None:
    """Send the app's log to `path` (appended; created readable by its owner only), or nowhere
    when None; never to the terminal. `verbose` adds debug records. Calling it again replaces
    what an earlier call set up."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if _our_handler(h)]:
        root.removeHandler(handler)
        handler.close()
    handler: logging.Handler
    if path is None:
        # Not even warnings on stderr: logging's last-resort handler would write them over the console.
        handler = logging.NullHandler()
    else:
        target = Path(path).expanduser()
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            handler = logging.FileHandler(target, mode="a", encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise LogSetupError(f"--log-file {target}: cannot write it ({reason})") from exc
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    handler._vmss_tui = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    levels = {
        "vmss_tui": logging.DEBUG if verbose else logging.INFO,
        "asyncssh": logging.INFO,  # connection events
        "azure": logging.INFO if verbose else logging.WARNING,  # azure-core's own request log with -v
    }
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
