"""The sandbox server: the ClaraVerse provider API over the embedded store."""
