"""Frigate over MQTT: ``shequ surveillance frigate`` subscribes to Frigate's ``events``
and ``reviews`` topics and turns them into incidents through the analytics ingest.

``config`` (the settings schema, imported at start-up), ``mapping`` (messages → the
ingest's fields, pure), ``ingest`` (one message in one session) and ``worker`` (the
paho-mqtt client: QoS 1, persistent session, reconnect with back-off). Nothing is
imported here, so loading the plugin's settings never imports paho.
See docs/plugins/surveillance.md, "Frigate".
"""
