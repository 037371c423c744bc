"""The HTTP front: the API Gateway v1 proxy event it builds, and the answers API Gateway gives by itself."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
import pytest
from werkzeug.test import Client

from local_stack.front import MAX_BODY_BYTES, Front, FrontServer
from local_stack.template import TemplateError

KEY = {"x-api-key": "secret-key"}


@pytest.fixture
def client(front):
    return Client(front.wsgi_app)


def echoed(response) -> dict[str, Any]:
    """The tiny echo handler's answer: the event and context it got."""
    assert response.status_code == 201, response.get_data(as_text=True)
    answer: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return answer


# ------------------------------------------------------------------------------------------ the event


def test_the_event_is_an_api_gateway_rest_proxy_event(client):
    response = client.post(
        "/echo/ada?tag=a&tag=b&single=x%20y",
        headers={**KEY, "Content-Type": "application/json", "User-Agent": "tests/1.0", "Host": "api.local:3000"},
        data=json.dumps({"hello": "wörld"}),
    )

    event = echoed(response)["event"]
    assert event["resource"] == "/echo/{name}"
    assert event["path"] == "/echo/ada"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"name": "ada"}
    assert event["queryStringParameters"] == {"tag": "b", "single": "x y"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "single": ["x y"]}
    assert event["stageVariables"] is None
    assert json.loads(event["body"]) == {"hello": "wörld"}
    assert event["isBase64Encoded"] is False
    headers = {name.lower(): value for name, value in event["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-api-key"] == "secret-key"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert {name.lower(): values for name, values in event["multiValueHeaders"].items()}["user-agent"] == ["tests/1.0"]


def test_the_request_context_matches_api_gateway(client):
    event = echoed(client.get("/echo/ada", headers={**KEY, "User-Agent": "tests/1.0", "Host": "api.local:3000"}))[
        "event"
    ]

    context = event["requestContext"]
    assert context["resourcePath"] == "/echo/{name}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/test/echo/ada"  # with the stage
    assert context["stage"] == "test"
    assert uuid.UUID(context["requestId"])
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["domainName"] == "api.local:3000"
    assert context["protocol"] == "HTTP/1.1"
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "local"
    assert context["identity"]["sourceIp"]
    assert context["identity"]["apiKey"] == "secret-key"
    assert context["identity"]["userAgent"] == "tests/1.0"


def test_no_query_no_path_parameters_and_no_body_are_null(client):
    event = echoed(client.post("/open"))["event"]

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert "apiKey" not in event["requestContext"]["identity"]


def test_a_body_that_is_not_utf8_arrives_base64_encoded(client):
    event = echoed(client.post("/open", data=b"\xff\xfe\x00binary"))["event"]

    assert event["isBase64Encoded"] is True
    assert event["body"] == "//4AYmluYXJ5"


def test_path_parameters_keep_the_percent_encoding_as_api_gateway_does(client):
    event = echoed(client.get("/echo/a%2Fb%20c", headers=KEY))["event"]

    assert event["pathParameters"] == {"name": "a%2Fb%20c"}
    assert event["path"] == "/echo/a%2Fb%20c"


def test_a_literal_path_wins_over_a_parameter(client):
    event = echoed(client.get("/echo/special", headers=KEY))["event"]

    assert event["resource"] == "/echo/special"
    assert event["pathParameters"] is None


def test_a_greedy_parameter_takes_the_rest_of_the_path(client):
    event = echoed(client.get("/files/a/b/c.txt", headers=KEY))["event"]

    assert event["resource"] == "/files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}


def test_a_stage_prefixed_path_is_served_too(client):
    event = echoed(client.get("/test/echo/ada", headers=KEY))["event"]

    assert event["path"] == "/echo/ada"
    assert event["requestContext"]["path"] == "/test/echo/ada"


def test_the_handler_gets_a_lambda_context(client):
    context = echoed(client.get("/echo/ada", headers=KEY))["context"]

    assert context["function_name"] == "EchoFunction"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:EchoFunction")
    assert uuid.UUID(context["aws_request_id"])
    assert 0 < context["remaining_ms"] <= 7000


def test_the_handler_module_is_imported_once_under_a_unique_name_with_the_layer_importable(client):
    first = echoed(client.get("/echo/a", headers=KEY))
    second = echoed(client.get("/echo/b", headers=KEY))

    assert first["module"] == second["module"]
    assert first["module"] != "app"
    assert "EchoFunction" in first["module"]
    assert first["greeting"] == "HELLO!"  # tiny_shared, from the layer's ContentUri


# ------------------------------------------------------------------------------------------ the answer


def test_the_handler_answer_becomes_the_http_response(client):
    response = client.get("/echo/ada", headers=KEY)

    assert response.status_code == 201
    assert response.headers["X-Echo"] == "yes"
    assert response.headers["Content-Type"] == "application/json"  # API Gateway's default
    assert response.headers["x-amzn-RequestId"]


def test_base64_answers_are_decoded_and_multi_value_headers_merged(client):
    response = client.get("/binary", headers=KEY)

    assert response.status_code == 200
    assert response.get_data() == b"\x89PNG\x00\xff"
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["X-Single"] == "one"
    assert response.headers.getlist("X-Both") == ["from-multi"]


# ------------------------------------------------------------------------------------------ API Gateway's own answers


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}], ids=["missing", "wrong"])
def test_a_route_that_needs_the_api_key_answers_403_forbidden_without_it(front, client, headers, monkeypatch):
    calls = []
    monkeypatch.setattr(front, "invoke", lambda *args, **kwargs: calls.append(args))

    response = client.get("/echo/ada", headers=headers)

    assert response.status_code == 403
    assert response.json == {"message": "Forbidden"}
    assert calls == []


def test_a_route_without_api_key_requirement_needs_no_key(client):
    assert client.post("/open").status_code == 201


def test_an_unknown_path_answers_403_missing_authentication_token(client):
    response = client.get("/nowhere", headers=KEY)

    assert response.status_code == 403
    assert response.json == {"message": "Missing Authentication Token"}


def test_a_known_path_with_another_method_answers_403_missing_authentication_token(client):
    response = client.delete("/open", headers=KEY)

    assert response.status_code == 403
    assert response.json == {"message": "Missing Authentication Token"}


def test_a_local_route_answers_json_before_the_templates_routes_and_without_the_api_key(front, client):
    front.add_local_route("GET", "/_local/things", lambda: {"things": ["é"]})

    answer = client.get("/_local/things")
    other_method = client.post("/_local/things", headers=KEY)
    under_the_stage = client.get("/test/_local/things", headers=KEY)

    assert (answer.status_code, answer.headers["Content-Type"]) == (200, "application/json")
    assert json.loads(answer.get_data(as_text=True)) == {"things": ["é"]}
    assert other_method.status_code == under_the_stage.status_code == 403
    assert json.loads(other_method.get_data(as_text=True)) == {"message": "Missing Authentication Token"}


def test_a_body_over_10_mb_answers_413(client):
    response = client.post("/open", data=b"x" * (MAX_BODY_BYTES + 1))

    assert response.status_code == 413
    assert response.json == {"message": "Request Too Long"}


def test_a_handler_that_raises_answers_502_and_prints_the_traceback(client, capsys):
    response = client.get("/boom", headers=KEY)

    assert response.status_code == 502
    assert response.json == {"message": "Internal server error"}
    assert "boom from the tiny handler" in capsys.readouterr().err


def test_a_malformed_proxy_response_answers_502(client, capsys):
    response = client.get("/malformed", headers=KEY)

    assert response.status_code == 502
    assert response.json == {"message": "Internal server error"}
    assert "malformed" in capsys.readouterr().err


def test_a_missing_handler_file_answers_502(tiny_template, capsys):
    (tiny_template.parent / "echo" / "app.py").unlink()
    with Front(tiny_template, api_key=None) as front:
        response = Client(front.wsgi_app).get("/echo/ada")

    assert response.status_code == 502
    assert "does not exist" in capsys.readouterr().err


def test_without_an_api_key_configured_the_check_is_off(tiny_template):
    with Front(tiny_template, api_key=None) as front:
        assert Client(front.wsgi_app).get("/echo/ada").status_code == 201


# ------------------------------------------------------------------------------------------ environment and invoke


def test_the_environment_is_set_before_any_handler_runs_and_restored_on_close(tiny_template, monkeypatch):
    monkeypatch.setenv("GREETING", "before")
    monkeypatch.delenv("EXTRA_SETTING", raising=False)

    front = Front(tiny_template, parameter_overrides={"Greeting": "hi"}, env_overrides={"EXTRA_SETTING": "on"})
    assert os.environ["GREETING"] == "hi"
    assert os.environ["ITEMS_TABLE"] == "aircall-sms-gateway-local-items"
    assert os.environ["EXTRA_SETTING"] == "on"
    front.close()

    assert os.environ["GREETING"] == "before"
    assert "EXTRA_SETTING" not in os.environ


def test_functions_that_disagree_on_a_variable_are_refused(make_tiny_project):
    template = make_tiny_project(
        lambda text: text.replace(
            "      CodeUri: tick/\n",
            "      CodeUri: tick/\n      Environment:\n        Variables:\n          GREETING: other\n",
        )
    )

    with pytest.raises(TemplateError, match="GREETING"):
        Front(template)


def test_invoke_calls_any_function_with_any_event(front):
    answer = front.invoke("TickFunction", {"detail-type": "Scheduled Event", "source": "aws.events"})

    assert answer == {"ticked": "Scheduled Event", "function": "TickFunction"}


def test_invoke_lets_the_handler_exception_through(front):
    with pytest.raises(RuntimeError, match="boom"):
        front.invoke("EchoFunction", {"resource": "/boom"})


def test_invoke_of_an_unknown_function_names_the_known_ones(front):
    with pytest.raises(KeyError, match="TickFunction"):
        front.invoke("NoSuchFunction", {})


# ------------------------------------------------------------------------------------------ over real HTTP


def test_the_front_server_serves_over_http_with_header_names_as_sent(front):
    with FrontServer(front, port=0) as server:
        url = server.url
        response = httpx.post(
            f"{url}/echo/ada?x=1", headers={"x-api-key": "secret-key", "X-Custom-CASE": "v"}, content=b"hi"
        )

    assert response.status_code == 201
    event = response.json()["event"]
    assert event["headers"]["X-Custom-CASE"] == "v"
    assert event["headers"]["x-api-key"] == "secret-key"
    assert event["requestContext"]["domainName"] == url.removeprefix("http://")
    assert event["body"] == "hi"


def test_a_front_server_without_a_front_yet_answers_503():
    with FrontServer(None, port=0) as server:
        response = httpx.get(f"{server.url}/anything")

    assert response.status_code == 503


def test_handlers_run_concurrently_from_server_threads(front):
    import concurrent.futures

    with FrontServer(front, port=0) as server, concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda n: httpx.get(f"{server.url}/echo/n{n}", headers=KEY).status_code, range(32)))

    assert statuses == [201] * 32


def test_a_chunked_body_over_10_mb_answers_413_over_http(front):
    def chunks(megabytes):
        for _ in range(megabytes):
            yield b"x" * (1024 * 1024)

    with FrontServer(front, port=0) as server:
        too_long = httpx.post(f"{server.url}/open", content=chunks(11))
        at_the_limit = httpx.post(f"{server.url}/open", content=chunks(10))

    assert (too_long.status_code, too_long.json()) == (413, {"message": "Request Too Long"})
    assert at_the_limit.status_code == 201
