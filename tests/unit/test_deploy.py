"""`make deploy` (tools/deploy.py) without AWS: moto plays Secrets Manager, STS and CloudFormation in-process, and
fake `sam`, `aws` and `python3.13` on PATH record what they were asked to do."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from samcli.cli.types import CfnParameterOverridesType  # type: ignore[import-untyped]

from tools import deploy

REGION = "eu-west-1"
API_ID, API_TOKEN = "a1b2c3-api-id", "s3cr3t-t0ken-value"  # fake credentials


# ------------------------------------------------------------------------------------------------ fakes
@pytest.fixture
def tools_log(tmp_path, monkeypatch):
    """A PATH holding only fake `sam`, `aws` and `python3.13` (and the system's basics); what `sam` was asked,
    one JSON list of arguments per line, in the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sam.log"
    fake = {
        "sam": f"""
import json, os, sys
if sys.argv[1:] == ["--version"]:
    print("SAM CLI, version " + os.environ.get("FAKE_SAM_VERSION", "1.170.0"))
    sys.exit(0)
with open({str(log)!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("FAKE_SAM_EXIT_" + sys.argv[1].upper(), "0")))
""",
        "aws": 'print("aws-cli/2.17.0 Python/3.12.6 Linux/6.1 exe/x86_64")',
        "python3.13": 'print("Python 3.13.0")',
    }
    for name, body in fake.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return log


def sam_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def aws(monkeypatch):
    """moto, and nothing that could send a client elsewhere: a local stack started earlier in the session leaves
    its emulator's address in AWS_ENDPOINT_URL_*, where moto would not intercept."""
    endpoints = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AIRCALL_API_ID", "AIRCALL_API_TOKEN", *endpoints):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with mock_aws():
        yield


def deployed_stack(name: str) -> None:
    """The stack `sam deploy` would have made, with the template's outputs (moto keeps it in memory)."""
    outputs = {
        "ApiUrl": "https://a1b2.execute-api.eu-west-1.amazonaws.com/dev",
        "CallbackUrl": "https://a1b2.execute-api.eu-west-1.amazonaws.com/dev/webhooks/aircall",
        "AdminKeySecretName": f"{name}/admin-key",
        "EventBusName": f"{name}-aircall-sms",
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=name, TemplateBody=json.dumps(template))


def secret_of(name: str) -> dict[str, str]:
    value = boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=name)["SecretString"]
    stored: dict[str, str] = json.loads(value)
    return stored


def no_prompt(_question: str) -> str:
    raise AssertionError("nothing should be asked")


# ------------------------------------------------------------------------------------------------ the profiles
def test_each_profile_names_its_stack_and_its_own_secret():
    profiles = {name: deploy.load_profile(name) for name in ("default", "dev", "prod")}
    assert {name: (p.stack_name, p.secret_name) for name, p in profiles.items()} == {
        "default": ("aircall-sms-gateway", "aircall-sms-gateway/aircall-credentials"),
        "dev": ("aircall-sms-gateway-dev", "aircall-sms-gateway/dev/aircall-credentials"),
        "prod": ("aircall-sms-gateway-prod", "aircall-sms-gateway/prod/aircall-credentials"),
    }
    assert profiles["dev"].parameters["StageName"] == "dev"
    assert json.loads(profiles["dev"].parameters["PriceTableJson"])["currency"] == "EUR"
    assert profiles["prod"].parameters["PriceTableJson"] == ""


def test_an_unknown_profile_names_the_ones_there_are():
    with pytest.raises(deploy.DeployError, match=r"no profile 'staging'.*profiles: default, dev, prod"):
        deploy.load_profile("staging")


def test_a_profile_file_that_is_not_json_or_has_no_parameters_is_refused(tmp_path):
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text('[qa.global.parameters]\nstack_name = "gw-qa"\n')
    (tmp_path / "staging.json").write_text('{"parameters": {}}')
    with pytest.raises(deploy.DeployError, match=r"no profile 'staging'.*section in samconfig.toml \(profiles: none\)"):
        deploy.load_profile("staging", profiles=tmp_path, samconfig=samconfig)
    (tmp_path / "qa.json").write_text('{"parameters": {"StageName": "qa",}}')
    with pytest.raises(deploy.DeployError, match=r"deploy/qa\.json is not JSON"):
        deploy.load_profile("qa", profiles=tmp_path, samconfig=samconfig)
    (tmp_path / "qa.json").write_text('{"StageName": "qa"}')
    with pytest.raises(deploy.DeployError, match='needs a "parameters" object'):
        deploy.load_profile("qa", profiles=tmp_path, samconfig=samconfig)
    (tmp_path / "qa.json").write_text('{"parameters": {"StageName": "qa"}}')
    assert deploy.load_profile("qa", profiles=tmp_path, samconfig=samconfig).stack_name == "gw-qa"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (None, ""),
        ("v1", "v1"),
        (60, "60"),
        (0.5, "0.5"),
        ({"opt_out": "Au revoir"}, '{"opt_out":"Au revoir"}'),
        ([1, 2], "[1,2]"),
    ],
)
def test_a_parameter_is_rendered_as_cloudformation_takes_it(value, rendered):
    assert deploy.render_parameter("here", value) == rendered


def test_true_or_false_is_not_a_parameter_value():
    with pytest.raises(deploy.DeployError, match="here: true/false"):
        deploy.render_parameter("here", True)


@pytest.mark.parametrize(
    "value",
    [
        {"opt_out": "Vous ne recevrez plus nos messages. Répondez START pour les recevoir à nouveau."},
        {"help": 'It\'s "us": reply STOP\nor call', "path": "C:\\temp\\ a \\\\ b", "emoji": "😀"},
        {"help": "l'équipe \\' \\\" \\ "},
        {"rules": [{"name": "default", "windows": {"hour": 500, "day": 2000, "month": 20000}}]},
    ],
    ids=["french", "quotes-backslashes-newline", "sam-escapes", "limits"],
)
def test_a_json_parameter_survives_sams_own_parser_exactly(value):
    # Given a JSON parameter as the profile renders it
    text = deploy.render_parameter("here", value)
    # When SAM's --parameter-overrides parser reads the argument make deploy passes
    parsed = CfnParameterOverridesType().convert((deploy.override_argument("AutoReplies", text),), None, None)
    # Then CloudFormation gets JSON that reads back as the same document
    assert json.loads(parsed["AutoReplies"]) == value


@pytest.mark.parametrize("name", ["default", "dev", "prod"])
def test_every_parameter_of_a_real_profile_survives_sams_parser(name):
    profile = deploy.load_profile(name)
    arguments = tuple(deploy.override_argument(key, value) for key, value in profile.parameters.items())
    assert CfnParameterOverridesType().convert(arguments, None, None) == profile.parameters


def test_a_plain_parameter_with_quotes_or_backslashes_is_refused_rather_than_mangled():
    with pytest.raises(deploy.DeployError, match="AlarmEmail may not contain quotes"):
        deploy.override_argument("AlarmEmail", "o'neil@example.com")


# ------------------------------------------------------------------------------------------------ prerequisites
def test_the_region_is_the_deployers_never_a_fixed_one():
    assert deploy.resolve_region("ca-central-1", {"AWS_REGION": "us-east-1"}, "eu-west-1") == "ca-central-1"
    assert (
        deploy.resolve_region(None, {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-west-2"}, None) == "us-east-1"
    )
    assert deploy.resolve_region(None, {"AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-1") == "us-west-2"
    assert deploy.resolve_region(None, {}, "eu-west-3") == "eu-west-3"
    with pytest.raises(deploy.DeployError, match="no AWS region: pass REGION="):
        deploy.resolve_region(None, {}, None)


def test_the_tools_are_found_with_their_versions(tools_log):
    found, problems = deploy.check_tools()
    assert problems == []
    assert {name: tool.version for name, tool in found.items()} == {
        "sam": "SAM CLI, version 1.170.0",
        "aws": "aws-cli/2.17.0 Python/3.12.6 Linux/6.1 exe/x86_64",
        "python3.13": "Python 3.13.0",
    }


def test_a_sam_cli_too_old_for_python313_is_a_problem(tools_log, monkeypatch):
    monkeypatch.setenv("FAKE_SAM_VERSION", "1.127.9")
    _, problems = deploy.check_tools()
    assert problems == ["the SAM CLI is too old ('SAM CLI, version 1.127.9'): 1.128.0 or later builds python3.13"]


def test_missing_tools_are_each_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    _, problems = deploy.check_tools()
    assert [problem.split(" (")[0].split(" is not")[0] for problem in problems] == [
        "the SAM CLI",
        "the AWS CLI",
        "python3.13",
    ]


# ------------------------------------------------------------------------------------------------ credentials
@pytest.mark.parametrize(
    ("values", "exact", "problems"),
    [
        ({"api_id": "x", "api_token": "y"}, True, []),
        ({"access_token": "z"}, True, []),
        ({"api_id": "x", "api_token": "y", "note": "n"}, False, []),
        ({"api_id": "x", "api_token": "y", "note": "n"}, True, ['unexpected keys: "note"']),
        ({"api_id": "x"}, True, ['it needs "api_id" and "api_token" (Basic auth), or "access_token" (OAuth)']),
        (
            {"apiId": "x", "apiToken": "y"},
            False,
            ['it needs "api_id" and "api_token" (Basic auth), or "access_token" (OAuth)'],
        ),
        ({"api_id": "x", "api_token": ""}, True, ['"api_token" must be a non-empty string']),
        (
            {"api_id": 7, "api_token": " y"},
            True,
            ['"api_id" must be a non-empty string', '"api_token" must be a non-empty string'],
        ),
        (["x", "y"], True, ["the secret is not a JSON object"]),
    ],
)
def test_credentials_are_checked_by_shape_naming_keys_never_values(values, exact, problems):
    assert deploy.credential_problems(values, exact=exact) == problems


def test_credentials_come_from_the_environment_before_any_prompt():
    assert deploy.credentials_from({"AIRCALL_API_ID": API_ID, "AIRCALL_API_TOKEN": API_TOKEN}, no_prompt) == {
        "api_id": API_ID,
        "api_token": API_TOKEN,
    }
    assert deploy.credentials_from({"AIRCALL_ACCESS_TOKEN": "oauth-token"}, no_prompt) == {
        "access_token": "oauth-token"
    }


def test_credentials_are_asked_for_without_echo_when_the_environment_has_none():
    questions: list[str] = []

    def prompt(question: str) -> str:
        questions.append(question)
        return API_ID if len(questions) == 1 else f" {API_TOKEN}\n"

    assert deploy.credentials_from({}, prompt) == {"api_id": API_ID, "api_token": API_TOKEN}
    assert [question.split(" (")[0] for question in questions] == ["Aircall API ID", "Aircall API token"]
    assert all("not echoed" in question for question in questions)


def test_without_a_terminal_or_variables_the_deploy_says_which_variables_to_set():
    with pytest.raises(deploy.DeployError, match="set AIRCALL_API_ID and AIRCALL_API_TOKEN"):
        deploy.credentials_from({}, None)


def test_a_half_given_credential_is_refused_without_showing_it():
    with pytest.raises(deploy.DeployError) as refused:
        deploy.credentials_from({"AIRCALL_API_ID": API_ID}, no_prompt)
    assert '"api_token" must be a non-empty string' in str(refused.value)
    assert API_ID not in str(refused.value)


# ------------------------------------------------------------------------------------------------ the secret
def test_a_missing_secret_is_created_from_the_environment(aws):
    client = boto3.client("secretsmanager", region_name=REGION)
    outcome = deploy.ensure_secret(
        client, "aircall-sms-gateway/dev/aircall-credentials", environ={"AIRCALL_ACCESS_TOKEN": "t0k"}, prompt=no_prompt
    )
    assert (outcome.name, outcome.action) == ("aircall-sms-gateway/dev/aircall-credentials", "created")
    assert outcome.arn.startswith(f"arn:aws:secretsmanager:{REGION}:")
    assert secret_of(outcome.name) == {"access_token": "t0k"}


def test_an_existing_secret_with_usable_credentials_is_reused_untouched(aws):
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="gw/creds", SecretString=json.dumps({"api_id": API_ID, "api_token": API_TOKEN, "n": 1}))
    outcome = deploy.ensure_secret(client, "gw/creds", environ={"AIRCALL_ACCESS_TOKEN": "other"}, prompt=no_prompt)
    assert outcome.action == "reused"
    assert secret_of("gw/creds")["api_token"] == API_TOKEN


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("not json", "it is not JSON"),
        (json.dumps({"token": API_TOKEN}), 'it needs "api_id" and "api_token"'),
        (json.dumps({"api_id": API_ID, "api_token": ""}), '"api_token" must be a non-empty string'),
    ],
)
def test_an_existing_secret_without_usable_credentials_stops_the_deploy_and_says_how_to_fix_it(aws, stored, problem):
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="gw/creds", SecretString=stored)
    with pytest.raises(deploy.DeployError) as refused:
        deploy.ensure_secret(client, "gw/creds", environ={}, prompt=no_prompt)
    message = str(refused.value)
    assert problem in message
    assert "ARGS=--update-credentials" in message
    assert API_TOKEN not in message
    assert API_ID not in message


def test_update_credentials_stores_a_new_version_of_the_secret(aws):
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="gw/creds", SecretString="broken")
    outcome = deploy.ensure_secret(
        client, "gw/creds", environ={"AIRCALL_API_ID": API_ID, "AIRCALL_API_TOKEN": API_TOKEN}, prompt=None, update=True
    )
    assert outcome.action == "updated"
    assert secret_of("gw/creds") == {"api_id": API_ID, "api_token": API_TOKEN}


def test_a_secret_scheduled_for_deletion_must_be_restored_first(aws):
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="gw/creds", SecretString=json.dumps({"access_token": "t"}))
    client.delete_secret(SecretId="gw/creds", RecoveryWindowInDays=7)
    with pytest.raises(deploy.DeployError, match="scheduled for deletion: restore it"):
        deploy.ensure_secret(client, "gw/creds", environ={"AIRCALL_ACCESS_TOKEN": "t"}, prompt=no_prompt)


# ------------------------------------------------------------------------------------------------ the whole run
def test_make_deploy_builds_and_deploys_the_profile_with_its_parameters_then_prints_the_outputs(aws, tools_log):
    # Given the tools, AWS credentials, the Aircall credentials in the environment, and the stack sam will make
    deployed_stack("aircall-sms-gateway-dev")
    printed: list[str] = []
    environ = {"AWS_REGION": REGION, "AIRCALL_API_ID": API_ID, "AIRCALL_API_TOKEN": API_TOKEN}

    # When make deploy PROFILE=dev runs
    assert deploy.deploy(["--profile", "dev"], environ=environ, prompt=no_prompt, out=printed.append) == 0

    # Then the secret exists, sam built then deployed the dev profile in the deployer's region with every parameter
    assert secret_of("aircall-sms-gateway/dev/aircall-credentials") == {"api_id": API_ID, "api_token": API_TOKEN}
    build, deploy_call = sam_calls(tools_log)
    assert build == ["build"]
    overrides = deploy_call[deploy_call.index("--parameter-overrides") + 1 :]
    assert deploy_call[: deploy_call.index("--parameter-overrides")] == [
        "deploy",
        "--config-env",
        "dev",
        "--region",
        REGION,
        "--no-fail-on-empty-changeset",
    ]
    parsed = CfnParameterOverridesType().convert(tuple(overrides), None, None)
    assert parsed == deploy.load_profile("dev").parameters
    # And the API URL, the callback URL and how to read the key are printed, never the credentials
    text = "\n".join(printed)
    assert "  API URL       https://a1b2.execute-api.eu-west-1.amazonaws.com/dev" in printed
    assert any(
        line.startswith("  Callback URL  https://a1b2.execute-api.eu-west-1.amazonaws.com/dev/webhooks/aircall")
        for line in printed
    )
    read = "aws secretsmanager get-secret-value --secret-id aircall-sms-gateway-dev/admin-key --query SecretString"
    assert read in text
    assert "  EventBusName       aircall-sms-gateway-dev-aircall-sms" in printed
    assert "ok  secret     aircall-sms-gateway/dev/aircall-credentials (created)" in printed
    assert API_TOKEN not in text
    assert API_ID not in text


def test_no_build_deploys_the_last_build(aws, tools_log):
    deployed_stack("aircall-sms-gateway")
    environ = {"AWS_DEFAULT_REGION": REGION, "AIRCALL_ACCESS_TOKEN": "t"}
    deploy.deploy(["--no-build"], environ=environ, prompt=no_prompt, out=lambda _line: None)
    assert [call[:3] for call in sam_calls(tools_log)] == [["deploy", "--config-env", "default"]]


def test_missing_prerequisites_are_all_reported_and_nothing_is_created_or_deployed(aws, tools_log, monkeypatch):
    # Given a SAM CLI too old and no region anywhere
    monkeypatch.setenv("FAKE_SAM_VERSION", "1.100.0")
    printed: list[str] = []
    with pytest.raises(deploy.DeployError, match="2 prerequisite"):
        deploy.deploy([], environ={"AIRCALL_ACCESS_TOKEN": "t"}, prompt=no_prompt, out=printed.append)
    assert [line.split(":")[0] for line in printed if line.startswith("NO")] == [
        "NO  the SAM CLI is too old ('SAM CLI, version 1.100.0')",
        "NO  no AWS region",
    ]
    assert sam_calls(tools_log) == []
    listed = boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    assert listed == []


def test_a_failed_sam_deploy_stops_with_its_exit_code(aws, tools_log, monkeypatch):
    monkeypatch.setenv("FAKE_SAM_EXIT_DEPLOY", "1")
    with pytest.raises(deploy.DeployError, match=r"`.*sam deploy` failed \(exit 1\)"):
        deploy.deploy(
            ["--region", REGION], environ={"AIRCALL_ACCESS_TOKEN": "t"}, prompt=no_prompt, out=lambda _line: None
        )


def test_main_prints_the_reason_and_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["deploy.py"])
    assert deploy.main(["--profile", "staging"]) == 1
    assert capsys.readouterr().err.startswith("make deploy: no profile 'staging'")


def test_no_aws_credentials_is_a_prerequisite_that_names_the_ways_to_give_them(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup: nothing leaves the machine
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")  # were credentials found, still not AWS
    with pytest.raises(deploy.DeployError, match="no AWS credentials: `aws configure`"):
        deploy.caller_identity(boto3.session.Session(region_name=REGION))
