"""``cache ls`` and ``cache gc`` of a lake on an object store (docs/scale.md).

A lake on a store holds the trades, ticks and aggregates tiers as published objects (the raw
tier stays on each machine: ``cache ls`` there). Each tier has its manifests, and an object is
*listed* when one of them names it:

- trades: a day object ``trades/{venue}/{symbol}/{YYYY}/{MM}/{YYYYMMDD}.parquet`` is listed by
  an ingest record ``trades/{venue}/{symbol}/_ingested/{sha256[:32]}.json`` naming its day;
- ticks: a file of a tick set (a folder named by a 16-hex-digit key under ``ticks/``) is
  listed by the set's ``manifest.json``;
- aggregates: ``aggregates/{k16}/{p16}.parquet`` is listed by its ``.seal`` beside it (and
  the seal counts as listed while its entry is there).

Manifests and records themselves are what readers trust; gc never removes them.

:func:`gc_lake` removes, when older than :data:`GRACE_S` (one hour, as for local temporary
files and ``storage.put_atomic``'s sweep):

- temporary keys (``.tmp-…``): uploads of writers killed before they published;
- objects no manifest lists: a writer killed between its files and its manifest, or a file
  a newer publish of its group no longer names. A live writer uploads its files and then its
  manifest within seconds, and a re-publish withdraws the manifest and then rewrites every
  file, so a file about to be listed is younger than the grace. Each candidate's last write
  is read again just before it is removed, and one written since the listing is kept.

What gc does not do on a store: retention by last use (a store records no reads, and an
object's time is its publication; use the store's lifecycle rules) and a size limit (the
raw tier's, which is per machine). Objects outside the three tiers are listed as *other* and
never touched. A tier whose manifest cannot be read (unreadable JSON, an unknown version) has
its unlisted objects kept and counted: removing what an unreadable manifest might list could
delete data another version of Series Factory wrote.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
import time
from dataclasses import dataclass, field

from seriesfactory.core import storage
from seriesfactory.core.atomic import STALE_TEMP_S, TMP_PREFIX
from seriesfactory.core.storage import ObjectInfo, Remote
from seriesfactory.lake import AGGREGATES, TICKS, TIERS, TRADES
from seriesfactory.lake.trades import RECORD_VERSION

__all__ = ["GRACE_S", "LakeGc", "LakeInventory", "TierUsage", "gc_lake", "inventory"]

#: Temporary and unlisted objects younger than this are left alone (a live writer's).
GRACE_S = STALE_TEMP_S
_KEY16 = re.compile(r"[0-9a-f]{16}")
_MANIFEST = "manifest.json"
_SEAL = ".seal"
_READERS = 8


@dataclass(slots=True)
class TierUsage:
    """A tier's data objects (temporary keys excluded): units, objects, bytes, oldest write."""

    units: int = 0
    files: int = 0
    bytes: int = 0
    oldest_s: float | None = None

    def add(self, obj: ObjectInfo) -> None:
        self.files += 1
        self.bytes += obj.size
        if obj.modified_s is not None:
            self.oldest_s = min(self.oldest_s or obj.modified_s, obj.modified_s)


@dataclass(slots=True)
class LakeInventory:
    """What :func:`inventory` found under a lake."""

    tiers: dict[str, TierUsage] = field(default_factory=lambda: {t: TierUsage() for t in TIERS})
    #: Temporary keys (``.tmp-…``) anywhere under the lake.
    temp: list[ObjectInfo] = field(default_factory=list)
    #: Objects of a tier that no manifest lists (candidates for gc).
    unlisted: list[ObjectInfo] = field(default_factory=list)
    #: Unlisted objects kept because a manifest beside them could not be read.
    unsure: list[ObjectInfo] = field(default_factory=list)
    #: Objects outside the tiers' layouts (never touched).
    other: list[ObjectInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LakeGc:
    removed_temp: int
    removed_unlisted: int
    freed_bytes: int
    kept_young: int
    kept_unsure: int


def _read_json(lake: Remote, names: list[str]) -> dict[str, object]:
    """``name -> parsed JSON`` of small objects, read a few at a time (None: unreadable)."""

    def one(name: str) -> object:
        try:
            return json.loads(storage.read_bytes(lake / name))
        except (FileNotFoundError, ValueError):
            return None

    with cf.ThreadPoolExecutor(max_workers=_READERS) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def _record_days(doc: object) -> set[str] | None:
    if not isinstance(doc, dict) or doc.get("version") != RECORD_VERSION:
        return None
    days = doc.get("days")
    return {str(d) for d in days} if isinstance(days, list) else None


def _manifest_paths(doc: object) -> set[str] | None:
    try:
        return {str(f["path"]) for f in doc["files"]}  # type: ignore[index]
    except (KeyError, TypeError):
        return None


def inventory(lake: Remote) -> LakeInventory:
    """List the lake (one listing, then every record and tick manifest read) and sort each
    object into its tier, listed or unlisted, temporary, or other."""
    inv = LakeInventory()
    objects = storage.walk(lake)
    data = [o for o in objects if not o.name.rsplit("/", 1)[-1].startswith(TMP_PREFIX)]
    inv.temp = [o for o in objects if o.name.rsplit("/", 1)[-1].startswith(TMP_PREFIX)]
    present = {o.name for o in data}
    records = [o.name for o in data if _is_record(o.name)]
    manifests = [o.name for o in data if _tick_set(o.name) and o.name.endswith("/" + _MANIFEST)]
    docs = _read_json(lake, records + manifests)
    # trades: (venue/symbol folder) -> the days its records list; None: a record unreadable
    listed_days: dict[str, set[str] | None] = {}
    for name in records:
        folder = name.rsplit("/_ingested/", 1)[0]
        days = _record_days(docs[name])
        known = listed_days.setdefault(folder, set())
        listed_days[folder] = None if days is None or known is None else known | days
    # ticks: set folder -> the paths its manifest lists; None: unreadable
    set_files: dict[str, set[str] | None] = {}
    for name in manifests:
        set_files[name[: -len(_MANIFEST) - 1]] = _manifest_paths(docs[name])
    symbols: set[str] = set()
    sets: set[str] = set()
    for obj in data:
        tier = obj.name.split("/", 1)[0]
        status = "other"
        if tier == TRADES and obj.name.count("/") >= 3:
            folder = "/".join(obj.name.split("/")[:3])
            symbols.add(folder)
            if _is_record(obj.name):
                status = "listed"
            else:
                days = listed_days.get(folder, set())
                day = obj.name.rsplit("/", 1)[-1].removesuffix(".parquet")
                status = "unsure" if days is None else "listed" if day in days else "unlisted"
        elif tier == TICKS and (root := _tick_set(obj.name)):
            sets.add(root)
            files = set_files.get(root, set())
            rel = obj.name[len(root) + 1 :]
            if rel == _MANIFEST:
                status = "listed"
            else:
                status = "unsure" if files is None else "listed" if rel in files else "unlisted"
        elif tier == AGGREGATES and obj.name.count("/") == 2:
            if obj.name.endswith(_SEAL):
                entry = obj.name[: -len(_SEAL)]
                status = "listed" if entry in present else "unlisted"
            else:
                status = "listed" if obj.name + _SEAL in present else "unlisted"
            if status == "listed" and not obj.name.endswith(_SEAL):
                inv.tiers[AGGREGATES].units += 1
        if status == "other":
            inv.other.append(obj)
            continue
        inv.tiers[tier].add(obj)
        if status == "unlisted":
            inv.unlisted.append(obj)
        elif status == "unsure":
            inv.unsure.append(obj)
    inv.tiers[TRADES].units = len(symbols)
    inv.tiers[TICKS].units = len(sets)
    return inv


def _is_record(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 5 and parts[0] == TRADES and parts[3] == "_ingested"
        and parts[4].endswith(".json")
    )  # fmt: skip


def _tick_set(name: str) -> str:
    """The tick-set folder holding ``name`` (its first key16 folder under ``ticks/``), or ''."""
    parts = name.split("/")
    if parts[0] != TICKS:
        return ""
    for i, part in enumerate(parts[1:-1], start=1):
        if _KEY16.fullmatch(part):
            return "/".join(parts[: i + 1])
    return ""


def gc_lake(lake: Remote, *, now_s: float | None = None) -> LakeGc:
    """Remove the lake's temporary keys and unlisted objects older than :data:`GRACE_S`."""
    now = time.time() if now_s is None else now_s
    inv = inventory(lake)
    removed = {"temp": 0, "unlisted": 0}
    freed = young = 0
    for kind, objects in (("temp", inv.temp), ("unlisted", inv.unlisted)):
        for obj in objects:
            if obj.modified_s is None or now - obj.modified_s <= GRACE_S:
                young += 1
                continue
            key = lake / obj.name
            again = storage.stat(key)  # rewritten since the listing (a writer publishing)?
            if again is None or again.modified_s != obj.modified_s:
                young += again is not None
                continue
            storage.remove(key)
            removed[kind] += 1
            freed += obj.size
    return LakeGc(removed["temp"], removed["unlisted"], freed, young, len(inv.unsure))
