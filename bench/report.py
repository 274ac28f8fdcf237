# ruff: noqa: RUF001
"""The Markdown table of a run, rendered from the results alone.

It reads nothing but the results dict that is also saved as JSON, so the
table never shows a figure the JSON lacks.
"""

from __future__ import annotations

from typing import Any

from bench.common import TARGETS


def _f(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:.2f}×"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add(f"## `make bench` — {results['started']}{' (quick)' if results['quick'] else ''}")
    add("")
    m = results["machine"]
    add(
        f"{m['cpus']} CPUs, Python {m['python']}, Django {m['django']}, daphne {m['daphne']}, "
        f"granian {m['granian']}, {m.get('postgres') or 'no PostgreSQL'}, Redis {m.get('redis') or '—'}; "
        f"load generator on the same machine. The run took {results['duration_s']:.0f} s."
    )
    add("")
    periodic = results.get("periodic", [])
    floors = {(r["stack_label"], r["concurrency"]): r for r in periodic if r["app"] == "floor"}
    if periodic:
        p0 = periodic[0]
        add(
            f"### Periodic informs: {p0['devices']} known devices ({p0['dump']}), nothing queued, "
            f"Digest (401, Inform, empty POST), {results['config']['duration']:.0f} s per row"
        )
        add("")
        add(
            _row(
                [
                    "app",
                    "DB",
                    "server",
                    "conc",
                    "sessions/s (target 280)",
                    "÷ floor",
                    "latency p50 / p95 / p99 ms",
                    "CPU ms/session: server + DB + Redis = **total** (target ≤ 4.5)",
                    "× floor",
                    "queries/session (target ≤ 6)",
                    "DB connections opened/session",
                    "HTTP req/session",
                    "server RSS MB",
                    "load gen CPU ms/session",
                    "machine busy / other load (cores)",
                ]
            )
        )
        add("|" + "---|" * 15)
        for r in periodic:
            c = r["cpu_ms_per_session"]
            acs = r["app"] == "acs"
            floor = floors.get((r["stack_label"], r["concurrency"])) if acs else None
            lat = r["latency_ms"]
            failed = f" ({r['sessions_failed']} failed)" if r["sessions_failed"] else ""
            add(
                _row(
                    [
                        r["app"],
                        r["backend"] if acs else "—",
                        r["stack_label"],
                        str(r["concurrency"]),
                        f"{r['sessions_per_s']:.0f}{failed}",
                        _ratio(r["sessions_per_s"], floor["sessions_per_s"]) if floor else "—",
                        f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f}",
                        f"{c['server_ms']:.2f} + {c['db_ms']:.2f} + {c['redis_ms']:.2f} = "
                        f"**{c['total_ms']:.2f}**",
                        _ratio(c["total_ms"], floor["cpu_ms_per_session"]["total_ms"])
                        if floor
                        else "—",
                        f"{r['queries_per_session']:.2f}" if acs else "0",
                        f"{r.get('db_connections_per_session', 0):.2f}" if acs else "0",
                        f"{r['http_requests_per_session']:.2f}",
                        f"{r['server_rss_mb']:.0f}",
                        f"{c['loadgen_ms']:.2f}",
                        f"{c['machine_busy_pct']:.0f}% / {c['other_load_cores']:.2f}",
                    ]
                )
            )
        add("")
        add(
            "Targets are issue 5's: ≤ 4.5 ms of server + database CPU per periodic session with "
            "authentication on PostgreSQL, durable (≈ 280 sessions/s on this machine with the load "
            f"generator beside it; GenieACS 1.2.16: {TARGETS['genieacs_cpu_ms_per_session']}), ≤ 6 "
            "queries per session. The floor is `bench/floor.py` on the same server stack and "
            "concurrency: the codec's parse, a cheap Digest check, a canned InformResponse / 204, no "
            "database (the issue measured such a view at "
            f"{TARGETS['floor_granian_wsgi_cpu_ms']} ms under granian WSGI and "
            f"{TARGETS['floor_daphne_cpu_ms']} ms under daphne). ÷ floor: throughput as a share of "
            "the floor's; × floor: CPU per session as a multiple of the floor's."
        )
        add("")
    boots = results.get("bootstrap", [])
    if boots:
        b0 = boots[0]
        add(
            f"### Bootstrap with a full refresh: {b0['devices']} new devices ({b0['dump']}), "
            f"`0 BOOTSTRAP` with a queued `refresh` of the whole tree, {b0['concurrency']} at once, "
            + " and ".join(f"{b['backend']} on {b['stack_label']}" for b in results["bootstrap"])
        )
        add("")
        add(
            _row(
                [
                    "DB",
                    "devices ok",
                    "devices/s",
                    "s per device p50 / p95",
                    "RPCs/session",
                    "HTTP req/session",
                    "parameters stored/device",
                    "queries/device",
                    "CPU ms/device: server + DB + Redis = **total**",
                    "tasks",
                ]
            )
        )
        add("|" + "---|" * 10)
        for r in boots:
            c = r["cpu_ms_per_session"]
            lat = r["latency_ms"]
            add(
                _row(
                    [
                        r["backend"],
                        f"{r['sessions_ok']}/{r['devices']}",
                        f"{r['sessions_per_s']:.2f}",
                        f"{lat['p50'] / 1000:.2f} / {lat['p95'] / 1000:.2f}",
                        f"{r['rpcs_per_session']:.1f}",
                        f"{r['http_requests_per_session']:.1f}",
                        f"{r['db_after']['parameters_per_device']:.0f}",
                        f"{r['queries_per_session']:.0f}",
                        f"{c['server_ms']:.0f} + {c['db_ms']:.0f} + {c['redis_ms']:.0f} = "
                        f"**{c['total_ms']:.0f}**",
                        ", ".join(f"{k} {v}" for k, v in sorted(r["db_after"]["tasks"].items())),
                    ]
                )
            )
        add("")
    crs = results.get("connreq", [])
    if crs:
        c0 = crs[0]
        add(
            "### Connection requests: every device with a queued SetParameterValues; "
            f"`cwmp.wakeup.jobs.request_connections` (batch jobs) → {c0['db_workers']} × "
            f"`manage.py db_worker`; tenant rate limit {c0['tenant_rate_limit'] or 'off'}; "
            f"≤ {c0['fleet_concurrency']} simulator sessions at once"
        )
        add("")
        add(
            _row(
                [
                    "DB",
                    "server",
                    "devices done",
                    "time until all done s",
                    "devices/s",
                    "connection requests/s (job side)",
                    "enqueue s: tasks / CRs",
                    "HTTP req/session",
                    "queries/device: server + workers",
                    "CPU ms/device: server + workers + DB + Redis = **total**",
                    "session p50 / p99 ms",
                ]
            )
        )
        add("|" + "---|" * 11)
        for r in crs:
            c = r["cpu_ms_per_device"]
            s = r["session"]
            add(
                _row(
                    [
                        r["backend"],
                        r["stack_label"],
                        f"{r['devices_done']}/{r['devices']}"
                        + (" (timed out)" if r["timed_out"] else ""),
                        _f(r["time_to_all_done_s"]),
                        f"{r['devices_per_s']:.0f}",
                        f"{r['cr_requests_per_s']:.0f}",
                        f"{r['tasks_enqueue_s']:.1f} / {r['connreq_enqueue_s']:.1f}",
                        f"{s['http_requests_per_session']:.1f}",
                        f"{r['queries_per_device']:.1f} + {r.get('worker_queries_per_device', 0):.1f}",
                        f"{c['server_ms']:.1f} + {c['workers_ms']:.1f} + {c['db_ms']:.1f} + "
                        f"{c['redis_ms']:.1f} = **{c['total_ms']:.1f}**",
                        f"{s['latency_ms']['p50']:.0f} / {s['latency_ms']['p99']:.0f}",
                    ]
                )
            )
        small = [c for c in results["connreq"] if c["devices"] < 10_000]
        if small:
            add("")
            add(
                "Issue 5 asks for 10,000 devices: "
                + ", ".join(f"{c['backend']} used {c['devices']}" for c in small)
                + " to keep the run inside 15 minutes (`python -m bench --scenarios connreq "
                "--cr-devices 10000` for the full figure); time for 10,000 scales by devices ÷ "
                "devices/s."
            )
        add("")
    render_scaleout(results, add)
    add(
        "CPU comes from /proc for every process of the run: the server tree, the job workers, "
        "PostgreSQL (the whole server's CPU, its short-lived backends included), redis-server and "
        "the simulator; SQLite runs inside the server. Queries, DB connections and server-side "
        "HTTP requests come from `bench/probe.py`. Two shared cores carry server, database and "
        "load generator: compare ratios and CPU per session, not seconds."
    )
    return "\n".join(lines) + "\n"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render_scaleout(results: dict[str, Any], add: Any) -> None:
    """The cluster, overload and simulator-memory tables (issue 5's targets beside them)."""
    cl = results.get("cluster")
    if cl:
        rows = cl["rows"]
        r0 = rows[0]
        add(
            f"### Scale-out: periodic sessions through nginx over 1 and 2 web workers "
            f"({r0['devices']} known devices, {r0['concurrency']} concurrent, "
            f"{results['config'].get('cluster_duration', 0):.0f} s per row)"
        )
        add("")
        add(
            "nginx (1 worker process, round-robin per request, upstream keep-alive, "
            "`X-Forwarded-For`/`X-Client-Port` to the app, `X-Upstream` added for the count) → "
            f"N × `granian --interface wsgi` (1 process, {r0['threads_per_worker']} threads each) → "
            "PostgreSQL + Redis, the deployment `make run-cluster` starts."
        )
        add("")
        add(
            _row(
                [
                    "web workers",
                    "CPE",
                    "sessions/s",
                    "÷ 1 worker (target ≥ 1.6)",
                    "latency p50 / p99 ms",
                    "sessions ok / failed",
                    "sessions on 2+ workers (all ok?)",
                    "requests per worker",
                    "CPU ms/session: server + nginx + DB + Redis = **total**",
                    "cores: server / nginx / DB + Redis / load gen / other",
                    "queries/session",
                ]
            )
        )
        add("|" + "---|" * 11)
        one = next((r for r in rows if r["web_workers"] == 1), None)
        for r in rows:
            c = r["cpu_ms_per_session"]
            k = c["cores_used"]
            up = r.get("upstreams") or {}
            multi = up.get("sessions_on_2plus_servers", 0)
            add(
                _row(
                    [
                        str(r["web_workers"]),
                        "no cookies" if r["quirks"] == "no-cookies" else "cookies",
                        f"{r['sessions_per_s']:.0f}",
                        _ratio(r["sessions_per_s"], one["sessions_per_s"])
                        if one and r is not one
                        else "—",
                        f"{r['latency_ms']['p50']:.0f} / {r['latency_ms']['p99']:.0f}",
                        f"{r['sessions_ok']} / {r['sessions_failed']}",
                        f"{multi} of {up.get('sessions', 0)} "
                        f"({100 * up.get('share_on_2plus_servers', 0):.0f}%; "
                        f"{_yes(up.get('sessions_on_2plus_servers_failed', 1) == 0)})",
                        " / ".join(str(n) for n in r["worker_requests"]),
                        f"{c['server_ms']:.2f} + {c['nginx_ms']:.2f} + {c['db_ms']:.2f} + "
                        f"{c['redis_ms']:.2f} = **{c['total_ms']:.2f}**",
                        f"{k['server']:.2f} / {k['nginx']:.2f} / "
                        f"{k['postgres'] + k['redis'] + k['postgres_background']:.2f} / "
                        f"{k['loadgen']:.2f} / {c['other_load_cores']:.2f}",
                        f"{r['queries_per_session']:.2f}",
                    ]
                )
            )
        add("")
        two = next((r for r in rows if r["web_workers"] == 2 and not r["quirks"]), None)
        if one and two:
            c2 = two["cpu_ms_per_session"]
            add(
                f"**2 workers ÷ 1 worker: {cl['ratio_2w_1w']:.2f}×** (issue 5's target ≥ "
                f"{cl['target_ratio']}). With one worker its process used "
                f"{one['cpu_ms_per_session']['cores_used']['server']:.2f} cores; with two, "
                f"{' + '.join(f'{x:.2f}' for x in two['worker_cores'])} cores, and the machine "
                f"({c2['machine_cores']} cores) was {c2['machine_busy_pct']:.0f}% busy. Everything "
                f"one session costs on this machine — server, nginx, PostgreSQL, Redis and the load "
                f"generator — is {c2['all_ms']:.2f} ms of CPU, so {c2['machine_cores']} cores carry "
                f"at most {cl['machine_ceiling_sessions_per_s']:.0f} sessions/s: "
                f"{cl['machine_ceiling_ratio']:.2f}× the one-worker row is the ceiling of this "
                "machine, whatever the number of workers. The second worker scales when it gets a "
                "core of its own (the load generator and the database on other machines)."
            )
            add("")
        add(
            "Every response carries the worker nginx chose (`X-Upstream`, the benchmark's nginx "
            "only); the simulator records it per request (`record_header`). A session on 2+ "
            "workers had its 401, Inform and empty POST answered by different processes and "
            "still completed: the session lives in Redis, found by its cookie or, for CPEs that "
            "return no cookie, by the address and port nginx forwards (`CWMP_TRUSTED_PROXIES`)."
        )
        add("")
    ov = results.get("overload")
    if ov:
        cap = ov["capacity"]
        lat = ov["latency_from_schedule_ms"]
        add(
            f"### Overload: {ov['factor']:g}× the capacity, open loop, {ov['stack_label']}, "
            f"PostgreSQL + Redis"
        )
        add("")
        add(
            f"Capacity: {cap['sessions_per_s']:.0f} sessions/s closed-loop at {cap['concurrency']} "
            f"concurrent (p99 {cap['latency_ms']['p99']:.0f} ms, "
            f"{cap['cpu_ms_per_session']['total_ms']:.2f} ms CPU/session). Then "
            f"{ov['rate_wanted']:.0f} sessions/s were started on a schedule ({ov['arrivals']} "
            f"arrivals, each on a device of its own) for "
            f"{results['config'].get('overload_duration', 0):.0f} s with "
            f"`CWMP_MAX_SESSIONS={ov['max_sessions']}` ({ov['max_sessions_rule']}: by Little's "
            "law that many open sessions at the capacity last half a second each on average)."
        )
        add("")
        add(_row(["figure", "measured", "issue 5's target"]))
        add("|---|---|---|")
        failed_clean = ov["errors_not_503"] == 0
        rows_ov = [
            (
                "offered (started / s)",
                f"{ov['sessions_started']} ({ov['offered_per_s']:.0f}/s)",
                "",
            ),
            (
                "accepted and completed",
                f"{ov['sessions_ok']} ({ov['accepted_per_s']:.0f}/s)",
                "",
            ),
            (
                "accepted: latency p50 / p99 from the scheduled start, ms",
                f"{lat['p50']:.0f} / {lat['p99']:.0f}",
                f"p99 < {TARGETS['overload_p99_ms']} ({_yes(lat['p99'] < TARGETS['overload_p99_ms'])})",
            ),
            ("refused with 503", str(ov["refused_503"]), ""),
            (
                "… of them with Retry-After",
                f"{ov['refused_with_retry_after']} ({', '.join(f'{k} s × {v}' for k, v in ov['retry_after_values'].items()) or '—'})",
                f"all ({_yes(ov['refused_with_retry_after'] == ov['refused_503'])})",
            ),
            (
                "refusal: answered in p50 / p99 ms",
                f"{ov['refused_latency_ms']['p50']:.0f} / {ov['refused_latency_ms']['p99']:.0f}",
                "",
            ),
            (
                "errors (neither completed nor refused with 503)",
                str(ov["errors_not_503"])
                + (f" ({', '.join(ov['error_kinds'])})" if ov["error_kinds"] else ""),
                f"0 ({_yes(failed_clean)})",
            ),
            (
                "session logs `ok` in the database / sessions completed",
                f"{ov['session_logs_ok']} / {ov['sessions_ok']}"
                + (
                    f" (other outcomes: {', '.join(f'{k} {v}' for k, v in ov['session_logs'].items() if k != 'ok')})"
                    if any(k != "ok" for k in ov["session_logs"])
                    else ""
                ),
                f"equal, nothing lost ({_yes(ov['lost'] == 0)})",
            ),
            (
                "server CPU ms per session at capacity / per refusal (estimated)",
                f"{cap['cpu_ms_per_session']['server_ms']:.2f} / "
                + _f(ov["server_cpu_ms_per_refused_session_est"], 2),
                "",
            ),
            (
                "queries per session at capacity / per refusal (estimated)",
                f"{cap.get('queries_per_session', 0):.2f} / "
                + _f(ov.get("queries_per_refused_session_est"), 2),
                "",
            ),
            (
                "server: all its CPU ÷ accepted sessions, ms; cores it used",
                f"{ov['cpu_ms_per_accepted_session']['server_ms']:.2f}; "
                f"{ov['cpu_ms_per_accepted_session']['cores_used']['server']:.2f} of "
                f"{ov['cpu_ms_per_accepted_session']['machine_cores']}",
                "",
            ),
            (
                "simulator's schedule lag p99 / max ms",
                f"{ov['schedule_lag_ms']['p99']:.0f} / {ov['schedule_lag_ms']['max']:.0f}",
                "",
            ),
        ]
        for a, b, c in rows_ov:
            add(_row([a, b, c]))
        add("")
        refusal_ms = ov.get("server_cpu_ms_per_refused_session_est")
        cap_work = cap["sessions_per_s"] * cap["cpu_ms_per_session"]["server_ms"]
        if refusal_ms and cap_work:
            refused_s = ov["refused_503"] / max(ov["wall_s"], 1e-9)  # wall_s: the offered window
            acc = ov["accepted_per_s"] * cap["cpu_ms_per_session"]["server_ms"] / cap_work
            ref = refused_s * refusal_ms / cap_work
            add(
                f"The server's work at this load, as a share of what it did at capacity: accepted "
                f"sessions {100 * acc:.0f}% + refusals {100 * ref:.0f}% = {100 * (acc + ref):.0f}%"
                + (
                    " — above 100%, so requests queue in front of the server's threads for as "
                    "long as the overload lasts, refusals included: a refusal costs "
                    f"{100 * refusal_ms / cap['cpu_ms_per_session']['server_ms']:.0f}% "
                    "of an accepted session."
                    if acc + ref > 1
                    else "."
                )
            )
            add("")
        add(
            "Latency counts from each session's scheduled start, so a simulator falling behind "
            "shows as latency, not as less load. While the store counts the server full, a new "
            "session's first POST (an Inform without credentials) is answered 503 at the WSGI "
            "door, before Django builds a request (cwmp/endpoint/overload.py); a session that got past "
            "the door is refused by the store's limit in `begin` after authentication. A "
            "refusal's server CPU is estimated as the run's server CPU minus the accepted "
            "sessions at their capacity cost, per refusal."
        )
        add("")
    sm = results.get("simmem")
    if sm:
        rnd = sm["round"]
        add(
            f"### Simulator memory: {sm['devices']} devices in one process "
            f"({len(sm['dumps'])} real dumps: {', '.join(sm['dumps'])})"
        )
        add("")
        add(_row(["figure", "measured", "issue 5's target"]))
        add("|---|---|---|")
        add(
            _row(
                [
                    "RSS of the load generator before the fleet (interpreter, imports)",
                    f"{sm['rss_at_start_mb']:.0f} MB",
                    "",
                ]
            )
        )
        add(
            _row(
                [
                    "RSS after building the fleet and its connection-request listener",
                    f"{sm['rss_built_mb']:.0f} MB",
                    "",
                ]
            )
        )
        add(
            _row(
                [
                    "peak RSS after "
                    + (
                        "a round of sessions (every device once)"
                        if sm["full_round"]
                        else "some sessions"
                    )
                    + f": {rnd['sessions_ok']} ok, {rnd['sessions_failed']} failed",
                    f"**{sm['peak_rss_mb']:.0f} MB**",
                    f"< {sm['target_mb']} MB for 10,000 devices ("
                    + (
                        _yes(sm["peak_rss_mb"] < sm["target_mb"])
                        if sm["devices"] >= 10_000
                        else "not measured: fewer devices"
                    )
                    + ")",
                ]
            )
        )
        add(_row(["per 1,000 devices (peak − start)", f"{sm['per_1000_devices_mb']:.1f} MB", ""]))
        add(
            _row(
                [
                    "per device beyond the shared models (structural estimate)",
                    f"{sm['device_footprint_bytes']:.0f} bytes",
                    "",
                ]
            )
        )
        add(_row(["parsed models shared by the devices", str(sm["models"]), "one per dump"]))
        add("")
        add(
            "The devices share one parsed dump per model and keep only their own differences "
            "(copy-on-write overlay, `cpesim.tree.DeviceTree`); the round runs against the floor "
            f"app ({rnd['sessions_per_s']:.0f} sessions/s) so it takes seconds, with Digest and "
            "a full Inform per device as against the ACS."
        )
        add("")
