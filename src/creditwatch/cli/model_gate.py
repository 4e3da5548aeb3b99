"""`creditwatch model gate <version>`: the PreTraffic hook's model gate against the local stack."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common


def gate(
    version: Annotated[str, typer.Argument(help="The model version the release ships (template.yaml MODEL_VERSION)")],
    as_json: Annotated[bool, typer.Option("--json", help="The verdict and its rows as JSON")] = False,
) -> None:
    """Replay the frozen set through the local predict function, judged as the PreTraffic hook does: exit 0 or 1."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.registry import ModelRegistry, RegistryError
    from creditwatch_common.replay import REPLAY_FILE, InvalidReplaySet, load_replay, schema_problems
    from creditwatch_deploy_hook.gate import Baseline, Tolerance, judge
    from creditwatch_deploy_hook.replay_run import Replayer, ReplayFailed
    from creditwatch_model import METADATA_FILE, model_dir

    state = common.local_state()
    try:
        replay = load_replay(model_dir() / REPLAY_FILE)
    except InvalidReplaySet as exc:
        common.fail(str(exc))
    problems = schema_problems(replay, json.loads((model_dir() / METADATA_FILE).read_text())["feature_schema"])
    if problems:
        common.fail(f"the replay set does not match the model's schema: {problems[0]}")

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = common.run_job("PredictFunction", event)
        return result

    try:
        answers = Replayer(invoke).answers(replay.applications, "the local predict function", "local-gate")
    except ReplayFailed as exc:
        common.fail(str(exc))
    evidence = None
    if version != replay.model_version:
        template = Template(endpoint=state.endpoint)
        registry = ModelRegistry(stack.boto_client("s3", state.endpoint), template.ref("ModelRegistryBucket"))
        try:
            evidence = registry.latest_evidence(version)
        except RegistryError as exc:
            common.fail(str(exc))
    baseline = Baseline(replay.model_version, replay.answers, "the frozen replay set")
    result = judge(answers, len(replay.applications), version, baseline, evidence, Tolerance()).model_dump()
    if as_json:
        common.print_json(result)
    else:
        from creditwatch.cli.render.gate import gate_result

        gate_result(result)
    if not result["passed"]:
        raise typer.Exit(errors.FAILED)
