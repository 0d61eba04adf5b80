"""``store_bars`` entries: each bad one is one line naming the entry; names of the bar types."""

from __future__ import annotations

import pytest

from seriesfactory.errors import InputError
from seriesfactory.service.bars import bar_type_name, parse_bar_spec
from seriesfactory.transforms.bars import BarSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "store_bars: an empty bar spec; write e.g. 'tick 500' or 'tib ewma 15'"),
        ("time", "store_bars 'time': time bars take one interval, e.g. 'time 5m'"),
        ("tick", "store_bars 'tick': write 'tick THRESHOLD', e.g. 'tick 500'"),
        ("dollar 1e6 2", "store_bars 'dollar 1e6 2': write 'dollar THRESHOLD'"),
        ("volume lots", "store_bars 'volume lots': 'lots' is not a number"),
        ("tick inf", "store_bars 'tick inf': 'inf' is not a finite number"),
        ("tick nan", "store_bars 'tick nan': 'nan' is not a finite number"),
        ("tib ewma", "store_bars 'tib ewma': options come in pairs, e.g. 'ewma 15 expected 100'"),
        ("vrb window 5", "store_bars 'vrb window 5': unknown option 'window'; use ewma"),
        ("dib ewma x", "store_bars 'dib ewma x': 'x' is not a number"),
        ("renko 5", "store_bars 'renko 5': unknown bar type 'renko'; use time, tick, volume"),
        ("tick -5", "store_bars 'tick -5': "),  # BarSpec's own check, prefixed with the entry
        ("time 5parsecs", "store_bars 'time 5parsecs': "),
    ],
)
def test_a_bad_entry_is_one_line_naming_it(text: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        parse_bar_spec(text)
    message = str(info.value)
    assert message.startswith(expected) and "\n" not in message, message


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("time 5m", "time_5m"),
        ("TICK 500", "tick_500"),
        ("dollar 2.5e5", "dollar_250000"),
        ("volume 0.5", "volume_0.5"),
        ("tib ewma 15", "tib_ewma15"),
        ("trb ewma 5 expected 30", "trb_ewma5_e30"),
        ("vib ewma 20 expected 100 sign tick-rule", "vib_ewma20_tickrule"),
    ],
)
def test_entries_and_their_bar_type_names(text: str, name: str) -> None:
    assert bar_type_name(parse_bar_spec(text)) == name


def test_explicit_bounds_are_in_the_name() -> None:
    spec = BarSpec(type="dib", ewma_window=10, expected_ticks=50, min_ticks=5, max_ticks=2.5e3)
    assert bar_type_name(spec) == "dib_ewma10_e50_min5_max2500"
