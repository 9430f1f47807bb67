"""A stand-in for the remote web servers that host client documents: client metadata documents
(CIMD) and client JWKS.

Plugged in where the server fetches every such document, the CIMD_FETCHER setting (the transport
behind django-oauth-toolkit's CIMD_METADATA_FETCHER, see authserver/client_documents.py), so that
no test touches the network. Documents come from `StubFetcher.documents` (in-process tests) or
from the JSON file named by CIMD_STUB_DOCUMENTS (a live server started by the tests).

It keeps the limits of the real fetcher (DOT's SafeMetadataFetcher), with DOT's own checks: the
URL rules (https, a host, a path), public addresses only, and the size cap. A document is served
from a public address unless it says otherwise: an entry may be wrapped as
`{"stub:served": {"document": {...} | "body": "raw text", "address": "10.0.0.5", "max_age": 60}}`
(see `served`).
"""

from __future__ import annotations

import ipaddress
import json
import os
from typing import Any

from oauth2_provider.cimd import CIMDError, _ip_is_public, _validate_client_id_url
from oauth2_provider.settings import oauth2_settings

PUBLIC_ADDRESS = "93.184.215.14"  # what every stubbed host name resolves to, unless told otherwise
ENVELOPE = "stub:served"


def served(document: Any = None, *, body: str | None = None, address: str | None = None, max_age: int = 3600) -> dict:
    """A stubbed answer with more than a document: a raw body, the host's address, a max-age."""
    answer: dict[str, Any] = {"max_age": max_age}
    if document is not None:
        answer["document"] = document
    if body is not None:
        answer["body"] = body
    if address is not None:
        answer["address"] = address
    return {ENVELOPE: answer}


def resolved_address(hostname: str, given: str | None) -> str:
    if given:
        return given
    try:
        return str(ipaddress.ip_address(hostname.strip("[]")))
    except ValueError:
        return "127.0.0.1" if hostname == "localhost" else PUBLIC_ADDRESS


class StubFetcher:
    documents: dict[str, Any] = {}
    fetched: list[str] = []

    def fetch(self, client_id: str) -> tuple[dict, int]:
        # The same URL rules as DOT's real fetcher, without the network.
        parsed = _validate_client_id_url(client_id)
        documents = dict(self.documents)
        path = os.environ.get("CIMD_STUB_DOCUMENTS")
        if path and os.path.exists(path):
            with open(path) as handle:
                documents.update(json.load(handle))
        StubFetcher.fetched.append(client_id)
        if client_id not in documents:
            raise CIMDError(f"no document at {client_id} (HTTP 404)")
        entry = documents[client_id]
        answer = entry[ENVELOPE] if isinstance(entry, dict) and ENVELOPE in entry else {"document": entry}
        address = resolved_address(parsed.hostname or "", answer.get("address"))
        if not _ip_is_public(address):
            raise CIMDError(f"client_id host resolves to a non-public address ({address})")
        body = answer["body"] if "body" in answer else json.dumps(answer.get("document"))
        if len(body.encode("utf-8")) > oauth2_settings.CIMD_MAX_DOCUMENT_SIZE:
            raise CIMDError("client_id document exceeds the maximum allowed size")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise CIMDError("client_id document is not valid JSON") from exc
        if not isinstance(data, dict):
            raise CIMDError("client_id document must be a JSON object")
        return data, int(answer.get("max_age", 3600))
