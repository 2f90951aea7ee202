"""README's "Watch" section works as written: the unit file's and the container's command
lines parse, the Prometheus files are valid YAML naming metrics the watch exports, and
the scheduled drift job runs plan with --detailed-exitcode on cron."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler.cli import cli
from reconciler.watch.metrics import Metrics

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Watch: drift, continuously", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, flags=re.DOTALL)


def parses(argv: list[str]) -> click.Context:
    """The arguments parse as the CLI would parse them."""
    assert argv[0] == "reconcile"
    name, *rest = argv[1:]
    parent = click.Context(cli, info_name="reconcile")
    command = cli.get_command(parent, name)
    assert command is not None
    return command.make_context(name, rest, parent=parent)


def exported() -> set[str]:
    """The names of every series the watch's registry exports."""
    return {s.name for family in Metrics().registry.collect() for s in family.samples}


def test_the_systemd_unit_runs_a_watch_that_parses() -> None:
    (unit,) = blocks("ini")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    ctx = parses(["reconcile", *argv[1:]])
    assert ctx.params["interval"] == 60 and ctx.params["listen"] == "127.0.0.1:9100"
    # systemd takes no comment after a value: comments stand on lines of their own.
    assert all(" #" not in line for line in unit.splitlines() if "=" in line)


def test_the_container_runs_a_watch_that_parses() -> None:
    (dockerfile,) = blocks("dockerfile")
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, flags=re.MULTILINE)
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert entry and cmd
    ctx = parses([*yaml.safe_load(entry.group(1)), *yaml.safe_load(cmd.group(1))])
    assert ctx.params["listen"] == "0.0.0.0:9100"


def test_the_prometheus_files_name_metrics_the_watch_exports() -> None:
    scrape, rules, workflow = (yaml.safe_load(b) for b in blocks("yaml"))
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9100"]
    (rule,) = rules["groups"][0]["rules"]
    names = set(re.findall(r"reconcile_[a-z_]+", rule["expr"]))
    assert names and names <= exported()
    staleness = re.search(r"`(time\(\) - [^`]+)`", SECTION)
    assert staleness and set(re.findall(r"reconcile_[a-z_]+", staleness.group(1))) <= exported()
    assert workflow["name"] == "providers-drift"


def test_the_scheduled_drift_job_plans_with_detailed_exitcode() -> None:
    workflow: dict[Any, Any] = yaml.safe_load(blocks("yaml")[2])
    triggers = workflow.get("on", workflow.get(True))  # YAML reads the key `on` as True
    assert triggers["schedule"][0]["cron"] == "17 * * * *"
    steps = workflow["jobs"]["drift"]["steps"]
    plan = next(s["run"] for s in steps if "reconcile plan" in s.get("run", ""))
    argv = shlex.split(plan.split(">")[0])
    ctx = parses(argv)
    assert ctx.params["detailed_exitcode"] is True


def test_the_metrics_table_lists_every_metric_the_watch_exports() -> None:
    families = {family.name for family in Metrics().registry.collect()}
    documented = set(re.findall(r"^\| `(reconcile_[a-z_]+)", SECTION, flags=re.MULTILINE))
    # Counters are documented as exported, with their _total suffix.
    assert {d.removesuffix("_total") for d in documented} == families
