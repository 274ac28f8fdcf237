"""Timing one question: the client's wall time of each run, and EXPLAIN (ANALYZE, BUFFERS).

Both, because the client's time is what the application sees, and the
server's is the steadier one on a shared machine (bench/MILLION.md gives
both).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[k]


EXEC_RE = re.compile(r"Execution Time: ([\d.]+) ms")
_PLAN_RE = re.compile(r"Planning Time: ([\d.]+) ms")


def _plan_summary(lines: list[str]) -> str:
    """The plan's nodes, without costs: `Limit > Index Scan Backward using x on t`."""
    nodes: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("->"):
            text = text[2:].strip()
        elif nodes:
            continue
        name = re.sub(r"\s*\(cost=[^)]*\)", "", text)
        name = re.sub(r"\s*\(actual[^)]*\)", "", name)
        name = re.sub(r"\s*\(never executed\)", "", name)
        if name and not name.startswith(
            ("Planning", "Execution", "Buffers", "Filter", "Index Cond")
        ):
            nodes.append(name)
    return " > ".join(nodes[:8])


@dataclass
class Result:
    key: str
    label: str
    target_ms: float | None
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    rows: Any = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "target_ms": self.target_ms,
            "runs": len(self.client_ms),
            "client_median_ms": round(statistics.median(self.client_ms), 3)
            if self.client_ms
            else None,
            "client_p95_ms": round(_pct(self.client_ms, 0.95), 3) if self.client_ms else None,
            "server_median_ms": round(statistics.median(self.server_ms), 3)
            if self.server_ms
            else None,
            "server_p95_ms": round(_pct(self.server_ms, 0.95), 3) if self.server_ms else None,
            "plan_summary": _plan_summary(self.plan),
            "plan": self.plan,
            "rows": self.rows,
            "note": self.note,
        }


def run_sql(
    cur: Any,
    result: Result,
    sql: str,
    params_list: Sequence[Sequence[Any]],
    *,
    explain_runs: int,
    rollback: bool = False,
) -> Result:
    """Client-time each parameter set, then EXPLAIN (ANALYZE, BUFFERS) some of them."""
    from django.db import transaction

    class _Undo(Exception):
        pass

    def run(statement: str, params: Sequence[Any]) -> tuple[float, list[Any]]:
        rows: list[Any] = []
        start = time.perf_counter()
        try:
            with transaction.atomic():
                cur.execute(statement, params)
                rows = cur.fetchall() if cur.description else []
                elapsed = (time.perf_counter() - start) * 1000
                if rollback:
                    raise _Undo
        except _Undo:
            pass
        return elapsed, rows

    for params in params_list:
        elapsed, rows = run(sql, params)
        result.client_ms.append(elapsed)
        result.rows = rows[:3] if len(rows) > 3 else rows
    for params in list(params_list)[-explain_runs:] if explain_runs else []:
        _, lines = run("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [line[0] for line in lines]
        text = "\n".join(plan)
        match = EXEC_RE.search(text)
        planning = _PLAN_RE.search(text)
        if match:
            result.server_ms.append(
                float(match.group(1)) + (float(planning.group(1)) if planning else 0.0)
            )
        result.plan = plan
    return result


def time_calls(result: Result, calls: Sequence[Callable[[], Any]]) -> Result:
    for call in calls:
        start = time.perf_counter()
        out = call()
        result.client_ms.append((time.perf_counter() - start) * 1000)
        result.rows = out
    return result
