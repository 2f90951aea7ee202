"""Other systems' configurations as providers.yaml: ClaraVerse's providers.json, LiteLLM's
proxy config, LibreChat's librechat.yaml and Open WebUI's connections.

``import_file`` reads a file, finds its format from the content (or takes the one given),
hands it to that format's module (each turns it into a ``common.Source``) and writes the
result with ``writer.write``. docs/import-formats.md says what each format carries.
"""

from __future__ import annotations

from typing import Literal, get_args

from reconciler.errors import ReconcilerError
from reconciler.importers import claraverse, librechat, litellm, openwebui
from reconciler.importers.common import Source, variables_in
from reconciler.importers.sourcefile import Document, looks_like_env, parse_structured, read_text
from reconciler.importers.writer import Written, lines_of, write

__all__ = ["FORMATS", "Format", "Written", "detect", "import_file", "lines_of"]

Format = Literal["claraverse", "litellm", "librechat", "openwebui"]
FORMATS: tuple[Format, ...] = get_args(Format)


def _is_providers_yaml(data: object) -> bool:
    """This tool's own file: version 1, and entries with a type (or ``ensure``)."""
    if not isinstance(data, dict) or data.get("version") != 1:
        return False
    entries = data.get("providers")
    return isinstance(entries, list) and any(
        isinstance(e, dict) and ("type" in e or "ensure" in e) for e in entries
    )


def detect(text: str, doc: Document | None) -> Format:
    """The format of a file, from its content; an error that lists the formats if none fits."""
    data = doc.data if doc is not None else None
    if _is_providers_yaml(data):
        raise ReconcilerError("this is already a providers.yaml: nothing to import")
    if claraverse.detect(data):
        return "claraverse"
    if litellm.detect(data):
        return "litellm"
    if librechat.detect(data):
        return "librechat"
    if openwebui.detect_structured(data) or looks_like_env(text, openwebui.ENV_NAMES):
        return "openwebui"
    raise ReconcilerError(
        "cannot tell the format of this file; give it with --from: claraverse (providers.json "
        "with a 'providers' list), litellm (config.yaml with a 'model_list'), librechat "
        "(librechat.yaml with 'endpoints'), openwebui (.env, docker compose or exported "
        "settings with OPENAI_API_BASE_URLS / OLLAMA_BASE_URL)"
    )


def _parse(fmt: Format, text: str, doc: Document | None, file: str) -> Source:
    if fmt == "openwebui" and (doc is None or not openwebui.detect_structured(doc.data)):
        return openwebui.parse_env_text(text, file)
    if doc is None:
        raise ReconcilerError(f"{file}: not valid YAML or JSON, as a {fmt} file must be")
    if fmt == "claraverse":
        return claraverse.parse(doc, file)
    if fmt == "litellm":
        return litellm.parse(doc, file)
    if fmt == "librechat":
        return librechat.parse(doc, file)
    return openwebui.parse_structured(doc, file)


def import_file(path: str, source_format: Format | None = None) -> tuple[Format, Written]:
    """The file at ``path`` as providers.yaml text, with its report; the format used."""
    text = read_text(path)
    doc = parse_structured(text)
    fmt = source_format or detect(text, doc)
    return fmt, write(_parse(fmt, text, doc, path), reserved=variables_in(text))
