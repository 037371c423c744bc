"""`make deploy [PROFILE=default|dev|prod] [REGION=...]`: deploy the gateway into your AWS account.

What it does, in order, stopping at the first step that cannot succeed:

1. **The profile.** `deploy/<profile>.json` holds the template's parameters for that profile as real JSON (the
   limit table, the automatic replies, the price table are JSON objects there, never JSON typed at a prompt);
   `samconfig.toml` names the profile's stack. `null` means an empty value (the template's "none").
2. **Prerequisites**, all reported at once: the SAM CLI (at least `MIN_SAM_CLI`), the AWS CLI (the docs' commands
   use it), `python3.13` on `PATH` (`sam build` builds for the Lambda runtime with it), a region (`--region`, else
   `AWS_REGION`, `AWS_DEFAULT_REGION` or the AWS profile's; never a fixed one) and AWS credentials (STS names the
   account and the identity).
3. **The Aircall credentials secret** named by the profile's `AircallCredentialsSecretName`: reused when it
   exists and holds a usable shape, created otherwise from `AIRCALL_API_ID` + `AIRCALL_API_TOKEN` or
   `AIRCALL_ACCESS_TOKEN`, else asked for without echo. `--update-credentials` stores a new version. The values
   are validated (`{"api_id", "api_token"}` or `{"access_token"}`, non-empty strings) and never printed.
4. `sam build`, then `sam deploy --config-env <profile> --region <region>` with every parameter of the profile.
5. The stack's outputs: the API URL, the callback URL Aircall is given, the admin key's secret and how to read it.

Runs with the dev venv's interpreter (stdlib and boto3); `sam` comes from the same venv under `make`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "deploy"
SAMCONFIG = ROOT / "samconfig.toml"
# The first SAM CLI release that builds the python3.13 runtime the template uses.
MIN_SAM_CLI = (1, 128, 0)
SECRET_PARAMETER = "AircallCredentialsSecretName"  # noqa: S105 - a parameter's name # nosec B105
DEFAULT_SECRET_NAME = "aircall-sms-gateway/aircall-credentials"  # noqa: S105 - the template's default name # nosec B105
BASIC_KEYS = frozenset({"api_id", "api_token"})
OAUTH_KEYS = frozenset({"access_token"})
Prompt = Callable[[str], str]


class DeployError(Exception):
    """A step that cannot succeed, with what to do about it."""


# ------------------------------------------------------------------------------------------------ profile
@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    stack_name: str
    parameters: dict[str, str]  # rendered: what CloudFormation receives

    @property
    def secret_name(self) -> str:
        return self.parameters.get(SECRET_PARAMETER) or DEFAULT_SECRET_NAME


def load_profile(name: str, *, profiles: Path = PROFILES, samconfig: Path = SAMCONFIG) -> Profile:
    """`deploy/<name>.json` rendered, and the stack name `samconfig.toml` gives the profile."""
    path = profiles / f"{name}.json"
    sections = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name) or not path.is_file() or name not in sections:
        # A profile is a parameters file with its samconfig.toml section (deployer-policy.json is neither).
        known = ", ".join(sorted(p.stem for p in profiles.glob("*.json") if p.stem in sections)) or "none"
        raise DeployError(
            f"no profile {name!r}: it needs deploy/{name}.json and a [{name}.*] section in samconfig.toml "
            f"(profiles: {known})"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DeployError(f"deploy/{name}.json is not JSON: {error}") from None
    raw = document.get("parameters") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise DeployError(f'deploy/{name}.json needs a "parameters" object')
    parameters = {key: render_parameter(f"deploy/{name}.json: parameters.{key}", value) for key, value in raw.items()}
    for key in parameters:
        if not re.fullmatch(r"[A-Za-z0-9]+", key):
            raise DeployError(f"deploy/{name}.json: {key!r} is not a CloudFormation parameter name")
    return Profile(name=name, stack_name=stack_name(name, samconfig), parameters=parameters)


def stack_name(profile: str, samconfig: Path = SAMCONFIG) -> str:
    config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    section = config.get(profile, {})
    for command in ("deploy", "global"):
        name = section.get(command, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str) and name:
            return name
    raise DeployError(f"samconfig.toml has no stack_name for the profile {profile!r} ([{profile}.global.parameters])")


def render_parameter(where: str, value: object) -> str:
    """A parameter's value as CloudFormation takes it: objects and lists as compact JSON, numbers as digits,
    `null` as the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise DeployError(f"{where}: true/false is not a CloudFormation parameter value (use a string)")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    raise DeployError(f"{where}: {type(value).__name__} is not a parameter value")


def override_argument(key: str, value: str) -> str:
    """`Key='value'` as `sam deploy --parameter-overrides` parses it back to exactly `value`.

    SAM's parser takes a single-quoted value up to the next unescaped `'`, then turns every `\\ `, `\\"` and `\\'`
    back into the bare character. Inside JSON, a quote, a backslash and an apostrophe are therefore written as
    the JSON escapes `\\u0022`, `\\u005c` and `\\u0027`, which SAM leaves alone and JSON reads back as the same
    characters; outside JSON (a plain string), those three characters are refused rather than mangled."""
    if value.startswith(("{", "[")):
        body = re.sub(r"\\(.)", lambda escape: _json_escape(escape.group(1)), value).replace("'", "\\u0027")
    elif any(character in value for character in "\\'\""):
        raise DeployError(f"the parameter {key} may not contain quotes or backslashes: {value!r}")
    else:
        body = value
    return f"{key}='{body}'"


def _json_escape(character: str) -> str:
    return {'"': "\\u0022", "\\": "\\u005c"}.get(character, "\\" + character)


# ------------------------------------------------------------------------------------------------ prerequisites
@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    path: str
    version: str


def version_of(text: str) -> tuple[int, ...] | None:
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in found.groups()) if found else None


def find_tool(name: str, version_flag: str = "--version") -> Tool | None:
    """The tool on PATH and what `<tool> --version` says (some print it on stderr)."""
    path = shutil.which(name)
    if path is None:
        return None
    done = subprocess.run([path, version_flag], capture_output=True, text=True, check=False)  # noqa: S603 - a resolved path, fixed arguments # nosec B603
    said = (done.stdout + done.stderr).strip().splitlines()
    return Tool(name=name, path=path, version=said[0] if said else "")


def check_tools() -> tuple[dict[str, Tool], list[str]]:
    """(the tools found, one problem per missing or too old tool)."""
    found: dict[str, Tool] = {}
    problems: list[str] = []
    sam = find_tool("sam")
    if sam is None:
        problems.append("the SAM CLI (sam) is not on PATH: run `make install` (the dev venv has it), or install it")
    elif (version_of(sam.version) or (0,)) < MIN_SAM_CLI:
        wanted = ".".join(map(str, MIN_SAM_CLI))
        problems.append(f"the SAM CLI is too old ({sam.version!r}): {wanted} or later builds python3.13")
    else:
        found["sam"] = sam
    aws = find_tool("aws")
    if aws is None:
        problems.append("the AWS CLI (aws) is not on PATH: install it (the docs' commands use it)")
    else:
        found["aws"] = aws
    python = find_tool("python3.13")
    if python is None or not python.version.startswith("Python 3.13"):
        problems.append("python3.13 is not on PATH (`sam build` builds the functions with it): run `make deploy`")
    else:
        found["python3.13"] = python
    return found, problems


def resolve_region(given: str | None, environ: Mapping[str, str], configured: str | None) -> str:
    """`--region`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the AWS profile's region; never a fixed one."""
    for candidate in (given, environ.get("AWS_REGION"), environ.get("AWS_DEFAULT_REGION"), configured):
        if candidate:
            return candidate
    raise DeployError(
        "no AWS region: pass REGION=<region> (make deploy REGION=eu-west-1), or set AWS_REGION, "
        "or give your AWS profile a region (aws configure set region <region>)"
    )


def caller_identity(session: boto3.session.Session) -> dict[str, str]:
    try:
        identity = session.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise DeployError(
            "no AWS credentials: `aws configure`, `aws sso login --profile <name>` then AWS_PROFILE=<name>, "
            "or the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables"
        ) from None
    except (ClientError, BotoCoreError) as error:
        raise DeployError(f"the AWS credentials do not work: {error}") from None
    return {"account": identity["Account"], "arn": identity["Arn"]}


# ------------------------------------------------------------------------------------------------ credentials
def credential_problems(values: object, *, exact: bool) -> list[str]:
    """What is wrong with a credentials document, naming keys, never values. `exact`: no other keys allowed
    (what this script stores); the gateway itself ignores extra keys."""
    if not isinstance(values, dict):
        return ["the secret is not a JSON object"]
    keys = set(values)
    shapes = (OAUTH_KEYS, BASIC_KEYS)
    shape = next((wanted for wanted in shapes if wanted <= keys), None)
    if shape is None:
        return ['it needs "api_id" and "api_token" (Basic auth), or "access_token" (OAuth)']
    problems = [f'"{key}" must be a non-empty string' for key in sorted(shape) if not _filled(values[key])]
    extra = sorted(keys - shape)
    if exact and extra:
        problems.append("unexpected keys: " + ", ".join(f'"{key}"' for key in extra))
    return problems


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and value == value.strip()


def credentials_from(environ: Mapping[str, str], prompt: Prompt | None) -> dict[str, str]:
    """The Aircall credentials from the environment, else asked for (without echo); validated."""
    if environ.get("AIRCALL_ACCESS_TOKEN"):
        values = {"access_token": environ["AIRCALL_ACCESS_TOKEN"]}
    elif environ.get("AIRCALL_API_ID") or environ.get("AIRCALL_API_TOKEN"):
        values = {"api_id": environ.get("AIRCALL_API_ID", ""), "api_token": environ.get("AIRCALL_API_TOKEN", "")}
    elif prompt is None:
        raise DeployError(
            "the Aircall credentials are needed and there is no terminal to ask on: set AIRCALL_API_ID and "
            "AIRCALL_API_TOKEN (Aircall Dashboard > Integrations > API keys), or AIRCALL_ACCESS_TOKEN"
        )
    else:
        values = {
            "api_id": prompt("Aircall API ID (Dashboard > Integrations > API keys; not echoed): ").strip(),
            "api_token": prompt("Aircall API token (shown once when the key was created; not echoed): ").strip(),
        }
    problems = credential_problems(values, exact=True)
    if problems:
        raise DeployError("the Aircall credentials are not usable: " + "; ".join(problems))
    return values


@dataclass(frozen=True, slots=True)
class SecretOutcome:
    name: str
    arn: str
    action: str  # "reused", "created" or "updated"


def ensure_secret(
    client: SecretsManagerClient,
    name: str,
    *,
    environ: Mapping[str, str],
    prompt: Prompt | None,
    update: bool = False,
) -> SecretOutcome:
    """Reuse the secret when it holds usable credentials; create it (or store a new version with `update`)."""
    try:
        described = client.describe_secret(SecretId=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise DeployError(f"cannot read the secret {name}: {error}") from None
        values = credentials_from(environ, prompt)
        created = client.create_secret(
            Name=name,
            Description="Aircall API credentials of aircall-sms-gateway (make deploy)",
            SecretString=json.dumps(values),
        )
        return SecretOutcome(name=name, arn=created["ARN"], action="created")
    if described.get("DeletedDate"):
        raise DeployError(
            f"the secret {name} is scheduled for deletion: restore it "
            f"(aws secretsmanager restore-secret --secret-id {name}) or wait for its deletion, then deploy again"
        )
    if update:
        values = credentials_from(environ, prompt)
        client.put_secret_value(SecretId=name, SecretString=json.dumps(values))
        return SecretOutcome(name=name, arn=described["ARN"], action="updated")
    try:
        stored = client.get_secret_value(SecretId=name).get("SecretString", "")
        problems = credential_problems(json.loads(stored), exact=False)
    except ClientError as error:
        raise DeployError(f"cannot read the secret {name}: {error}") from None
    except json.JSONDecodeError:
        problems = ["it is not JSON"]
    if problems:
        raise DeployError(
            f"the secret {name} exists but holds no usable Aircall credentials ({'; '.join(problems)}): "
            "run `make deploy ARGS=--update-credentials` to store new ones"
        )
    return SecretOutcome(name=name, arn=described["ARN"], action="reused")


# ------------------------------------------------------------------------------------------------ deploying
def sam_commands(sam: str, profile: Profile, region: str) -> list[list[str]]:
    """`sam build` (its options are samconfig.toml's) and the profile's `sam deploy`."""
    overrides = [override_argument(key, value) for key, value in sorted(profile.parameters.items())]
    deploy = [sam, "deploy", "--config-env", profile.name, "--region", region, "--no-fail-on-empty-changeset"]
    return [[sam, "build"], deploy + (["--parameter-overrides", *overrides] if overrides else [])]


def stack_outputs(client: CloudFormationClient, name: str) -> dict[str, str]:
    try:
        stacks = client.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        raise DeployError(f"cannot read the stack {name}: {error}") from None
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return {item["OutputKey"]: item.get("OutputValue", "") for item in outputs if "OutputKey" in item}


def outputs_report(profile: Profile, region: str, outputs: Mapping[str, str], secret: str) -> list[str]:
    api_url = outputs.get("ApiUrl", "")
    admin_secret = outputs.get("AdminKeySecretName", "")
    read_key = f"aws secretsmanager get-secret-value --secret-id {admin_secret} --query SecretString --output text"
    return [
        f"Deployed {profile.stack_name} (profile {profile.name}) in {region}.",
        f"  API URL       {api_url}",
        f"  Callback URL  {outputs.get('CallbackUrl', '')}   (PUT /numbers/{{number_id}} gives it to Aircall)",
        f"  Admin key     the secret {admin_secret}   (its value: {read_key} --region {region})",
        f"  Credentials   the secret {secret}",
        "Every output of the stack:",
        *(f"  {key:<18} {value}" for key, value in sorted(outputs.items())),
        "Next:",
        f'  export API={api_url} KEY="$({read_key} --region {region})"',
        '  make smoke URL="$API" KEY="$KEY"',
        '  then make a client key per integration (POST /api-keys: docs/api.md, "Access")',
        '  then configure your numbers: docs/operations.md, "Connect your Aircall numbers"',
    ]


def run_command(command: Sequence[str]) -> None:
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(list(command), check=False)  # noqa: S603 - a resolved tool, arguments built here # nosec B603
    if done.returncode != 0:
        raise DeployError(f"`{' '.join(command[:2])}` failed (exit {done.returncode}); its output is above")


def deploy(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = None,
    out: Callable[[str], None] = print,
) -> int:
    parser = argparse.ArgumentParser(prog="make deploy", description="Deploy the gateway (docs/operations.md).")
    parser.add_argument("--profile", default="default", help="deploy/<profile>.json and samconfig.toml's profile")
    parser.add_argument("--region", help="the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)")
    parser.add_argument("--update-credentials", action="store_true", help="store new Aircall credentials")
    parser.add_argument("--no-build", action="store_true", help="deploy the last `sam build` as it is")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    profile = load_profile(args.profile)
    tools, problems = check_tools()
    session = boto3.session.Session()
    region: str | None = None
    try:
        region = resolve_region(args.region, env, session.region_name)
    except DeployError as error:
        problems.append(str(error))
    identity: dict[str, str] | None = None
    if region:
        session = boto3.session.Session(region_name=region)
        try:
            identity = caller_identity(session)
        except DeployError as error:
            problems.append(str(error))
    for tool in tools.values():
        out(f"ok  {tool.name:<10} {tool.version}  ({tool.path})")
    if identity:
        out(f"ok  aws        account {identity['account']} as {identity['arn']}, region {region}")
    if problems:
        for problem in problems:
            out(f"NO  {problem}")
        raise DeployError(f"{len(problems)} prerequisite(s) missing: see the lines above")
    assert region is not None  # no problem means a region was found
    secret = ensure_secret(
        session.client("secretsmanager"),
        profile.secret_name,
        environ=env,
        prompt=prompt,
        update=args.update_credentials,
    )
    out(f"ok  secret     {secret.name} ({secret.action})")
    commands = sam_commands(tools["sam"].path, profile, region)
    for command in commands[1:] if args.no_build else commands:
        run_command(command)
    outputs = stack_outputs(session.client("cloudformation"), profile.stack_name)
    for line in outputs_report(profile, region, outputs, secret.name):
        out(line)
    return 0


def _terminal_prompt() -> Prompt | None:
    return getpass.getpass if sys.stdin.isatty() else None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return deploy(argv, prompt=_terminal_prompt())
    except DeployError as error:
        print(f"make deploy: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmake deploy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
