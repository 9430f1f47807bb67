"""What the authorization server (`authserver`) and the MCP resource server (`mcpserver`) both use,
so that neither imports the other: the audit trail and its log format (JSON lines), the request
limits, JSON error answers at the ASGI layer, the stored discovery documents and the registry of
OAuth scopes.

Nothing here imports either role (an import-linter contract in `make test` checks it).
"""
