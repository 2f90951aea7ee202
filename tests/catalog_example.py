"""The issue's example as Desired values built directly (the config that reads it is
another part's) and as the file's text, and the plan-and-apply steps the catalog tests
share."""

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


TIERS = (
    TierSpec(tier="tier1", provider="OpenAI", model="gpt-4o"),
    TierSpec(tier="tier4", provider="OpenAI", model="fast"),
)


def issue_rules(alias: Alias = FAST) -> ModelRules:
    """The issue's OpenAI models: gpt-4o* visible, gpt-4o's settings, no agents for the
    minis, and ``alias``."""
    return ModelRules(
        visible=("gpt-4o*",),
        settings=(
            ModelSettingRule(pattern="gpt-4o", settings=GPT_4O),
            ModelSettingRule(pattern="*-mini", settings=ModelSettings(agents=False)),
        ),
        aliases=(alias,),
    )


def desired(
    upstream: Upstream,
    *,
    alias: Alias = FAST,
    tiers: tuple[TierSpec, ...] = TIERS,
) -> Desired:
    """The issue's example, as the config would build it."""
    spec = ProviderSpec(
        name="OpenAI",
        type="openai",
        base_url=upstream.base_url("openai"),
        api_key=Secret(OPENAI_KEY),
        api_key_ref="${E2E_OPENAI_KEY}",
        models=issue_rules(alias),
    )
    return Desired(providers=(spec,), tiers=tiers)


# The example's structured_output, on one line as the issue writes it (a line too long for
# this file's source).
STRUCTURED_OUTPUT = '{support: good, compliance: 92, speed_ms: 900, badge: FASTEST, warning: ""}'


def example_yaml(base_url: str, *, api_key: str = "", description: str = "Quick answers") -> str:
    """The issue's example file as written there: the values above as a user writes them,
    without a key unless ``api_key`` (a reference such as ``${E2E_OPENAI_KEY}``) is given,
    on a line of its own after base_url."""
    key = f"    api_key: {api_key}\n" if api_key else ""
    return f"""\
version: 1
providers:
  - name: OpenAI
    type: openai
    base_url: {base_url}
{key}    models:
      visible: ["gpt-4o*"]
      settings:
        "gpt-4o":
          display_name: GPT-4o
          description: Flagship multimodal model
          context_length: 128000
          system_prompt: ""
          supports_tools: true
          supports_vision: true
          supports_streaming: true
          smart_tool_router: true
          agents: true
        "*-mini": {{agents: false}}
      aliases:
        fast:
          model: gpt-4o-mini
          display_name: Fast
          description: {description}
          agents: true
          supports_vision: false
          free_tier: true
          structured_output: {STRUCTURED_OUTPUT}
          memory_extractor: false
          memory_selector: false
tiers:
  tier1: {{provider: OpenAI, model: gpt-4o}}
  tier4: {{provider: OpenAI, model: fast}}
"""


def plan_for(want: Desired, target: ClaraVerseTarget) -> Plan:
    return make_plan(want, target.observe(alias_scope(want)))


def apply(want: Desired, target: ClaraVerseTarget) -> Report:
    return converge(plan_for(want, target), target, lambda: plan_for(want, target))


def kinds(plan: Plan) -> list[str]:
    return [a.kind for a in plan.changes]


def target_for(url: str, real: RealServer) -> ClaraVerseTarget:
    return ClaraVerseTarget(url, env={"CLARAVERSE_TOKEN": real.state.admin_token})
