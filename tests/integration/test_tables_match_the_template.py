"""The tables the local stack creates come from template.yaml; the pynamodb models must agree with them."""

import pytest

from aircall_sms.store.callbacks import CallbackRecord
from aircall_sms.store.client_keys import ClientKeyRecord
from aircall_sms.store.contacts import ContactItem
from aircall_sms.store.ledger import LedgerItem
from aircall_sms.store.messages import MessageRecord
from aircall_sms.store.numbers import NumberRecord
from local_stack.template import table_specs
from tests.support import ROOT

MODELS = {
    "MessagesTable": MessageRecord,
    "NumbersTable": NumberRecord,
    "LedgerTable": LedgerItem,
    "ContactsTable": ContactItem,
    "CallbacksTable": CallbackRecord,
    "KeysTable": ClientKeyRecord,
}


def _keys(schema):
    return sorted((key["AttributeName"], key["KeyType"]) for key in schema)


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_model_keys_indexes_and_attribute_types_match_the_template(logical_id):
    declared = table_specs(ROOT / "template.yaml")[logical_id].create_kwargs
    model = MODELS[logical_id]._get_schema()
    assert _keys(declared["KeySchema"]) == _keys(model["key_schema"])
    declared_types = {a["AttributeName"]: a["AttributeType"] for a in declared["AttributeDefinitions"]}
    model_types = {a["AttributeName"]: a["AttributeType"] for a in model["attribute_definitions"]}
    assert declared_types == model_types
    declared_indexes = {
        i["IndexName"]: (_keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
        for i in declared.get("GlobalSecondaryIndexes", [])
    }
    model_indexes = {
        i["index_name"]: (_keys(i["key_schema"]), i["projection"]["ProjectionType"])
        for i in model["global_secondary_indexes"]
    }
    assert declared_indexes == model_indexes


def test_every_table_in_the_template_has_a_model():
    assert set(table_specs(ROOT / "template.yaml")) == set(MODELS)


def test_the_emulator_serves_the_template_tables(emulator):
    from local_stack.dynamodb import client

    names = client("dynamodb", emulator.url).list_tables()["TableNames"]
    assert set(MODELS) <= set(names)
