"""The project's own local stack, without AWS or Docker: the handlers in-process behind an API Gateway-like
HTTP front read from `template.yaml`, the DynamoDB emulator (moto's server) and the Aircall sandbox.

    with LocalStack(dynamodb_port=0, aircall_port=0, api_port=0) as stack:
        httpx.get(f"{stack.api_url}/health")

`python -m local_stack` runs it in the foreground until Ctrl-C. See README.md.
"""

from local_stack.dynamodb import DynamoDBEmulator, create_tables
from local_stack.front import Front, FrontServer, LambdaContext
from local_stack.stack import LocalStack
from local_stack.template import (
    FunctionSpec,
    Route,
    TableSpec,
    Template,
    TemplateError,
    function_environments,
    functions,
    load_template,
    merged_environment,
    routes,
    table_definitions,
    table_specs,
)

__all__ = [
    "DynamoDBEmulator",
    "Front",
    "FrontServer",
    "FunctionSpec",
    "LambdaContext",
    "LocalStack",
    "Route",
    "TableSpec",
    "Template",
    "TemplateError",
    "create_tables",
    "function_environments",
    "functions",
    "load_template",
    "merged_environment",
    "routes",
    "table_definitions",
    "table_specs",
]
