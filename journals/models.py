"""Journal formats and exports (built by the journals work; nothing here yet)."""
