from django.apps import AppConfig


class FrontPageConfig(AppConfig):
    """The front page at `/` (the issuer URL): what this server is, how to connect each well-known
    MCP client, a live self-check of the discovery chain, and the favicon."""

    name = "frontpage"
    verbose_name = "Front page"
