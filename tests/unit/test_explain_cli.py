"""`creditwatch explain`: a decision and its reasons as a table, from an event or from the log alone."""

from typer.testing import CliRunner

from creditwatch.cli import app


def test_explain_prints_the_decision_and_four_readable_reasons_of_an_event():
    result = CliRunner().invoke(
        app, ["explain", "-e", "events/predict-valid.json", "--counterfactual"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "decision refuse" in result.output
    for label in ("Status of existing checking account", "Credit amount", "Savings account/bonds", "Credit history"):
        assert label in result.output
    assert "0 <= ... < 200 DM" in result.output
    assert "approved with" in result.output and "Age in years" not in result.output.split("would change")[1]


def test_explain_rebuilds_a_logged_decisions_reasons_from_the_log_alone(aws, prediction_log, model, event, monkeypatch):
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    service = build(PredictSettings(), AwsClients(), model=model)
    from fastapi.testclient import TestClient

    answer = (
        TestClient(service.app)
        .post("/predict", content=event("predict-valid.json")["body"], headers={"content-type": "application/json"})
        .json()
    )
    monkeypatch.setattr("creditwatch.cli.common.prediction_log", lambda: prediction_log)
    result = CliRunner().invoke(app, ["explain", "--prediction-id", answer["prediction_id"]], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "decision refuse" in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert [line.split("│")[2].strip() for line in lines] == [r["label"] for r in answer["reasons"]]
