"""Example plugin (filled in by the plugin-author work)."""

__version__ = "0.1.0"
