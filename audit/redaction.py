"""Keep credentials and DSNs out of logs and audit details.

``RedactingFilter`` is a logging filter (wired in settings.LOGGING) that rewrites every
record's message; ``redact`` and ``redact_value`` are the same rules for strings and
JSON-like values.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "[redacted]"

# Keys whose values are secrets wherever they appear (details dicts, key=value text).
SECRET_KEY_NAMES = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|credential|authorization|session[_-]?id|"
    r"sessiontoken|access[_-]?key|private[_-]?key|auth[_-]?token|cookie)",
    re.IGNORECASE,
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host -> keep the user and host, drop the password.
    (
        re.compile(
            r"(?P<pre>(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]*+://[^\s:/@]*+:)[^\s@/]++(?=@)", re.I
        ),
        r"\g<pre>" + MASK,
    ),
    # AWS access key ids (long-term AKIA and temporary ASIA).
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    # aws_secret_access_key = ..., SecretAccessKey: ..., password=..., "token": "..."
    (
        re.compile(
            # The lookbehind starts a match only where a word starts: without it every
            # position inside a long word was a new start, and each backtracked over
            # the rest of the word (quadratic: seconds of CPU for a 10,000-char word).
            r"(?P<key>(?<![\w\-\"'])[\"']?[\w\-]*(?:secret|password|passwd|token|api[_-]?key|"
            r"credential)[\w\-]*+[\"']?\s*+[:=]\s*)(?P<q>[\"']?)[^\s\"',;}&]++",
            re.I,
        ),
        r"\g<key>\g<q>" + MASK,
    ),
    # Authorization: Bearer xyz / AWS4-HMAC-SHA256 Credential=...
    (re.compile(r"(?P<key>\bAuthorization\s*[:=]\s*)[^\r\n]+", re.I), r"\g<key>" + MASK),
]


def redact(text: str) -> str:
    """``text`` with passwords in URLs, AWS keys and secret-looking assignments masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: str = "") -> Any:
    """A JSON-like value with secret-named keys masked and every string redacted."""
    if key and SECRET_KEY_NAMES.search(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message (args merged in) through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
