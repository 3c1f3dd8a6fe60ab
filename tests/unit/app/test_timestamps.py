"""@timestamp text, whatever order records come in (the formatter caches the current second)."""

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_logstash.ecs_formatter import format_timestamp

# Whole microseconds, as LogRecord.created carries them (time.time_ns() / 1e9).
MICROS = st.integers(min_value=0, max_value=4_102_444_800 * 10**6 - 1)  # up to 2100


@settings(max_examples=300)
@given(st.lists(MICROS | st.sampled_from([1_767_225_599_999_999, 1_767_225_600_000_000]),
                min_size=1, max_size=20))
def test_every_timestamp_is_the_iso_utc_text_of_its_own_second(micros_list):
    for micros in micros_list:
        created = micros / 1_000_000
        expected = (datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
                    + datetime.timedelta(microseconds=round(created * 1_000_000)))
        assert format_timestamp(created) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
