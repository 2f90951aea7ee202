"""providers.yaml → Desired: files, strict YAML, substitution, schema, specs, checks."""

from reconciler.config.files import expand_paths
from reconciler.config.loader import environment_target, load, load_environments
from reconciler.config.schema_check import schema
from reconciler.config.specs import check_url

__all__ = [
    "check_url",
    "environment_target",
    "expand_paths",
    "load",
    "load_environments",
    "schema",
]
