"""The docs' command runner (tests/doc_blocks.py): what it runs, how it reads expected answers, what fails."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests import doc_blocks

FENCE = "```"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(textwrap.dedent(text).replace("~~~", FENCE), encoding="utf-8")
    return path


def run(tmp_path: Path, text: str) -> tuple[list[str], list[doc_blocks.Block]]:
    path = write(tmp_path, text)
    return doc_blocks.run_file(path, root=tmp_path, env=dict(os.environ), addresses={"http://doc:3000": "http://real"})


def test_blocks_are_found_with_their_language_line_and_not_run_reason(tmp_path):
    path = write(
        tmp_path,
        """\
        # Title

        ~~~sh
        echo one
        ~~~

        <!-- not-run: needs an AWS account -->
        ~~~bash
        aws s3 ls
        ~~~

        ~~~json
        {"a": 1}
        ~~~
        """,
    )
    blocks = doc_blocks.parse(path)
    assert [(b.line, b.language, b.kind, b.not_run) for b in blocks] == [
        (3, "sh", "shell", None),
        (8, "bash", "shell", "needs an AWS account"),
        (12, "json", None, None),
    ]
    assert blocks[0].text == "echo one\n"


@pytest.mark.parametrize(
    "text",
    [
        "<!-- not-run: far away -->\n\n~~~sh\necho\n~~~\n",
        "<!-- not-run: -->\n~~~sh\necho\n~~~\n",
        "<!-- not-run: no fence follows -->\nsome text\n",
        "~~~sh\necho never closed\n",
    ],
    ids=["blank line between", "no reason", "no fence", "unclosed"],
)
def test_a_misplaced_marker_or_an_unclosed_block_is_an_error(tmp_path, text):
    with pytest.raises(ValueError, match=r"doc\.md:\d+"):
        doc_blocks.parse(write(tmp_path, text))


def test_a_block_is_cut_after_each_expected_answer_with_its_continuation_lines():
    block = doc_blocks.Block(
        path=Path("doc.md"),
        line=10,
        language="sh",
        text='a=1\necho "$a"\n# -> 1\nprintf \'{"x": [1,\'\nprintf \'2]}\'\n# -> {"x":\n#     [1, 2]}\necho tail\n',
        not_run=None,
    )
    assert doc_blocks.steps(block) == [
        doc_blocks.Step('a=1\necho "$a"', "1", 13),
        doc_blocks.Step("printf '{\"x\": [1,'\nprintf '2]}'", '{"x": [1, 2]}', 16),
        doc_blocks.Step("echo tail", None, 18),
    ]


@pytest.mark.parametrize(
    ("expected", "actual", "verdict"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1, "c": 3}, {"a": 1, "b": 2}, False),
        ({"a": {"b": "..."}}, {"a": {"b": [1, 2]}}, True),
        ({"id": "msg_..."}, {"id": "msg_01ABC"}, True),
        ({"id": "msg_..."}, {"id": "sms_01ABC"}, False),
        ({"id": "msg_..."}, {"id": 7}, False),
        ([{"a": 1}], [{"a": 1, "b": 2}], True),
        ([{"a": 1}], [{"a": 1}, {"a": 2}], False),
        ([{"a": 1}, "..."], [{"a": 1}, {"a": 2}], True),
        ([], [], True),
        ([], [1], False),
        (1, True, False),
        (True, True, True),
        (None, None, True),
        (None, 0, False),
        ("queued", "sent", False),
    ],
)
def test_an_expected_answer_names_the_fields_that_matter(expected, actual, verdict):
    assert doc_blocks.matches(expected, actual) is verdict


def test_output_is_read_as_the_json_values_curl_prints_back_to_back_or_as_text():
    assert doc_blocks.json_values('{"a":1}{"b":2}\n[3]') == [{"a": 1}, {"b": 2}, [3]]
    assert doc_blocks.json_values("") == []
    assert doc_blocks.json_values("3.1.0\n") is None
    assert doc_blocks.json_values("smoke: 5 passed") is None


def test_a_command_without_an_expected_answer_may_not_answer_an_error():
    step = doc_blocks.Step("curl ...", None, 3)
    assert doc_blocks.judge(step, '{"status": "ok"}') is None
    assert "error opted_out" in (doc_blocks.judge(step, '{"error": {"code": "opted_out", "message": "no"}}') or "")
    assert "Forbidden" in (doc_blocks.judge(step, '{"message":"Forbidden"}') or "")
    assert doc_blocks.judge(step, '{"message": {"id": "msg_1"}}') is None


def test_an_error_is_fine_where_the_doc_shows_it_but_not_in_the_commands_before_it():
    step = doc_blocks.Step("curl a; curl b", '{"error": {"code": "not_domestic"}}', 3)
    assert doc_blocks.judge(step, '{"ok": 1}{"error": {"code": "not_domestic", "message": "m"}}') is None
    assert "error rate_limited" in (
        doc_blocks.judge(step, '{"error": {"code": "rate_limited"}}{"error": {"code": "not_domestic"}}') or ""
    )


def test_a_text_answer_must_appear_in_the_output_whatever_the_spacing():
    step = doc_blocks.Step("make help", "make e2e end-to-end tests", 3)
    assert doc_blocks.judge(step, "  make e2e          end-to-end tests through ...\n") is None
    assert "expected the output to contain" in (doc_blocks.judge(step, "make unit  unit tests\n") or "")


def test_shell_blocks_run_in_order_with_the_documented_addresses_rewritten(tmp_path):
    problems, not_run = run(
        tmp_path,
        """\
        ~~~sh
        echo '{"url": "http://doc:3000/health", "n": 2}'
        # -> {"url": "http://real/health"}
        ~~~

        <!-- not-run: would fail here -->
        ~~~sh
        exit 3
        ~~~
        """,
    )
    assert problems == []
    assert [block.not_run for block in not_run] == ["would fail here"]


def test_a_failing_command_fails_with_its_file_line_and_stderr(tmp_path):
    problems, _ = run(
        tmp_path,
        """\
        ~~~sh
        echo fine
        # -> fine
        ls /no/such/place
        echo never
        ~~~
        """,
    )
    assert len(problems) == 1
    assert problems[0].startswith("doc.md:5: exit 2")
    assert "/no/such/place" in problems[0]


def test_an_unset_variable_fails_the_block(tmp_path):
    problems, _ = run(tmp_path, '~~~sh\necho "$NOT_SET_ANYWHERE_4711"\n~~~\n')
    assert len(problems) == 1
    assert "unbound variable" in problems[0]


def test_a_wrong_answer_fails_with_what_was_expected_and_what_came(tmp_path):
    problems, _ = run(tmp_path, '~~~sh\necho \'{"status": "ok"}\'\n# -> {"status": "ko"}\n~~~\n')
    assert problems == ['doc.md:3: expected an answer with {"status": "ko"}, got {"status": "ok"}']


def test_python_blocks_share_one_interpreter_per_file_and_must_not_raise(tmp_path):
    problems, _ = run(
        tmp_path,
        """\
        ~~~python
        from aircall_sms.domain.segments import count
        ~~~

        ~~~python
        assert count("Hello").segments == 1
        ~~~
        """,
    )
    assert problems == []
    problems, _ = run(tmp_path, "~~~python\nimport json\n~~~\n\n~~~python\njson.loads('{')\n~~~\n")
    assert len(problems) == 1
    assert problems[0].startswith("doc.md:5:")
    assert "JSONDecodeError" in problems[0]
