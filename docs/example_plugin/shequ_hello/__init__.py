"""Placeholder: the plugin guide's example plugin is written with the guide."""

from core.hookspecs import PluginInfo

info = PluginInfo(id="hello", version="0.1.0", title="Hello")
