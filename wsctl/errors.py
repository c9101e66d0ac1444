class WsctlError(Exception):
    """An operator-facing failure: printed as one line `wsctl: <message>` with exit status 1."""
