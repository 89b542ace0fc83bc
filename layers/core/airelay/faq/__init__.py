"""The FAQ bot: sources (source.py), the index and matching (index.py), building (build.py), where indexes live
(store.py), the warm per-container bot (service.py) and its chat fallback (fallback.py)."""
