"""Anomaly events: scene geometry, rules on tracks, a learned normal-motion score, the event
lifecycle and the sinks that deliver events (bus, JSONL, webhook, MQTT).

``events`` sits beside ``perception`` and ``fusion``: it imports ``percept``, ``calib`` and
``sensors`` only and works on ``Tracks`` messages, whoever produced them.
"""
