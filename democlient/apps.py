from django.apps import AppConfig


class DemoClientConfig(AppConfig):
    """The client side, for client developers: the narrated demo (`mcp_demo`), the discovery
    doctor for any MCP server (`mcp_doctor`), and the generated API documentation (`/docs/`)."""

    name = "democlient"
    verbose_name = "MCP client tools"
