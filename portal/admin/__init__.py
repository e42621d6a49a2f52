"""Administration: a store's people and settings, head office's stores and the offer catalogue."""
