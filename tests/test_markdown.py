"""The Markdown plan as GitHub shows it: rendered by cmark-gfm, the parser GitHub uses,
with raw HTML let through as GitHub parses it (GitHub sanitises the HTML afterwards, so
what the parser makes of a hostile value is what a pull request would show)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options as CmarkOptions
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.diff import make_plan
from reconciler.core.model import ProviderSettings
from reconciler.core.plan import Options, Plan
from reconciler.output.markdown import code_span, error_markdown, md_text, plan_markdown, visible
from reconciler.secrets import Secret, scrubbing_run
from tests.factories import absent, desired, observed, spec, state

COMMENT_OPENER = "0 notes\n```\n<!--"
HOSTILE_NAMES = (
    COMMENT_OPENER,
    "x</b></summary></details><details><summary>y",
    "`````",
    "\u202eevil",
    "#  heading\n\n- list",
    "*em* _em_ [a](https://x.example) ![i](x) <b>b</b> &amp; | ~~s~~ $x$",
)


def gfm(text: str) -> str:
    """``text`` as GitHub's Markdown parser renders it."""
    rendered: str = cmarkgfm.github_flavored_markdown_to_html(
        text, options=CmarkOptions.CMARK_OPT_UNSAFE
    )
    return rendered


@dataclass
class Structure(HTMLParser):
    """The elements, comments and code blocks of rendered HTML."""

    tags: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)  # the text of each <pre>
    summaries: list[str] = field(default_factory=list)  # the text of each <summary>
    _open: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._open.append(tag)
        if tag == "pre":
            self.blocks.append("")
        if tag == "summary":
            self.summaries.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        if "pre" in self._open:
            self.blocks[-1] += data
        if "summary" in self._open:
            self.summaries[-1] += data


def text_of(rendered: str) -> str:
    """The text of rendered HTML, entities decoded."""
    parsed = TextOf()
    parsed.feed(rendered)
    parsed.close()
    return "".join(parsed.parts)


class TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def escaped(value: str) -> str:
    """``value`` as cmark writes text into HTML."""
    return html.escape(visible(value), quote=False).replace('"', "&quot;")


def structure(text: str) -> Structure:
    parsed = Structure()
    parsed.feed(gfm(text))
    parsed.close()
    return parsed


@pytest.fixture
def busy_plan() -> Plan:
    return make_plan(
        desired(
            spec("New", api_key="sk-markdown-secret-1", api_key_ref="${NEW_KEY}"),
            spec("Moved", base_url="https://b.example/v1", renamed_from=("Old",)),
            spec("Rekeyed", api_key="sk-markdown-secret-2", fetch_models=False),
            spec("Off", enabled=False),
            spec("Prompted", settings=ProviderSettings(system_prompt="Be brief.")),
            spec("Shown", visible=("gpt-4o",), hidden=("o3",)),
            absent("Legacy"),
        ),
        observed(
            state("Old", base_url="https://a.example/v1"),
            state("Rekeyed", key="sk-markdown-old"),
            state("Off"),
            state("Prompted"),
            state("Shown", models=("gpt-4o", "o3"), visible=("o3",)),
            state("Legacy", enabled=False, model_count=37),
            state("Stray"),
        ),
        Options(),
    )


def test_each_provider_is_one_folded_diff_block_of_coloured_lines(busy_plan: Plan) -> None:
    text = plan_markdown(busy_plan, target="t")
    parsed = structure(text)
    providers = ["Moved", "New", "Off", "Prompted", "Rekeyed", "Shown", "Legacy"]
    assert [s.split(":")[0] for s in parsed.summaries] == providers
    assert parsed.tags.count("details") == parsed.tags.count("pre") == len(providers)
    assert text.count("```diff\n") == len(providers)
    assert '<pre lang="diff"><code>' in gfm(text)
    # GitHub colours + (green), - (red) and ! (orange) lines only; a grey ~ hides a change.
    lines = [line for block in parsed.blocks for line in block.splitlines()]
    assert lines and all(line[:2] in ("+ ", "- ", "! ") for line in lines)


def test_a_changed_value_is_a_red_old_and_a_green_new_line(busy_plan: Plan) -> None:
    blocks = structure(plan_markdown(busy_plan, target="t")).blocks
    moved, new, off, prompted, rekeyed, shown, _ = blocks
    assert moved.splitlines() == [
        "! rename Old → Moved (keeps its id and models)",
        "! update Moved",
        "-     base_url: https://a.example/v1",
        "+     base_url: https://b.example/v1",
    ]
    assert new.splitlines() == [
        "+ create New (openai, https://api.openai.com/v1, enabled)",
        "+     api_key: ${NEW_KEY}",
        "! fetch models of New (new provider)",
    ]
    assert off.splitlines() == ["! disable Off (users stop seeing it and its models)"]
    assert prompted.splitlines()[1:] == [
        '-     system_prompt: ""',
        '+     system_prompt: "Be brief."',
    ]
    assert rekeyed.splitlines() == ["! update Rekeyed", "!     api_key: changed"]
    assert shown.splitlines() == [
        "! models of Shown",
        "+     show 1 model: gpt-4o",
        "-     hide 1 model: o3",
    ]


def test_a_delete_is_red_in_its_block_and_listed_first(busy_plan: Plan) -> None:
    text = plan_markdown(busy_plan, target="t")
    assert text.index("#### :warning: Deletes") < text.index("<details>")
    assert "- **`Legacy`** and its 37 models (ensure: absent)\n" in text
    assert structure(text).blocks[-1] == "- delete Legacy and its 37 models (ensure: absent)\n"


def test_a_shortened_value_never_shows_part_of_a_key() -> None:
    key = "sk-markdown-prompt-SECRET-0123456789"
    with scrubbing_run():
        Secret(key)
        prompt = ProviderSettings(system_prompt="Answer briefly. " * 3 + key)
        plan = make_plan(desired(spec("P", settings=prompt)), observed(state("P")), Options())
        text = plan_markdown(plan, target="t")
    assert '+     system_prompt: "Answer briefly. Answer briefly. Answer briefly. ***"' in text
    assert "sk-mark" not in text


def hostile_plan() -> Plan:
    """Every place a value reaches, each holding the worst a name can hold."""
    specs = [spec(name, base_url="https://c.example/v1") for name in HOSTILE_NAMES]
    states = [state(name, models=(), fetched=True) for name in HOSTILE_NAMES]
    return make_plan(
        desired(
            *specs,
            spec("Models", visible=("```\n<!--", "none\n```\n<!--")),
            spec("Retried", api_key="sk-markdown-retry", fetch_models=True),
            absent(COMMENT_OPENER + " deleted"),
        ),
        observed(
            *states,
            state("Models", models=("```\n<!--", "x\u202e")),
            state("Retried", key="sk-markdown-retry", last_fetch_error="500 ```\n<!-- oops"),
            state(COMMENT_OPENER + " deleted", enabled=False),
            state("Unmanaged\n```\n<!--"),
        ),
    )


def test_hostile_values_cannot_leave_their_place() -> None:
    plan = hostile_plan()
    assert plan.retries and plan.unmanaged and any("\n" in w for w in plan.warnings)
    parsed = structure(plan_markdown(plan, target="sqlite:///a`b.db\n<!--"))
    assert parsed.comments == []
    # One block per provider with a change: the hostile ones, Models, the delete.
    blocks = len(HOSTILE_NAMES) + 2
    assert parsed.tags == [
        *("h3", "p", "code", "p", "strong"),  # heading, target, summary
        *("h4", "ul", "li", "strong", "code"),  # deletes
        *("h4", "ul", *["li"] * len(plan.warnings)),
        "p",  # the fetch retried
        *("details", "summary", "b", "pre", "code") * blocks,
        *("p", "code", "code"),  # unmanaged
    ]
    for block in parsed.blocks:
        assert all(line[:2] in ("+ ", "- ", "! ") for line in block.splitlines())
    summaries = [s.rsplit(":", 1)[0] for s in parsed.summaries]
    # Each name shows as written, its invisible characters as escapes.
    assert sorted(summaries) == sorted(
        [*map(visible, HOSTILE_NAMES), "Models", visible(COMMENT_OPENER + " deleted")]
    )


def test_markdown_text_renders_as_written() -> None:
    for value in HOSTILE_NAMES:
        rendered = gfm(f"- {md_text(value)}\n")
        assert rendered.startswith("<ul>\n<li>") and rendered.count("<") == 4, rendered
        assert visible(value) in text_of(rendered)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_value_renders_as_its_visible_self(value: str) -> None:
    with scrubbing_run():  # the keys other tests left in the process's registry aside
        item = f"- {md_text(value)}\n"
    rendered = gfm(item)
    parsed = structure(item)
    # GitHub links an e-mail address whatever is escaped; nothing else becomes markup.
    assert [t for t in parsed.tags if t != "a"] == ["ul", "li"], rendered
    assert 'href="mailto:' in rendered or "a" not in parsed.tags
    # Markdown drops a list item's trailing spaces; nothing else differs.
    assert text_of(rendered).strip("\n").rstrip(" ") == visible(value).rstrip(" "), rendered


def test_leading_spaces_and_line_starts_stay_text() -> None:
    for value in ("    indented", "1. one", "2) two", "> quote", "+ plus", "=== x", "#"):
        rendered = gfm(f"- {md_text(value)}\n")
        assert rendered == f"<ul>\n<li>{escaped(value)}</li>\n</ul>\n", value


def test_code_spans_hold_any_backtick_run() -> None:
    for value in ("a`b", "``", "` x", "y `", "plain"):
        rendered = gfm(code_span(value))
        assert rendered == f"<p><code>{escaped(value)}</code></p>\n", value


def test_invisible_characters_are_shown_as_escapes() -> None:
    assert visible("a\nb\tc\u202ed\u200be\x00\U000e0001") == (
        "a\\nb\\tc\\u202ed\\u200be\\u0000\\U000e0001"
    )
    assert visible("line\nline", keep_newlines=True) == "line\nline"
    assert visible("Ünïcode ✓ 名前") == "Ünïcode ✓ 名前"


def test_an_error_comment_keeps_the_message_inside_its_block() -> None:
    message = "2 errors in the configuration:\n  a.yaml:1: ```\n```\n<!-- hidden\n\u202e"
    parsed = structure(error_markdown(message))
    assert parsed.comments == [] and parsed.tags.count("pre") == 1
    assert parsed.blocks == [
        "2 errors in the configuration:\n  a.yaml:1: ```\n```\n<!-- hidden\n\\u202e\n"
    ]


def test_notes_are_not_listed_as_warnings() -> None:
    plan = Plan(actions=(), notes=("the store does not exist yet",), warnings=("a typo?",))
    text = plan_markdown(plan, target="t")
    notes, warnings = text.index("#### Notes"), text.index("#### Warnings")
    assert notes < text.index("the store does not exist yet") < warnings < text.index("a typo?")
