"""The Markdown tables ``python -m bench.million`` prints.

They are rendered from the report dicts alone (what ``load`` and ``measure``
return and keep in ``bench_million_meta``), so a later command can print the
tables of an earlier load.
"""

from __future__ import annotations

from typing import Any


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:,.1f} MB"


def markdown(load_report: dict[str, Any] | None, measured: dict[str, Any] | None) -> str:
    lines: list[str] = []
    if load_report:
        lines += ["### Load", "", "| phase | devices | parameter rows | seconds | rows/s |"]
        lines.append("| --- | ---: | ---: | ---: | ---: |")
        for p in load_report["phases"]:
            lines.append(
                f"| {p['name']} | {p['devices']:,} | {p['parameters']:,} | {p['seconds']:,}"
                f" | {p['rows_per_second']:,} |"
            )
        lines += [
            "",
            "| kind | device row | parameters (heap + indexes) | rows | bytes/row | device + parameters |",
        ]
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for kind, b in load_report.get("bytes_per_device", {}).items():
            lines.append(
                f"| {kind} | {b['device_row']:,.0f} B | {b['parameters']:,.0f} B"
                f" ({b['parameters_heap']:,.0f} + {b['parameters_indexes']:,.0f}) |"
                f" {b['parameter_rows']:,.1f} | {b['bytes_per_parameter_row']:,.0f} |"
                f" {b['device_plus_parameters']:,.0f} B |"
            )
        lines += ["", "| table | heap | TOAST | indexes | total | index sizes |"]
        lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for table, s in load_report["sizes_after"].items():
            idx = ", ".join(f"{k} {_mb(v)}" for k, v in s["index_sizes"].items())
            lines.append(
                f"| {table} | {_mb(s['heap'])} | {_mb(s['toast'])} | {_mb(s['indexes'])}"
                f" | {_mb(s['total'])} | {idx} |"
            )
    if measured:
        rows = (
            list(measured["results"])
            + list(measured.get("interned", {}).get("results", []))
            + list(measured.get("index_experiments", {}).get("results", []))
        )
        lines += ["", "### Queries", ""]
        lines.append("| query | target | client median / p95 | server median / p95 | plan |")
        lines.append("| --- | ---: | ---: | ---: | --- |")
        for r in rows:
            target = f"{r['target_ms']:,} ms" if r["target_ms"] else ""
            client = f"{r['client_median_ms']} / {r['client_p95_ms']} ms"
            server = (
                f"{r['server_median_ms']} / {r['server_p95_ms']} ms"
                if r["server_median_ms"]
                else ""
            )
            lines.append(
                f"| {r['key']}: {r['label']} | {target} | {client} | {server} | {r['plan_summary']} |"
            )
    return "\n".join(lines)
