"""The console in the deployed shape (template.yaml): its pages are open routes of one small function, its
people are a Cognito user pool whose groups are the API's scopes, the hosted UI's client is a public PKCE client
that returns to the console, and the authorizer accepts that pool's tokens."""

from __future__ import annotations

from aircall_sms.domain.tokens import GROUP_SCOPES
from local_stack.template import Resolver, functions, load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE.resources


def test_the_console_s_pages_are_open_routes_of_the_console_function_only():
    console = functions(TEMPLATE)["ConsoleFunction"]
    assert {(route.method, route.path) for route in console.routes} == {
        ("GET", "/console"),
        ("GET", "/console/{asset+}"),
    }
    assert all(route.authorizer is None for route in console.routes)
    assert console.code_uri is not None
    assert (console.code_uri / "static" / "index.html").is_file()
    others = [route for name, spec in functions(TEMPLATE).items() if name != "ConsoleFunction" for route in spec.routes]
    assert not [route for route in others if route.path.startswith("/console")]


def test_the_console_function_may_only_list_the_pool_s_clients():
    policies = RESOURCES["ConsoleFunction"]["Properties"]["Policies"]
    assert policies == [
        {
            "Statement": [
                {
                    "Sid": "ConsoleClient",
                    "Effect": "Allow",
                    "Action": ["cognito-idp:ListUserPoolClients"],
                    "Resource": {"Fn::GetAtt": ["ConsoleUserPool", "Arn"]},
                }
            ]
        }
    ]


def test_the_groups_are_the_scopes_the_authorizer_knows():
    groups = {
        resource["Properties"]["GroupName"]
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    assert groups == set(GROUP_SCOPES)


def test_people_are_invited_not_self_registered_and_the_pool_is_protected():
    pool = RESOURCES["ConsoleUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["DeletionProtection"] == "ACTIVE"


def test_the_hosted_ui_client_is_a_public_pkce_client_returning_to_the_console():
    client = RESOURCES["ConsoleUserPoolClient"]["Properties"]
    assert client["ClientName"] == "console"  # how the console function finds it (use_cases.sign_in)
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"]
    callback = Resolver(TEMPLATE).resolve(client["CallbackURLs"])
    assert len(callback) == 1
    assert callback[0].startswith("https://Api.execute-api.")
    assert callback[0].endswith("/console/index.html")


def test_the_authorizer_accepts_the_pool_s_tokens_deployed_and_the_named_provider_s_otherwise():
    variables = RESOURCES["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    deployed = Resolver(TEMPLATE, region="eu-west-1").resolve(variables["SIGN_IN_ISSUER"])
    assert deployed == "https://cognito-idp.eu-west-1.amazonaws.com/ConsoleUserPool"
    local = Resolver(TEMPLATE, {"SignInProviderUrl": "http://127.0.0.1:9"}).resolve(variables["SIGN_IN_ISSUER"])
    assert local == "http://127.0.0.1:9"
    console = RESOURCES["ConsoleFunction"]["Properties"]["Environment"]["Variables"]
    hosted_ui = Resolver(TEMPLATE, region="eu-west-1").resolve(console["SIGN_IN_URL"])
    assert hosted_ui == "https://ConsoleUserPoolDomain.auth.eu-west-1.amazoncognito.com"
