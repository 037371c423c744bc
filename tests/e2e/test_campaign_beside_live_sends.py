"""A campaign never starves live conversational replies: the campaign bench (`bench/campaign_drain.py`, the local
stack over HTTP on a simulated clock) with 150 recipients on a number of 100 segments an hour, beside a live reply
every 20 s for 12 minutes. Every live reply goes out at once (none deferred, none refused), the campaign still
finishes, and no window passes its limit. Before the campaigns' share of the number's windows
(`CAMPAIGN_SHARE_PERCENT`), the same run deferred 12 of the 36 replies (up to 3,103 s) and refused 11."""

from __future__ import annotations

from bench import campaign_drain

LIMITS = {"hour": 100, "day": 1000, "month": 10000}
WITH, WITHOUT = f"{campaign_drain.WHERE}.with_campaign", f"{campaign_drain.WHERE}.without_campaign"


def test_live_replies_beside_a_campaign_are_sent_at_once_and_the_campaign_finishes():
    results = campaign_drain.run(recipients=150, live_minutes=12, live_every=20, limits=LIMITS)
    live = {name: results[f"{WITH}.{name}"] for name in ("live_sent_at_once", "live_deferred", "live_429")}
    assert live == {"live_sent_at_once": 36, "live_deferred": 0, "live_429": 0}, results
    assert results[f"{WITH}.live_max_wait_s"] == 0
    assert results[f"{WITHOUT}.live_sent_at_once"] == 36  # the baseline: the same replies without the campaign
    # The campaign finishes, within its share of each hour, and no window passes its limit.
    assert results[f"{WITH}.campaign_sent"] == 150
    finished = results[f"{WITH}.campaign_finished_after_min"]
    assert isinstance(finished, float) and 0 < finished < 24 * 60
    per_hour = results[f"{WITH}.campaign_sent_per_clock_hour"]
    assert isinstance(per_hour, list) and sum(per_hour) == 150 and max(per_hour) <= 80
    assert results[f"{WITH}.windows_over_limit"] == 0
    utilisation = results[f"{WITH}.hour_window_utilisation"]
    assert isinstance(utilisation, float) and 0 < utilisation <= 1.0
