"""Which redirect URIs a client may register (RFC 8252, OAuth 2.1 §2.3.1, MCP security notes).

- `https` on any host;
- `http` only on a loopback host (`127.0.0.1`, `[::1]`, `localhost`), where the port may vary at
  authorization time (DOT's loopback rule with ALLOW_LOCALHOST_LOOPBACK);
- a private-use scheme only from PRIVATE_REDIRECT_SCHEMES (e.g. `cursor://…`);
- never a fragment, user info, or a wildcard.

`redirect_uri_problem` says what is wrong in words for a client developer (the registration
endpoint's `error_description`); `redirect_uri_advice` adds why the rule exists, for the
administrator filling in the admin's "add client" form.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

# Why each rule exists, in one sentence an administrator can act on.
RULE_REASONS: dict[str, str] = {
    "empty": "Enter one redirect URI per line.",
    "whitespace": "Put each redirect URI on its own line, without spaces inside it.",
    "invalid": "Check the spelling: a redirect URI looks like https://app.example.com/oauth/callback.",
    "relative": "The redirect URI must be a full address, starting with https://.",
    "fragment": "Authorization codes are sent in the query; a #fragment would never match (RFC 6749 §3.1.2).",
    "userinfo": "Credentials in an address can disguise where users are really sent.",
    "wildcard": "Every redirect URI must be registered exactly, so that codes cannot be sent anywhere else.",
    "placeholder": (
        "Put in the value the application shows you, such as the id in ChatGPT's per-app callback "
        "https://chatgpt.com/connector/oauth/<id>."
    ),
    "no-host": "An https redirect URI needs the host name of the application's web server.",
    "http-remote": (
        "Plain http would expose the authorization code on the network; only an application running on "
        "the user's own computer (http://127.0.0.1 or http://localhost, any port) may use it."
    ),
    "scheme": (
        "Apps on the user's computer may use their own scheme (such as cursor://) only if the server "
        "allows it: see PRIVATE_REDIRECT_SCHEMES."
    ),
}


def _check(uri: str) -> tuple[str, str] | None:
    """(rule broken, message) for a URI that may not be registered; None when it may."""
    if not isinstance(uri, str) or not uri.strip():
        return "empty", "a redirect URI must be a non-empty string"
    if uri != uri.strip() or any(ch.isspace() for ch in uri):
        return "whitespace", f"redirect URI {uri!r} contains whitespace"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "invalid", f"redirect URI {uri!r} is not a valid URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return "relative", f"redirect URI {uri!r} must be absolute"
    if parts.fragment or "#" in uri:
        return "fragment", f"redirect URI {uri!r} must not contain a fragment"
    if parts.username or parts.password:
        return "userinfo", f"redirect URI {uri!r} must not contain user information"
    if "*" in uri:
        return "wildcard", f"redirect URI {uri!r} must not contain a wildcard"
    if any(mark in uri for mark in ("<", ">", "{", "}", "…")):
        return "placeholder", f"redirect URI {uri!r} still holds a placeholder"
    if scheme == "https":
        return None if parts.hostname else ("no-host", f"redirect URI {uri!r} has no host")
    if scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return None
        return (
            "http-remote",
            f"redirect URI {uri!r} uses http on a non-loopback host; use https, or http://127.0.0.1",
        )
    if scheme in {s.lower() for s in settings.PRIVATE_REDIRECT_SCHEMES}:
        return None
    allowed = ", ".join(["https", "http (loopback only)", *settings.PRIVATE_REDIRECT_SCHEMES])
    return "scheme", f"redirect URI {uri!r} uses the scheme {scheme!r}; allowed: {allowed}"


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be registered, in words for the client developer; None when it may."""
    found = _check(uri)
    return found[1] if found else None


def redirect_uri_advice(uri: str) -> str | None:
    """Why `uri` may not be registered and what to do instead, for a person; None when it may."""
    found = _check(uri)
    if found is None:
        return None
    rule, message = found
    return f"{message[0].upper()}{message[1:]}. {RULE_REASONS[rule]}"


def split_redirect_uris(text: str) -> list[str]:
    """The URIs of a list typed one per line (or separated by spaces, as DOT stores them)."""
    return list(dict.fromkeys((text or "").split()))


def application_type_problem(application_type: object, redirect_uris: list[str]) -> str | None:
    """Why a registration's `application_type` disagrees with its redirect URIs (OpenID Connect
    Registration §2, MCP SEP-837); None when it agrees or is not given.

    web: a web server, answered over https on a real host, never on loopback or an app scheme.
    native: an app on the user's device, answered on the device: at least one loopback http or
    private-use scheme redirect URI. An https one beside it is allowed (RFC 8252 §7.2 claimed
    https URIs): VS Code registers as native with http://127.0.0.1:33418/ and https://vscode.dev/redirect.
    """
    if application_type is None:
        return None
    if application_type not in ("native", "web"):
        return 'application_type must be "native" or "web"'
    on_device = []
    for uri in redirect_uris:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        loopback = parts.hostname in LOOPBACK_HOSTS
        on_device.append((scheme == "http" and loopback) or scheme not in ("http", "https"))
        if application_type == "web" and (scheme != "https" or loopback):
            return (
                f'application_type "web" allows only https redirect URIs on a real host, not {uri}: '
                'register as "native" an app that runs on the user\'s device'
            )
    if application_type == "native" and not any(on_device):
        return (
            'application_type "native" needs a redirect URI on the device: loopback (http://127.0.0.1:<port>/…) '
            'or a private-use scheme; an application answered only over https registers as "web"'
        )
    return None
