"""Inputs through the API as Kestra treats them: undeclared ones ignored, invalid ones named by their field."""

from __future__ import annotations

from tests.api.conftest import ApiHarness

FLOW = """
id: required_input
namespace: api.inputs
inputs:
  - id: who
    type: STRING
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.who }}"
"""
CREATE = "/api/v1/executions/api.inputs/required_input"


async def deploy(api: ApiHarness) -> None:
    api.flows.deploy(FLOW)  # the same source again is the same revision (the Kafka backend serves every test)


async def test_a_missing_required_input_names_its_field_and_not_a_command_line_option(api: ApiHarness) -> None:
    await deploy(api)
    answer = await api.client.post(CREATE, json={})
    body = await answer.json()
    assert answer.status == 422, body
    assert "'who'" in body["message"] and "--input" not in body["message"]
    assert [detail["path"] for detail in body["errors"]] == ["who"]


async def test_an_undeclared_input_is_ignored_as_kestra_does(api: ApiHarness) -> None:
    await deploy(api)
    answer = await api.client.post(CREATE, params={"wait": "true"}, json={"who": "Ada", "nmae": "typo"})
    body = await answer.json()
    assert answer.status == 200, body
    assert body["state"]["current"] == "SUCCESS" and body["inputs"] == {"who": "Ada"}
