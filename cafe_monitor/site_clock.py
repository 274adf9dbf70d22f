"""The one clock of a site, for everything that names a day: report, export, delete,
retention, the daily reports, History and Today.

A chain's sites may sit in different zones, and the machine running a command may be in
another again (head office in London reading a Los Angeles shop), so a site's business
day is read in the zone and day start its latest session recorded, and this machine's
settings are only the fallback for a site that recorded none.
"""

from __future__ import annotations

from cafe_monitor.localtime import CafeClock, TimeZoneError
from cafe_monitor.storage import Engine
from cafe_monitor.storage.queries import Counter, recorded_zones


def clock_for(engine: Engine, counter: Counter, fallback: CafeClock) -> CafeClock:
    """The clock to read these counters by: the site's own (as its sessions recorded it),
    the chain's when every site shares one zone, else `fallback` (this machine's settings)."""
    recorded = recorded_zones(engine)
    if counter.site:
        pick = recorded.get(counter.site)
    else:
        kinds = set(recorded.values())
        pick = kinds.pop() if len(kinds) == 1 else None
    if pick is None:
        return fallback
    try:
        return CafeClock.of(*pick)
    except TimeZoneError:  # a zone this machine's database does not know: read in our own
        return fallback


def site_clock(engine: Engine, site: str, fallback: CafeClock) -> CafeClock:
    """One site's clock: its recorded zone and day start, else `fallback`."""
    return clock_for(engine, Counter(site=site), fallback)
