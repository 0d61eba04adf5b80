"""The layout of the aggregation kernels' state, without numba (``nb.py`` holds the kernels).

State lives in two arrays so that a stream cut into any chunks gives identical output and so
that the state can be saved: ``si`` (int64[NI]) and ``sf`` (float64[NF]), indexed by the
constants below. ``api.py`` reads them while ``nb.py`` (and numba) is not loaded yet: a command
starts reading its ticks before it loads the kernels (issue 16).
"""

from __future__ import annotations

import numpy as np

from seriesfactory.schema.arrays import F64, I64
from seriesfactory.schema.outputs import AGGREGATE_FIELDS

MODE_TIME = 0
MODE_TICK = 1

NFIELDS = len(AGGREGATE_FIELDS)
#: The largest int64: a constant of the compiled kernels (``np.iinfo`` inside a kernel would make
#: loading it from numba's cache import ``numba.np.arraymath``, ~0.1 s of a warm run's start-up).
I64_MAX = (1 << 63) - 1

# -- int state --------------------------------------------------------------------------------
I_STARTED = 0  # 1 once a price is known (first accepted price tick of the stream)
I_BUCKET = 1  # time mode: index k of the open bucket; -1 = none. tick mode: 1 = a bucket is open
I_N = 2  # price ticks in the open bucket
I_START_TS = 3  # tick mode: time of the bucket's first tick
I_FIRST_T = 4  # time of the bucket's first price tick (regression origin)
I_LAST_T = 5  # time of the bucket's last price tick
I_FILT_DEV = 6  # ticks removed by the deviation filter (whole stream)
I_FILT_STALE = 7  # ticks whose prices were not used because their quote was stale
I_PENDING = 8  # 1 when the previous tick was rejected as an outlier
I_LAST_TS = 9  # time of the last tick seen (ordering check across chunks)
I_SEEN = 10  # ticks seen (whole stream)
I_ERR = 11  # why the last chunk stopped early (ERR_* below); 0 = it did not
I_BUCKET_END = 12  # time mode: end of the open bucket, (k + 1) * step, ns
NI = 13

ERR_ORDER = 1  # time went backwards
ERR_PRICE = 2  # bid or ask not a positive finite number
ERR_CROSSED = 3  # ask below bid
ERR_VOLUME = 4  # vbid or vask negative or not finite

# -- float state ------------------------------------------------------------------------------
F_OPEN = 0
F_HIGH = 1
F_LOW = 2
F_CLOSE = 3
F_SUMW = 4  # sum of volume weights vbid + vask of price ticks
F_SUMWM = 5  # sum of weight * mid
F_SUMM = 6  # sum of mids (arithmetic mean fallback)
F_SUMSPREAD = 7  # sum of (ask - bid) / mid
F_VBID = 8
F_VASK = 9
# Least-squares sums over t (s since the bucket's first price tick) and d = mid - open
# (shifting by the first mid keeps the sums small, so the centred moments lose little):
F_ST = 10  # sum t
F_STT = 11  # sum t^2
F_SD = 12  # sum d
F_SDD = 13  # sum d^2
F_STD = 14  # sum t d
F_PREV_CLOSE = 15  # close of the previous bucket (last accepted price)
F_LAST_SPREAD = 16  # relative spread of the last accepted price tick
F_PENDING_MID = 17  # mid of the rejected outlier waiting for confirmation
F_BRICK_REF = 18  # tick mode: close of the previous brick (first accepted mid at the start)
NF = 19


def new_state() -> tuple[I64, F64]:
    """A fresh state: ``(si, sf)``."""
    si = np.zeros(NI, dtype=np.int64)
    si[I_BUCKET] = -1
    si[I_LAST_TS] = np.iinfo(np.int64).min
    si[I_BUCKET_END] = np.iinfo(np.int64).min  # time mode: the first tick opens a bucket
    sf = np.zeros(NF, dtype=np.float64)
    return si, sf
