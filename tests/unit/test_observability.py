import io
import json
import logging

from aws_lambda_powertools import Logger

from aircall_sms.observability import MaskingFormatter, mask_phone_numbers


def test_log_lines_never_carry_a_full_phone_number():
    stream = io.StringIO()
    log = Logger(service="mask-test", logger_formatter=MaskingFormatter(), logger_handler=logging.StreamHandler(stream))
    log.info("sending to +33612345679", extra={"to": "+1 424-416-2288", "note": "ok"})
    line = json.loads(stream.getvalue())
    assert "612345679" not in stream.getvalue() and "4244162288" not in stream.getvalue()
    assert line["message"].endswith("79") and line["note"] == "ok"


def test_masking_keeps_the_country_code_and_the_last_two_digits():
    assert mask_phone_numbers("to +33612345679.") == "to +33*******79."
    assert mask_phone_numbers("no number here 2026-11-26") == "no number here 2026-11-26"
