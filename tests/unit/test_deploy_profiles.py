"""The committed deploy profiles (deploy/<profile>.json) and samconfig.toml: parameters the template has, values
the gateway's own readers accept, the same secret names in both files, and no fixed region."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from samcli.cli.types import CfnParameterOverridesType  # type: ignore[import-untyped]

from aircall_sms.domain.limits import LimitTable
from aircall_sms.domain.prices import PriceTable
from local_stack.template import load_template
from tools import deploy

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ["default", "dev", "prod"]
TEMPLATE = load_template(ROOT / "template.yaml")
SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
AUTO_REPLY_KEYWORDS = {"opt_out", "opt_in", "help"}


def raw_parameters(profile: str) -> dict[str, object]:
    document = json.loads((ROOT / "deploy" / f"{profile}.json").read_text(encoding="utf-8"))
    parameters: dict[str, object] = document["parameters"]
    return parameters


def test_every_profile_file_has_its_samconfig_section_and_a_stack_of_its_own():
    files = {path.stem for path in (ROOT / "deploy").glob("*.json")} - {"deployer-policy"}
    assert files == set(PROFILES)
    assert set(PROFILES) <= set(SAMCONFIG)
    names = [deploy.load_profile(profile).stack_name for profile in PROFILES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_profile_sets_only_parameters_of_the_template_within_their_bounds(profile):
    for key, value in raw_parameters(profile).items():
        assert key in TEMPLATE.parameters, f"deploy/{profile}.json: {key} is not a parameter of template.yaml"
        spec = TEMPLATE.parameters[key]
        if spec.get("Type") == "Number":
            assert isinstance(value, int | float), f"{key} is a Number"
            assert spec.get("MinValue", value) <= value <= spec.get("MaxValue", value), key
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], key


@pytest.mark.parametrize("profile", PROFILES)
def test_a_profiles_json_parameters_are_read_by_the_gateway_as_it_will_read_them(profile):
    rendered = deploy.load_profile(profile).parameters
    if rendered.get("LimitsJson"):
        LimitTable.from_json(rendered["LimitsJson"])
    if rendered.get("PriceTableJson"):
        PriceTable.from_json(rendered["PriceTableJson"])
    if rendered.get("AutoReplies"):
        replies = json.loads(rendered["AutoReplies"])
        assert set(replies) <= AUTO_REPLY_KEYWORDS
        assert all(isinstance(text, str) and 0 < len(text) <= 1600 for text in replies.values())


def test_the_dev_profile_carries_real_json_objects_not_json_typed_as_strings():
    raw = raw_parameters("dev")
    assert isinstance(raw["PriceTableJson"], dict)
    assert isinstance(raw["AutoReplies"], dict)


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_samconfig_reads_the_same_secret_stage_and_log_level_as_make_deploy(profile):
    text = SAMCONFIG[profile]["deploy"]["parameters"]["parameter_overrides"]
    overrides = CfnParameterOverridesType().convert(text, None, None)
    profile_values = deploy.load_profile(profile).parameters
    assert overrides == {key: profile_values[key] for key in overrides}
    assert overrides["AircallCredentialsSecretName"] == f"aircall-sms-gateway/{profile}/aircall-credentials"


def test_the_default_profile_reads_the_templates_default_secret():
    default = TEMPLATE.parameters["AircallCredentialsSecretName"]["Default"]
    assert deploy.load_profile("default").secret_name == default == deploy.DEFAULT_SECRET_NAME


def test_samconfig_fixes_no_region():
    def keys(node: object) -> list[str]:
        if isinstance(node, dict):
            return [key for value in node.values() for key in keys(value)] + list(node)
        return []

    assert "region" not in keys(SAMCONFIG)
