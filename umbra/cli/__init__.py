"""The `umbra` command line.

Layout: ``_app`` (group, options, errors, output), one ``_<topic>_cmds`` module per command
group, ``_format`` and ``_listing_input`` (edges: text and JSON in and out).
"""

from ._app import cli, main
from ._demo_cmds import demo
from ._listing_cmds import listing
from ._messages_cmds import messages
from ._node_cmds import node, status
from ._order_cmds import order
from ._profile_cmds import init, profiles
from ._sandbox_cmds import sandbox
from ._search_cmds import search
from ._wallet_cmds import wallet
from ._web_cmds import add_web_commands

cli.add_command(init)
cli.add_command(profiles)
cli.add_command(listing)
cli.add_command(search)
cli.add_command(demo)
cli.add_command(node)
cli.add_command(status)
cli.add_command(messages)
cli.add_command(sandbox)
cli.add_command(wallet)
cli.add_command(order)
add_web_commands(cli)

__all__ = ["cli", "main"]
