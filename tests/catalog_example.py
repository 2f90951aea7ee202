"""The issue's example as Desired values built directly (the config that reads it is
another part's), and the plan-and-apply steps the catalog tests share."""

from __future__ import annotations

from reconciler.core.catalog import (
    Alias,
    ModelSettingRule,
    ModelSettings,
    StructuredOutput,
    TierSpec,
)
from reconciler.core.catalog_diff import alias_scope
from reconciler.core.diff import make_plan
from reconciler.core.execute import converge
from reconciler.core.model import Desired, ModelRules, ProviderSpec
from reconciler.core.plan import Plan, Report
from reconciler.secrets import Secret
from reconciler.targets.claraverse import ClaraVerseTarget
from tests.realserver import RealServer
from tests.sandbox import OPENAI_KEY
from tests.upstreams import Upstream

FAST = Alias(
    name="fast",
    model="gpt-4o-mini",
    display_name="Fast",
    description="Quick answers",
    agents=True,
    supports_vision=False,
    free_tier=True,
    structured_output=StructuredOutput(
        support="good", compliance=92, speed_ms=900, badge="FASTEST"
    ),
    memory_extractor=False,
    memory_selector=False,
)
GPT_4O = ModelSettings(
    display_name="GPT-4o",
    description="Flagship multimodal model",
    context_length=128000,
    system_prompt="",
    supports_tools=True,
    supports_vision=True,
    supports_streaming=True,
    smart_tool_router=True,
    agents=True,
)


def desired(
    upstream: Upstream,
    *,
    alias: Alias = FAST,
    tiers: tuple[TierSpec, ...] = (
        TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o"),
        TierSpec(tier="tier4", provider="OpenAI", model="fast"),
    ),
) -> Desired:
    """The issue's example, as the config would build it."""
    rules = ModelRules(
        visible=("gpt-4o*",),
        settings=(
            ModelSettingRule(pattern="gpt-4o", settings=GPT_4O),
            ModelSettingRule(pattern="*-mini", settings=ModelSettings(agents=False)),
        ),
        aliases=(alias,),
    )
    spec = ProviderSpec(
        name="OpenAI",
        type="openai",
        base_url=upstream.base_url("openai"),
        api_key=Secret(OPENAI_KEY),
        api_key_ref="${E2E_OPENAI_KEY}",
        models=rules,
    )
    return Desired(providers=(spec,), tiers=tiers)


def plan_for(want: Desired, target: ClaraVerseTarget) -> Plan:
    return make_plan(want, target.observe(alias_scope(want)))


def apply(want: Desired, target: ClaraVerseTarget) -> Report:
    return converge(plan_for(want, target), target, lambda: plan_for(want, target))


def kinds(plan: Plan) -> list[str]:
    return [a.kind for a in plan.changes]


def target_for(url: str, real: RealServer) -> ClaraVerseTarget:
    return ClaraVerseTarget(url, env={"CLARAVERSE_TOKEN": real.state.admin_token})
