"""Time zone names a schedule may use: IANA names, and the Windows names of Azure ML SDK v1's ``TimeZone``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_mlpipelines.exceptions import ScheduleError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Mapping

WINDOWS_ZONES: Mapping[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kyiv",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Canada Central Standard Time": "America/Regina",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax",
    "SA Pacific Standard Time": "America/Bogota",
    "E. South America Standard Time": "America/Sao_Paulo",
}
"""The SDK's ``TimeZone`` names (Windows zone names) used most, and the IANA zone of each (CLDR's
mapping for the zone's main territory)."""


def zone_info(name: str) -> ZoneInfo:
    """The zone called ``name``: an IANA name or a Windows name of :data:`WINDOWS_ZONES`."""
    if not isinstance(name, str):  # a typed caller passes a str; YAML and forms may not
        raise ScheduleError(f"time_zone must be a string (got {name!r})", field="time_zone")
    iana = WINDOWS_ZONES.get(name, name)
    try:
        if not iana or iana.startswith(("/", ".")) or ".." in iana:
            raise ValueError(iana)
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, [*WINDOWS_ZONES, "Europe/Amsterdam", "America/New_York"])
        raise ScheduleError(
            f"unknown time zone {name!r}",
            field="time_zone",
            hint=hint
            or "an IANA name such as 'Europe/Amsterdam', or a Windows name such as 'W. Europe Standard Time'",
        ) from None
