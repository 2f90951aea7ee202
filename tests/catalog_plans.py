"""A plan that holds every kind of catalog action, made by the real diff from core values:
shared by the tests of its text, Markdown and JSON renderings and of the apply report."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.catalog import (
    MODEL_SETTING_NAMES,
    Alias,
    ModelSettingRule,
    ModelSettings,
    StructuredOutput,
    TierSpec,
    TierState,
)
from reconciler.core.diff import make_plan
from reconciler.core.model import Capabilities, Desired, ModelRules, ModelState, Observed
from reconciler.core.plan import Options, Plan
from tests.factories import FULL, absent, spec, state

# A ClaraVerse-like catalog: every model setting reported but whether agents may use it.
CATALOG = replace(FULL, model_settings=frozenset(MODEL_SETTING_NAMES) - {"agents"})
KEY = "sk-catalog-secret-0123456789"


def catalog_desired(*, key: str | None = KEY) -> Desired:
    """OpenAI with settings by id and by glob, two aliases and two tiers; Legacy absent."""
    rules = ModelRules(
        visible=("gpt-4o*",),
        settings=(
            ModelSettingRule(pattern="*-mini", settings=ModelSettings(agents=False)),
            ModelSettingRule(
                pattern="gpt-4o",
                settings=ModelSettings(display_name="GPT-4o", context_length=128000, agents=True),
            ),
        ),
        aliases=(
            Alias(
                name="fast",
                model="gpt-4o-mini",
                display_name="Fast",
                description="Quick answers",
                free_tier=True,
                structured_output=StructuredOutput(support="good", compliance=92, badge="FAST"),
            ),
            Alias(name="smart", model="gpt-4o", display_name="Smart"),
        ),
    )
    openai = replace(spec("OpenAI", api_key=key, fetch_models=False), models=rules)
    return Desired(
        providers=(openai, absent("Legacy")),
        tiers=(
            TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o"),
            TierSpec(tier="tier4", provider="OpenAI", model="fast"),
        ),
        files=(),
    )


def catalog_observed(capabilities: Capabilities = CATALOG, *, key: str | None = KEY) -> Observed:
    """What the target has before the plan: old settings, aliases and tiers."""
    openai = replace(
        state(
            "OpenAI", key=key, models=("gpt-4o", "gpt-4o-mini"), visible=("gpt-4o", "gpt-4o-mini")
        ),
        models=(
            ModelState(
                id="gpt-4o",
                visible=True,
                settings=ModelSettings(display_name="gpt-4o", context_length=0, agents=None),
            ),
            ModelState(id="gpt-4o-mini", visible=True, settings=ModelSettings(display_name="Mini")),
        ),
        aliases=(
            Alias(name="fast", model="gpt-4o-mini", display_name="Fast"),
            Alias(name="old", model="gpt-4o", display_name="Old"),
        ),
    )
    legacy = replace(
        state("Legacy", enabled=False, model_count=37),
        aliases=(Alias(name="a", model="gpt-4o"), Alias(name="b", model="gpt-4o")),
    )
    return Observed(
        providers=(openai, legacy),
        capabilities=capabilities,
        tiers=(
            TierState(tier="tier1", provider_id="id-OpenAI", model_id="gpt-4o-mini"),
            TierState(tier="tier2", provider_id="id-Legacy", model_id="gpt-4o"),
            TierState(tier="tier5", provider_id="id-Legacy", model_id="gpt-4o"),
        ),
        aliases_read_for=frozenset({"gpt-4o", "gpt-4o-mini"}),
    )


def catalog_plan() -> Plan:
    """The plan of ``catalog_desired`` against ``catalog_observed``."""
    return make_plan(catalog_desired(), catalog_observed(), Options())
