"""The reservation transaction's reading of DynamoDB's answers (a stub client: no network)."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from aircall_sms.errors import ServiceBusy
from aircall_sms.store import transactions
from aircall_sms.store.transactions import Guard, Plan


class StubClient:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def transact_write_items(self, **request):
        self.calls += 1
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer


def cancelled(*codes, item=None):
    reasons = [{"Code": code} | ({"Item": item} if item and code == "ConditionalCheckFailed" else {}) for code in codes]
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": reasons,
    }
    return ClientError(response, "TransactWriteItems")


@pytest.fixture
def plan():
    plan = Plan()
    plan.add({"ConditionCheck": {}}, Guard("opted_out"))
    plan.add({"Update": {}}, Guard("quota", {"window": "hour"}))
    return plan


def use(monkeypatch, client):
    monkeypatch.setattr(transactions, "raw_client", lambda: client)
    monkeypatch.setattr("aircall_sms.store.transactions.time.sleep", lambda _: None)
    return client


def test_a_committed_transaction_has_no_refusals(monkeypatch, plan):
    client = use(monkeypatch, StubClient(None))
    assert transactions.transact(plan) == []
    assert client.calls == 1


def test_refusals_name_the_guards_of_the_items_whose_condition_failed(monkeypatch, plan):
    use(monkeypatch, StubClient(cancelled("None", "ConditionalCheckFailed", item={"used": {"N": "7"}})))
    [refusal] = transactions.transact(plan)
    assert refusal.guard.kind == "quota"
    assert transactions.used_of(refusal.item) == 7


def test_transaction_conflicts_are_retried_until_the_transaction_commits(monkeypatch, plan):
    client = use(
        monkeypatch,
        StubClient(cancelled("TransactionConflict", "None"), cancelled("None", "TransactionConflict"), None),
    )
    assert transactions.transact(plan) == []
    assert client.calls == 3


def test_endless_conflicts_end_in_service_busy_with_retry_after(monkeypatch, plan):
    conflicts = [cancelled("TransactionConflict", "None") for _ in range(transactions.CONFLICT_ATTEMPTS)]
    client = use(monkeypatch, StubClient(*conflicts))
    with pytest.raises(ServiceBusy) as busy:
        transactions.transact(plan)
    assert busy.value.headers == {"Retry-After": "1"}
    assert client.calls == transactions.CONFLICT_ATTEMPTS


def test_a_condition_failure_wins_over_a_conflict_in_the_same_answer(monkeypatch, plan):
    client = use(monkeypatch, StubClient(cancelled("ConditionalCheckFailed", "TransactionConflict")))
    [refusal] = transactions.transact(plan)
    assert refusal.guard.kind == "opted_out"
    assert client.calls == 1


def test_other_dynamodb_errors_are_not_swallowed(monkeypatch, plan):
    error = ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "TransactWriteItems")
    use(monkeypatch, StubClient(error))
    with pytest.raises(ClientError):
        transactions.transact(plan)


def test_a_counter_update_is_conditional_on_room_for_the_whole_amount():
    from datetime import UTC, datetime

    update = transactions.counter_update(
        "Ledger", {"pk": {"S": "x"}}, amount=3, limit=10, expires_at=datetime(2027, 1, 1, tzinfo=UTC)
    )["Update"]
    assert update["ConditionExpression"] == "attribute_not_exists(used) OR used <= :max"
    assert update["ExpressionAttributeValues"][":max"] == {"N": "7"}
    assert update["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


def test_more_than_the_whole_limit_never_fits_not_even_in_an_unused_window():
    from datetime import UTC, datetime

    update = transactions.counter_update(
        "Ledger", {"pk": {"S": "x"}}, amount=4, limit=3, expires_at=datetime(2027, 1, 1, tzinfo=UTC)
    )["Update"]
    assert update["ConditionExpression"] == "used <= :max"
    assert update["ExpressionAttributeValues"][":max"] == {"N": "-1"}


class SingleWriteClient:
    """Answers the single-item writes; refuses with `refusal` when given."""

    def __init__(self, refusal: ClientError | None = None):
        self.refusal = refusal
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name):
        def call(**request):
            self.calls.append((name, request))
            if self.refusal is not None:
                raise self.refusal

        return call


def condition_failed(item=None):
    response: Any = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "UpdateItem")


@pytest.mark.parametrize(
    ("kind", "method"), [("Put", "put_item"), ("Update", "update_item"), ("Delete", "delete_item")]
)
def test_a_plan_of_one_write_is_sent_as_that_write_with_its_condition(monkeypatch, kind, method):
    client = use(monkeypatch, SingleWriteClient())
    plan = Plan()
    operation = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_exists(pk)"}
    plan.add({kind: operation}, Guard("message"))
    assert transactions.transact(plan) == []
    assert client.calls == [(method, operation)]


def test_a_refused_single_write_is_a_refusal_of_its_guard_with_the_old_item(monkeypatch):
    use(monkeypatch, SingleWriteClient(condition_failed({"used": {"N": "3"}})))
    plan = Plan()
    plan.add({"Update": {"TableName": "t", "Key": {}}}, Guard("quota"))
    [refusal] = transactions.transact(plan)
    assert (refusal.guard.kind, transactions.used_of(refusal.item)) == ("quota", 3)


def test_a_single_condition_check_is_still_a_transaction(monkeypatch):
    client = use(monkeypatch, StubClient(None))
    plan = Plan()
    plan.add({"ConditionCheck": {}}, Guard("opted_out"))
    assert transactions.transact(plan) == []
    assert client.calls == 1


def test_other_errors_of_a_single_write_are_not_swallowed(monkeypatch):
    use(monkeypatch, SingleWriteClient(ClientError({"Error": {"Code": "ValidationException"}}, "PutItem")))
    plan = Plan()
    plan.add({"Put": {}}, Guard("message"))
    with pytest.raises(ClientError):
        transactions.transact(plan)
