"""Terminal output for the demo and the doctor: coloured when a person watches, plain otherwise,
and secrets masked wherever they are shown (terminal and JSON alike).

Colour follows the usual conventions: only on a TTY, never when NO_COLOR is set
(https://no-color.org), always when FORCE_COLOR is set.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, TextIO

SHOWN_CHARS = 6  # at most this many characters of any token are ever shown
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "client_secret",
        "registration_access_token",
        "token",
        "password",
    }
)
HIDDEN_FIELDS = frozenset({"code_verifier"})  # not even a prefix of these
# A bearer token (8+ characters), not the auth-params of a `WWW-Authenticate: Bearer a="b"` challenge.
BEARER = re.compile(r"(?i)\b(bearer\s+)(?![\w-]+=)([^\s,]{8,})")
SECRET_PARAM = re.compile(r"([?&](?:code|access_token|refresh_token|token)=)([^&#\s]+)")

STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def mask(secret: str | None) -> str | None:
    """The first few characters of a secret and an ellipsis; never the whole value."""
    if secret is None:
        return None
    secret = str(secret)
    if len(secret) <= SHOWN_CHARS:
        return "…"  # too short to show any of it safely
    return secret[:SHOWN_CHARS] + "…"


def mask_text(text: str) -> str:
    """Mask bearer tokens and secret query parameters inside free text (headers, URLs)."""
    text = BEARER.sub(lambda m: m.group(1) + (mask(m.group(2)) or ""), text)
    return SECRET_PARAM.sub(lambda m: m.group(1) + (mask(m.group(2)) or ""), text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every secret field masked (and hidden ones dropped)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in HIDDEN_FIELDS:
                out[key] = "(hidden)"
            elif key in SECRET_FIELDS and isinstance(item, str):
                out[key] = mask(item)
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def use_colour(stream: TextIO, setting: bool | None = None) -> bool:
    if setting is not None:
        return setting
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


class Painter:
    """Wraps text in ANSI styles, or leaves it alone when colour is off."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, *styles: str) -> str:
        if not self.colour or not styles:
            return text
        codes = ";".join(STYLES[style] for style in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


class Narrator:
    """Prints the steps of a sequence as they happen, like a sequence diagram in text:

        [ 3/15] ✔ Authorization-server metadata (RFC 8414)
                Client → Server   GET /.well-known/oauth-authorization-server
                Server → Client   200 OK  issuer=http://127.0.0.1:8000, PKCE S256 …

    Every printed value goes through `mask_text`, so no token is ever shown whole.
    """

    MARKS = {"ok": ("✔", "green"), "expected": ("↯", "yellow"), "failed": ("✘", "red"), "info": ("•", "blue")}

    def __init__(self, stream: TextIO | None = None, colour: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.paint = Painter(use_colour(self.stream, colour))
        self.quiet = quiet
        self.total = 0
        self.done = 0

    def write(self, line: str = "") -> None:
        if not self.quiet:
            self.stream.write(line + "\n")
            self.stream.flush()

    def heading(self, text: str) -> None:
        self.write(self.paint(text, "bold"))

    def note(self, text: str) -> None:
        self.write(self.paint("        " + mask_text(text), "dim"))

    def step(self, title: str, outcome: str, exchanges: list[tuple[str, str, str]], notes: list[str]) -> None:
        """One step: its progress marker and title, then one line per message exchanged."""
        self.done += 1
        mark, colour = self.MARKS.get(outcome, ("•", "blue"))
        width = len(str(self.total or self.done))
        progress = f"[{self.done:>{width}}/{self.total or '?'}]"
        self.write(f"{self.paint(progress, 'dim')} {self.paint(mark, colour, 'bold')} {self.paint(title, 'bold')}")
        for direction, what, style in exchanges:
            arrow = self.paint(f"{direction:<16}", style)
            self.write(f"        {arrow} {mask_text(what)}")
        for text in notes:
            self.note(text)
