"""Output files of an execution, downloaded through the API; nothing outside the execution's folder."""

from __future__ import annotations

from tests.api.conftest import ApiHarness


async def _report_uri(api: ApiHarness) -> tuple[str, str]:
    execution_id = await api.backend.create_execution("api.tests", "files_output")
    execution = await api.backend.wait(execution_id, 60)
    assert execution.state.current == "SUCCESS"
    run = next(tr for tr in execution.task_run_list if tr.task_id == "write")
    assert run.outputs is not None
    return execution_id, run.outputs["outputFiles"]["report.txt"]


async def test_an_output_file_is_downloaded_with_its_name_and_content(api: ApiHarness) -> None:
    execution_id, uri = await _report_uri(api)
    answer = await api.client.get(f"/api/v1/executions/{execution_id}/file", params={"path": uri})
    assert answer.status == 200
    assert await answer.read() == b"line 1\nline 2\nline 3\n"
    assert "report.txt" in answer.headers["Content-Disposition"]
    metas = await api.client.get(f"/api/v1/main/executions/{execution_id}/file/metas", params={"path": uri})
    assert await metas.json() == {"size": 21}


async def test_a_preview_shows_the_first_lines_and_says_it_is_truncated(api: ApiHarness) -> None:
    execution_id, uri = await _report_uri(api)
    answer = await api.client.get(f"/api/v1/executions/{execution_id}/file/preview",
                                  params={"path": uri, "maxRows": "2"})
    assert await answer.json() == {"extension": "txt", "content": ["line 1", "line 2"], "truncated": True}


async def test_a_file_of_another_execution_or_a_bad_uri_is_refused(api: ApiHarness) -> None:
    first, uri = await _report_uri(api)
    second, _ = await _report_uri(api)
    other = await api.client.get(f"/api/v1/executions/{second}/file", params={"path": uri})
    assert other.status == 422 and second in (await other.json())["message"]
    escaping = await api.client.get(f"/api/v1/executions/{first}/file",
                                    params={"path": uri.rsplit("/", 1)[0] + "/../../../secret"})
    assert escaping.status == 422
    unknown = await api.client.get("/api/v1/executions/nope/file", params={"path": uri})
    assert unknown.status == 404
    missing = await api.client.get(f"/api/v1/executions/{first}/file", params={"path": uri + ".gone"})
    assert missing.status == 404


async def test_the_log_file_of_a_log_to_file_attempt_is_downloaded_and_its_lines_are_not_in_the_logs(
        api: ApiHarness) -> None:
    api.flows.deploy("id: log_file\nnamespace: api.files\ntasks:\n"
                     "  - id: noisy\n    type: io.kestra.plugin.core.log.Log\n    logToFile: true\n"
                     "    message: [to the file, and this too]\n"
                     "  - id: quiet\n    type: io.kestra.plugin.core.log.Log\n    message: to the log store\n")
    execution_id = await api.backend.create_execution("api.files", "log_file")
    await api.backend.wait(execution_id, 60)
    answer = await api.client.get(f"/api/v1/executions/{execution_id}")
    execution = await answer.json()
    assert execution["state"]["current"] == "SUCCESS"
    noisy = next(tr for tr in execution["taskRunList"] if tr["taskId"] == "noisy")
    uri = noisy["attempts"][0]["logFile"]
    assert uri.endswith("/log-attempt-1.txt")
    download = await api.client.get(f"/api/v1/executions/{execution_id}/file", params={"path": uri})
    assert download.status == 200
    assert [line.split(maxsplit=2)[1:] for line in (await download.text()).splitlines()] == [
        ["INFO", "to the file"], ["INFO", "and this too"]]

    async def logged() -> list[dict[str, str]] | None:
        lines = await (await api.client.get(f"/api/v1/logs/{execution_id}")).json()
        return lines if any(line.get("taskId") == "quiet" for line in lines) else None

    lines = await api.eventually(logged)
    assert not [line for line in lines if line.get("taskId") == "noisy"]
