"""Names and tags that find a cae run in the Prefect UI: its run id and its data version.

Prefect names a flow run before it starts, and the run id and data version are known only
once the run is registered and its panel frozen, so each flow renames its own run then.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

__all__ = ["name_flow_run", "run_tags"]


def run_tags(run_id: str, data_version: str | None = None) -> list[str]:
    """Return the tags of a cae run's flow and task runs: the run id, `data:<version>`."""
    return [run_id] if data_version is None else [run_id, f"data:{data_version}"]


def name_flow_run(name: str, tags: list[str]) -> None:
    """Rename the running flow run to `name` and add `tags` to its tags."""
    flow_run = FlowRunContext.get().flow_run
    merged = list(dict.fromkeys([*flow_run.tags, *tags]))
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=name, tags=merged)
    # The context's copy is what the next rename merges with.
    flow_run.name, flow_run.tags = name, merged
