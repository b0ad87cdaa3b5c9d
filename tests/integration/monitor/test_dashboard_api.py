"""The dashboard's JSON API on a real server on loopback, driven from its own OpenAPI schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gpt_trader.monitor.web import create_app
from gpt_trader.sandbox.server import BackgroundServer
from gpt_trader.store import Store
from tests.support.monitor_records import LATEST_ROTATION, REGIME_ROWS, Planted

SWEEP_RUN = 1
BAD_VALUES = ("abc", "-1", "1e999", "", "%00", "x" * 300, "2026-13-45")


@pytest.fixture
def client(filled_store: Store, planted: Planted) -> Iterator[httpx.Client]:
    server = BackgroundServer(create_app(filled_store, stream_interval=0.05))
    with server, httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def good_values(planted: Planted) -> dict[str, Any]:
    return {
        "run_id": SWEEP_RUN,
        "result_id": 1,
        "account_id": planted.accounts["a"],
        "session_id": planted.session,
        "seconds": 0.2,
        "strategy": "ma_crossover",
    }


def operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, methods["get"]) for path, methods in schema["paths"].items()]


def url(template: str, values: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: str(values[match.group(1)]), template)


def required_query(operation: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: values[p["name"]]
        for p in operation.get("parameters", [])
        if p["in"] == "query" and (p.get("required") or p["name"] == "seconds")
    }


def test_the_schema_lists_every_endpoint_and_only_gets(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert {method for methods in schema["paths"].values() for method in methods} == {"get"}
    assert len(schema["paths"]) >= 12
    assert all(path.startswith("/api/") for path in schema["paths"])


def test_every_endpoint_answers_its_planted_data(client: httpx.Client, planted: Planted) -> None:
    schema = client.get("/openapi.json").json()
    values = good_values(planted)
    for template, operation in operations(schema):
        answer = client.get(url(template, values), params=required_query(operation, values))
        assert answer.status_code == 200, (template, answer.text)
        assert answer.text, template


def test_bad_parameters_get_a_clear_4xx_never_a_500(client: httpx.Client, planted: Planted) -> None:
    schema = client.get("/openapi.json").json()
    values = good_values(planted)
    for template, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            for bad in BAD_VALUES:
                if parameter["in"] == "path":
                    target, query = url(template, {**values, parameter["name"]: bad or "0"}), {}
                else:
                    target = url(template, values)
                    query = {**required_query(operation, values), parameter["name"]: bad}
                answer = client.get(target, params=query)
                assert answer.status_code < 500, (template, parameter["name"], bad, answer.text)
                if answer.status_code >= 400:
                    assert answer.json()["detail"], (template, parameter["name"], bad)


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/runs/999999", 404, "there is no run 999999"),
        ("/api/results/999999/curves", 404, "there is no backtest result 999999"),
        ("/api/accounts/999999/equity", 404, "there is no account 999999"),
        ("/api/stream?session_id=999999", 404, "there is no trading session 999999"),
        ("/api/rotations?session_id=999999", 404, "there is no trading session 999999"),
        ("/api/runs/999999/regimes", 404, "there is no run 999999"),
        ("/api/runs?kind=bogus", 422, "Input should be 'backtest'"),
        ("/api/runs/1/results?sort=params", 422, "Input should be"),
        ("/api/runs/1/heatmap?x=fast&y=fast", 422, "two different parameters"),
        ("/api/runs/1/heatmap?x=nope", 422, "'nope' is not a parameter"),
    ],
)
def test_missing_things_and_bad_choices_are_named(client: httpx.Client, path: str, status: int, message: str) -> None:
    answer = client.get(path)
    assert answer.status_code == status
    assert message in str(answer.json()["detail"])


def test_curves_of_a_result_are_recomputed_to_its_stored_metrics(client: httpx.Client) -> None:
    for result in client.get(f"/api/runs/{SWEEP_RUN}/results").json()[:3]:
        curves = client.get(f"/api/results/{result['id']}/curves").json()
        assert curves["same_data"] is True
        assert curves["metrics"]["total_return"] == pytest.approx(result["total_return"], rel=1e-12)
        assert curves["metrics"]["sharpe"] == pytest.approx(result["sharpe"], rel=1e-12)
        assert curves["equity"][-1] == pytest.approx(result["final_equity"], rel=1e-12)
        assert len(curves["times"]) == len(curves["close"]) == len(curves["drawdown"])
        assert max(curves["drawdown"]) == 0 and min(curves["drawdown"]) == pytest.approx(result["max_drawdown"])
        assert len(curves["trades"]) == result["trades"]


def test_heatmap_holds_each_parameter_pair_metric(client: httpx.Client) -> None:
    results = client.get(f"/api/runs/{SWEEP_RUN}/results").json()
    heat = client.get(f"/api/runs/{SWEEP_RUN}/heatmap", params={"metric": "total_return"}).json()
    assert (heat["x"], heat["y"], heat["xs"], heat["ys"]) == ("fast", "slow", [5, 10, 15], [20, 30, 40])
    for row in results:
        cell = heat["z"][heat["ys"].index(row["params"]["slow"])][heat["xs"].index(row["params"]["fast"])]
        assert cell == pytest.approx(row["total_return"])


def test_the_stream_sends_new_equity_as_it_is_written(client: httpx.Client, planted: Planted) -> None:
    events = client.get("/api/stream", params={"session_id": planted.session, "seconds": 0.3}).text
    ids = [int(line.removeprefix("id: ")) for line in events.splitlines() if line.startswith("id: ")]
    assert ids and ids[-1] == 10  # the 5 + 5 planted snapshots
    resumed = client.get(
        "/api/stream", params={"session_id": planted.session, "seconds": 0.3}, headers={"Last-Event-ID": "10"}
    ).text
    assert "event: equity" not in resumed


def test_compare_lines_up_a_strategys_kinds_and_gap(client: httpx.Client) -> None:
    comparison = client.get("/api/compare", params={"strategy": "ma_crossover"}).json()
    kinds = {row["kind"]: row for row in comparison["kinds"]}
    assert kinds["backtest"]["runs"] == 2 and kinds["backtest"]["records"] == 10  # the sweep and the planted run
    assert kinds["paper"]["runs"] == 1 and kinds["simulation"]["runs"] == 0
    (gap,) = comparison["gaps"]
    assert gap["product_id"] == "BTC-USD"
    assert gap["gap"] == pytest.approx(gap["paper_return"] - gap["backtest_return"])
    assert gap["paper_return"] == pytest.approx(40 / 10_000)
    assert client.get("/api/compare").status_code == 422


def test_rotations_carry_their_reasons_and_numbers(client: httpx.Client, planted: Planted) -> None:
    rows = client.get("/api/rotations", params={"session_id": planted.session}).json()
    assert [(row["candidate"], row["decision"], row["account"]) for row in rows] == [
        ("ma_crossover:BTC-USD", "keep", "a"),
        ("momentum:ETH-USD", "retire", "b"),
        ("ma_crossover:BTC-USD", "start", None),
        ("momentum:ETH-USD", "start", None),
    ]
    assert rows[1]["reason"] == "drawdown 12.0% reached the limit 10.0%"
    assert rows[0]["numbers"] == {"paper_return": 0.004, "shortfall": 0.0123456}
    assert rows[0]["time"] == LATEST_ROTATION.isoformat()
    assert len(client.get("/api/rotations", params={"limit": 1}).json()) == 1


def test_a_runs_regimes_are_served(client: httpx.Client, planted: Planted) -> None:
    rows = client.get(f"/api/runs/{planted.sweep_run}/regimes").json()
    assert [(row["regime"], row["share"], row["sharpe"]) for row in rows] == [
        (r["regime"], r["share"], r["sharpe"]) for r in REGIME_ROWS
    ]
    assert client.get(f"/api/runs/{SWEEP_RUN}/regimes").json() == []
