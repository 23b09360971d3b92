"""What a user pastes into a BlackBox agent (``toolserver export blackbox``).

The blocks are built in :mod:`toolserver.console.connect`, which the console's Connect page
shows too, so the command line and the browser print the same config.
"""

from toolserver.console.connect import SECRET_PLACEHOLDER, blackbox_config, mcp_client_configs

__all__ = ["SECRET_PLACEHOLDER", "blackbox_config", "mcp_client_configs"]
