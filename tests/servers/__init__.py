"""Local servers that speak real protocols (XRPC, …) so live sources are tested end to end."""
