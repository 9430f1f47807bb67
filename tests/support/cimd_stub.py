"""A stand-in for the remote web servers that host client metadata documents (CIMD).

Plugged in through django-oauth-toolkit's own extension point, CIMD_METADATA_FETCHER (the
server reads it from the CIMD_FETCHER environment variable), so that no test touches the
network. Documents come from `StubFetcher.documents` (in-process tests) or from the JSON file
named by CIMD_STUB_DOCUMENTS (a live server started by the tests).
"""

from __future__ import annotations

import json
import os

from oauth2_provider.cimd import CIMDError, _validate_client_id_url


class StubFetcher:
    documents: dict[str, dict] = {}
    fetched: list[str] = []

    def fetch(self, client_id: str) -> tuple[dict, int]:
        # The same URL rules as DOT's real fetcher, without the network.
        _validate_client_id_url(client_id)
        documents = dict(self.documents)
        path = os.environ.get("CIMD_STUB_DOCUMENTS")
        if path and os.path.exists(path):
            with open(path) as handle:
                documents.update(json.load(handle))
        StubFetcher.fetched.append(client_id)
        if client_id not in documents:
            raise CIMDError(f"no document at {client_id} (HTTP 404)")
        return documents[client_id], 3600
