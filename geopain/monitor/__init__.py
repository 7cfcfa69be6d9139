"""``geopain monitor``: pain scores over time from a video, a stream, a camera or a folder.

:class:`Monitor` runs detector -> tracker -> rolling windows -> model per tracked face and
stores windows, scores, landmarks and alerts through :mod:`geopain.store`;
:func:`open_source` turns a command-line SOURCE into frames (:mod:`geopain.monitor.sources`);
:func:`alert_bands` is the alert rule.
"""
from .alerts import alert_bands
from .runner import Monitor, MonitorSettings, MonitorStats, default_threshold, run_key
from .sources import open_source

__all__ = ["Monitor", "MonitorSettings", "MonitorStats", "alert_bands", "default_threshold", "open_source", "run_key"]
