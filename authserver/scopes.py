"""The authorization server's scopes: the ones the apps declare (common/scopes.py), through
django-oauth-toolkit's `SCOPES_BACKEND_CLASS`, so the consent page, the token endpoint and the
metadata agree with the resource server without importing it."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from common.scopes import registry


class DeclaredScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        """Scope → what the consent page says about it."""
        return registry.descriptions()

    def get_available_scopes(self, application: Any = None, request: Any = None, *args, **kwargs) -> list[str]:
        return registry.names()

    def get_default_scopes(self, application: Any = None, request: Any = None, *args, **kwargs) -> list[str]:
        return registry.defaults()
