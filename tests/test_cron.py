"""The schedule validator against Fugit's own accepted and rejected strings.

Every string below is taken from floraison/fugit at commit efda6552 (2026-07-21); the comment
above each group names the file it comes from.
"""

from __future__ import annotations

import pytest

from joblint.rails.cron import schedule_problem

ACCEPTED = [
    # README.md, "Fugit::Nat" section
    "every day at five",
    "every weekday at five",
    "every day at 5 pm",
    "every tuesday at 5 pm",
    "every wed at 5 pm",
    "every day at 16:30",
    "every day at 16:00 and 18:00",
    "every day at noon",
    "every day at midnight",
    "every tuesday and monday at 5pm",
    "every wed or Monday at 5pm and 11",
    "every day at 5 pm on America/Los_Angeles",
    "every day at 6 pm in Asia/Tokyo",
    "every 3 hours",
    "every 4 months",
    "every 5 minutes",
    "every 15s",
    # README.md, "cron" section
    "5 0 * * *",
    "15 14 1 * *",
    "5 0 * * *  Europe/Rome",
    "0 23 * * mon#2,tue",
    "9 0 * * sun%2",
    "9 0 * * sun%2,tue%3+2",
    "~29 * * * *",
    "~/10 * * * *",
    "0 12 * * 1~5",
    "5 * * * * *",
    # test/_nat_single_crons.txt
    "every weekday",
    "every monday",
    "every day at 5 pm in Etc/GMT+5",
    "every 4M",
    "every 5 min",
    "every 15 seconds",
    "every 12 hours at minute 50",
    "every 12h at min 50",
    "every 1st of the month at midnight",
    "Every 2nd of the month at 10:00",
    "every month on day 2 and 5 at 10:00",
    "every month on days 1,15 at 10:00",
    "every month on the 1st and the last at 12:00 pm",
    "every day at 6pm and 8pm UTC",
    "every day at 08:30 PM",
    "every day at 12:15 midnight",
    "every Mon,Tue,Wed,Thu,Fri at 18:00",
    "every Mon, Tue, and Wed at 18:15",
    "every Mon to Thu, 18:20",
    "every mon-thu at 18:20",
    "every Monday through Friday at 19:20",
    "from Monday to Friday at 19:22",
    "every day at 18:00, 18:15, 20:00, and 20:15",
    "every second",
    "every hour",
    "every 1 week",
    "every year",
    "every minute at secs 10 and 40",
    "every week on monday 18:23",
    "every day at zero dark twenty",
    "every day at oh dark forty",
    "every 2 days at 17:00",
    "every day at noon from the 25th to the last",
    "every 15 minutes starting at minute 1",
    "every weekday 8am to 5pm on minute 10 and 30",
    "every hour, from 8am to 5pm",
    "at 12:00PM",
    "at 12 midday",
    "every 17 hours",
    "every day at midnight America/Los_Angeles",
    "every 60 minutes",
    # test/nat_test.rb, `.do_parse` successes
    "at noon",
    "at midnight",
    # test/cron_test.rb, "success", "negative monthdays", "months", "weekdays", "weekdays #"
    "@yearly",
    "@noon Asia/Jakarta",
    "0 22 * * 1-5",
    "0 23 * * 6-1",
    "23 0-23/2 * * *",
    "14,24 8-12,14-19/2 * * *",
    "58-2/2 * * * 5-1/2",
    "/15 /4 * * *",
    "0 18 * * fri-sun UTC",
    "0 19 * nov-mar 0",
    "0 23 30-3 * *",
    "10-15 0 23 * * *",
    "* 0-24 * * *",
    "0 0/12 * * * -09:00",
    ",,10,,20, * * * *",
    "* */27 * * *",
    "~30/10 * * * ~4/2",
    "* * -7--1 * *",
    "* * 25-L * *",
    "* * last * *",
    "* * * Jan-Aug/2 *",
    "* * * * sun,mon-tue",
    "0 0 * * mon#last,tue",
    "* * 30,31 2,3 *",
]

REJECTED = [
    # test/nat_test.rb, "rejects (returns nil)" and `.do_parse` failures
    "nada",
    "every 2 years",
    "every 2 weeks",
    "every 100 minutes",
    "a" * 5000,
    # test/cron_test.rb, "failure"
    "",
    " ",
    "* 25 * * *",
    "* * -32 * *",
    "* * 0 * *",
    "* * 00 * *",
    "* * * 0 *",
    "* * * 00 *",
    "*/0 * * * *",
    "0/0 * * * *",
    "* * */0 * *",
    "*/0 * * * * *",
    "* * * * */0 *",
    "*/-1 * * * *",
    "* * * * */-1",
    "* * * 1-13 *",
    # test/cron_test.rb, "impossible days"
    "* * 32 1 *",
    "* * 30 2 *",
    "* * 31 4 *",
    "* * 31 11 *",
    "* * 31 2,4 *",
    # test/cron_test.rb, time zones that return nil
    "* * * * * America/Los Angeles",
]


@pytest.mark.parametrize("schedule", ACCEPTED)
def test_fugit_accepted_schedules_are_valid(schedule):
    assert schedule_problem(schedule) is None


@pytest.mark.parametrize("schedule", REJECTED, ids=lambda s: s[:40] or "empty")
def test_fugit_rejected_schedules_are_invalid(schedule):
    assert schedule_problem(schedule) is not None


def test_unknown_shortcut_and_misspelt_words_are_named_in_the_reason():
    assert "@fortnightly" in schedule_problem("@fortnightly")
    assert "dya" in schedule_problem("every dya at noon")


def test_a_duration_is_not_a_recurring_schedule():
    # test/duration_test.rb: "1Y3M2d" parses as a Fugit::Duration, which Solid Queue refuses
    assert "duration" in schedule_problem("1h")
    assert schedule_problem("every 1h") is None


def test_a_short_cron_names_its_field_count():
    assert "has 4" in schedule_problem("30 4 * *")
