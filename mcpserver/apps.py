from django.apps import AppConfig
from django.core import checks
from django.utils.module_loading import autodiscover_modules


class McpserverConfig(AppConfig):
    name = "mcpserver"
    verbose_name = "MCP server"

    def ready(self) -> None:
        from .checks import check_registry

        # Like the admin's admin.py: every installed app's mcp_tools.py declares its tools,
        # resources, prompts and scopes as it is imported.
        autodiscover_modules("mcp_tools")
        checks.register(check_registry, "mcp")
