"""mqws conformance suite: MQTT over WebSocket checks against any broker URL."""
__version__ = "0.1.0"
