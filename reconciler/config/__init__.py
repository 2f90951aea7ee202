"""providers.yaml → Desired: files, strict YAML, substitution, schema, specs, checks."""

from reconciler.config.loader import check_url, expand_paths, load, schema

__all__ = ["check_url", "expand_paths", "load", "schema"]
