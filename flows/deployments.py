"""Every deployment of cae, in one place: `cae serve` serves `daily` on a cron schedule."""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from cae.pipeline import RunConfig
from flows.daily import daily

__all__ = ["DAILY_CRON", "DAILY_TIMEZONE", "daily_deployment", "serve_daily"]

# Weekdays at 18:30 New York time: US markets close at 16:00 and daily files land after it.
DAILY_CRON = "30 18 * * 1-5"
DAILY_TIMEZONE = "America/New_York"


def daily_deployment(
    home: str,
    *,
    cron: str = DAILY_CRON,
    timezone: str = DAILY_TIMEZONE,
    config: RunConfig | None = None,
    runner: str = "threads",
    name: str = "cae-daily",
) -> RunnerDeployment:
    """Return the `daily` deployment: the flow on `home` with a cron schedule in `timezone`."""
    parameters = {"home": home, "runner": runner}
    if config is not None:
        parameters["config"] = config
    return daily.to_deployment(
        name=name, schedules=[Cron(cron, timezone=timezone)], parameters=parameters
    )


def serve_daily(home: str, **options) -> None:
    """Serve the `daily` deployment (options as `daily_deployment`); blocks until interrupted."""
    serve(daily_deployment(home, **options))
