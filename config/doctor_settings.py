"""Settings for `manage.py mcp_doctor`, which only reads the network: it must run on a fresh
checkout, with none of the deployment's environment (no SECRET_KEY, DEBUG or database), against
any MCP server. manage.py chooses this module for it; nothing here reads the environment."""

import secrets

INSTALLED_APPS = ["democlient"]
# Never used (no sessions, no signing); Django refuses to start without one.
SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
DATABASES: dict = {}
USE_TZ = True
LOGGING_CONFIG = None  # the doctor prints its report; the libraries' loggers stay quiet
