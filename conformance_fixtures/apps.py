from django.apps import AppConfig


class ConformanceFixturesConfig(AppConfig):
    name = "conformance_fixtures"
    verbose_name = "MCP conformance suite fixtures"
    # A test switch (MCP_CONFORMANCE_FIXTURES), not part of the API the client docs describe.
    mcp_in_docs = False
