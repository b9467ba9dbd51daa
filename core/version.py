"""Versions of the kernel.

``CORE_API_VERSION`` is the version of the plugin contract (hookspecs, PluginInfo and the
public services plugins may import), not of the distribution: a plugin's ``requires_core``
range is checked against it at start-up. Minor versions only add; a major version may break.
"""

CORE_API_VERSION = "1.1"
__version__ = "0.2.0"
