"""providers.yaml → Desired: files, strict YAML, substitution, schema, specs, checks."""

from reconciler.config.files import expand_paths
from reconciler.config.loader import load
from reconciler.config.schema_check import schema
from reconciler.config.specs import check_url

__all__ = ["check_url", "expand_paths", "load", "schema"]
