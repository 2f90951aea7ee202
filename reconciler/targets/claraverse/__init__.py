"""The ClaraVerse target: a server's provider admin API over HTTP (httpx)."""

from reconciler.targets.claraverse.target import KEYLESS_PLACEHOLDER, ClaraVerseTarget

__all__ = ["KEYLESS_PLACEHOLDER", "ClaraVerseTarget"]
