"""Opt-out keywords: the whole message is the keyword, whatever its case, accents and punctuation."""

import pytest

from aircall_sms.domain.keywords import classify


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop. ",
        "STOP!",
        "StopAll",
        "unsubscribe",
        "CANCEL",
        "end",
        "Quit",
        "ARRET",
        "Arrêt !",
        "arrêt",
        "DESABONNER",
        "Désabonner",
        "désinscrire",
        "\u00a0STOP\u00a0",
        "«STOP»",
    ],
)
def test_stop_type_words_opt_out(text):
    assert classify(text) == "opt_out"


@pytest.mark.parametrize("text", ["START", "start", "Unstop.", " UNSTOP "])
def test_start_and_unstop_opt_back_in(text):
    assert classify(text) == "opt_in"


@pytest.mark.parametrize("text", ["HELP", "help?", "Aide", "AIDE !", "info"])
def test_help_words_are_recognised(text):
    assert classify(text) == "help"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "please stop",
        "STOP IT",
        "stop stop",
        "S.T.O.P",
        "STOPP",
        "yes",
        "Merci",
        "ＳＴＯＰ" * 20,
        "Stop calling me at night",
        "🛑",
    ],
)
def test_anything_else_is_an_ordinary_message(text):
    assert classify(text) is None


@pytest.mark.parametrize("text", ["STOP" + " " * 50, "STOP 🙏", "\nSTOP\n"])
def test_spaces_and_symbols_around_the_word_do_not_hide_it(text):
    assert classify(text) == "opt_out"


def test_fullwidth_letters_are_read_as_their_ascii_forms():
    assert classify("ＳＴＯＰ") == "opt_out"
