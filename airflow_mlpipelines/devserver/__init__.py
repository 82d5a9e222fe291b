"""Run a local Airflow and drive it over REST API v2: the main job (``bash .ci/demo``), benchmarks, tests.

Nothing here is imported by Airflow's components; it starts them as ``airflow ...`` processes.
"""

from __future__ import annotations

from airflow_mlpipelines.devserver.rest import AirflowRestClient, free_port, log_line
from airflow_mlpipelines.devserver.standalone import StandaloneAirflow

__all__ = ["AirflowRestClient", "StandaloneAirflow", "free_port", "log_line"]
