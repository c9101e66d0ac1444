"""wsctl: the local stack and the operations CLI of the realtime WebSocket backend."""
