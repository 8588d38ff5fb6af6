"""Plugins used only by Junction's own tests (registered with ``extra_plugins``)."""
