"""Validates OpenLineage run events with the official openlineage-python client.

The package this environment installs (openlineage-python) does not ship the spec's JSON
Schema files; it ships the spec as generated, validated classes (openlineage.client.event_v2
and openlineage.client.generated.*). Each event read on stdin (a JSON array) is rebuilt from
those classes, field by field: a field the spec does not have is refused (the classes take
no unknown keyword), runId must be a UUID, eventTime a date-time, eventType one of the spec's.
The rebuilt event, serialized by the client's own Serde, must equal the event as sent (the
runledger facet's schema URL aside, as a custom facet has its own), so nothing is lost or
reshaped. Prints the number of events checked; exits 1 with the reason on failure.
"""
import json
import sys

from openlineage.client import event_v2 as ol
from openlineage.client.generated.base import RunFacet
from openlineage.client.generated import (
    error_message_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.serde import Serde

CUSTOM = "runledger"


def take(d, *keys):
    extra = set(d) - set(keys)
    if extra:
        raise ValueError(f"fields the spec does not have: {sorted(extra)}")
    return {k: d[k] for k in keys if k in d}


def base(facet):
    return {"producer": facet.pop("_producer")}, facet.pop("_schemaURL")


def run_facets(facets):
    out = {}
    for name, f in facets.items():
        f = dict(f)
        kw, _ = base(f)
        if name == "parent":
            root = f.get("root")
            out[name] = parent_run.ParentRunFacet(
                run=parent_run.Run(**take(f.pop("run"), "runId")),
                job=parent_run.Job(**take(f.pop("job"), "namespace", "name")),
                root=parent_run.Root(
                    run=parent_run.RootRun(**take(root["run"], "runId")),
                    job=parent_run.RootJob(**take(root["job"], "namespace", "name")),
                ) if f.pop("root", None) else None,
                **kw,
                **take(f),
            )
        elif name == "errorMessage":
            out[name] = error_message_run.ErrorMessageRunFacet(**kw, **take(f, "message", "programmingLanguage", "stackTrace"))
        elif name == CUSTOM:
            out[name] = RunFacet(**kw).with_additional_properties(**f)
        else:
            raise ValueError(f"unexpected run facet {name}")
    return out


def job_facets(facets):
    out = {}
    for name, f in facets.items():
        f = dict(f)
        kw, _ = base(f)
        if name != "sql":
            raise ValueError(f"unexpected job facet {name}")
        out[name] = sql_job.SQLJobFacet(**kw, **take(f, "query", "dialect"))
    return out


def dataset_facets(facets):
    out = {}
    for name, f in facets.items():
        f = dict(f)
        kw, _ = base(f)
        if name != "schema":
            raise ValueError(f"unexpected dataset facet {name}")
        fields = [schema_dataset.SchemaDatasetFacetFields(**take(c, "name", "type")) for c in f.pop("fields")]
        out[name] = schema_dataset.SchemaDatasetFacet(fields=fields, **kw, **take(f))
    return out


def output_facets(facets):
    out = {}
    for name, f in facets.items():
        f = dict(f)
        kw, _ = base(f)
        if name != "outputStatistics":
            raise ValueError(f"unexpected output facet {name}")
        out[name] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(**kw, **take(f, "rowCount"))
    return out


def rebuild(e):
    e = dict(e)
    if e.pop("schemaURL") != "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent":
        raise ValueError("schemaURL is not the RunEvent schema of spec 2-0-2")
    run = take(e.pop("run"), "runId", "facets")
    job = take(e.pop("job"), "namespace", "name", "facets")
    inputs = [ol.InputDataset(**take(d, "namespace", "name")) for d in e.pop("inputs", [])]
    outputs = [
        ol.OutputDataset(
            namespace=d["namespace"], name=d["name"],
            facets=dataset_facets(d.get("facets", {})),
            outputFacets=output_facets(d.get("outputFacets", {})),
            **take({k: v for k, v in d.items() if k not in ("namespace", "name", "facets", "outputFacets")}),
        )
        for d in e.pop("outputs", [])
    ]
    return ol.RunEvent(
        eventType=ol.RunState(e.pop("eventType")),
        eventTime=e.pop("eventTime"),
        run=ol.Run(runId=run["runId"], facets=run_facets(run.get("facets", {}))),
        job=ol.Job(namespace=job["namespace"], name=job["name"], facets=job_facets(job.get("facets", {}))),
        inputs=inputs,
        outputs=outputs,
        producer=e.pop("producer"),
        **take(e),
    )


def comparable(event):
    """The event with empty facet maps dropped and the custom facet's schema URL aside."""
    event = json.loads(json.dumps(event))
    facets = event["run"].get("facets", {})
    if CUSTOM in facets:
        facets[CUSTOM].pop("_schemaURL", None)

    def prune(node):
        if isinstance(node, dict):
            return {k: prune(v) for k, v in node.items() if v not in ({}, [], None)}
        if isinstance(node, list):
            return [prune(v) for v in node]
        return node
    return prune(event)


events = json.load(sys.stdin)
for n, sent in enumerate(events):
    try:
        rebuilt = Serde.to_dict(rebuild(sent))
        if comparable(rebuilt) != comparable(sent):
            raise ValueError(f"the client serializes it differently:\n{json.dumps(comparable(rebuilt), sort_keys=True)}\n!=\n{json.dumps(comparable(sent), sort_keys=True)}")
    except Exception as e:  # noqa: BLE001 - report any rejection with its event
        print(f"event {n} ({sent.get('eventType')}) is not a valid OpenLineage RunEvent: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
print(json.dumps({"valid": len(events)}))
