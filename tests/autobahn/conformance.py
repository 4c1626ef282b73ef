#!/usr/bin/env python3
"""Run Autobahn|Testsuite against wsfast: as a server, as a client, on each back-end.

* role ``server``: ``wstest -m fuzzingclient`` against ``python -m wsfast echo``
  started on a free loopback port;
* role ``client``: ``wstest -m fuzzingserver`` on a free loopback port, with
  ``examples/autobahn_client.py`` as the client;
* role ``sync-client``: the same with ``examples/autobahn_sync_client.py``
  (the threading client, :mod:`wsfast.sync.client`); not part of ``both``.

Prints a summary per run and exits 0 only if every case is OK, apart from the
cases Autobahn reports as INFORMATIONAL by design (7.1.6, 7.13.1, 7.13.2: their
case classes set INFORMATIONAL whatever happens). Exit 1: some case is not OK;
2: a run could not complete (wstest/server/client died, timeout, missing results).

    python tests/autobahn/conformance.py --skip-compression      # ~1-2 min
    python tests/autobahn/conformance.py --backend cython --role server --cases '6.*' '7.*'
    python tests/autobahn/conformance.py --jobs 2                # everything, ~20 min

wstest comes from ``--wstest``, $WSTEST, or setup_wstest.sh (run automatically;
installs into ${AUTOBAHN_ENV:-~/.cache/wsfast-autobahn}). Standard library only.
"""

import argparse
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLIENT = os.path.join(REPO, "examples", "autobahn_client.py")
SYNC_CLIENT = os.path.join(REPO, "examples", "autobahn_sync_client.py")

#: Cases whose Autobahn class always reports INFORMATIONAL (no pass/fail defined).
INFORMATIONAL_BY_DESIGN = {"7.1.6", "7.13.1", "7.13.2"}
BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
CLOSE_BEHAVIORS = ["OK", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "WRONG CODE",
                   "UNCLEAN", "FAILED BY CLIENT"]

_children = set()  # every process we started and have not reaped yet
_stopping = threading.Event()  # set on Ctrl-C / SIGTERM: start nothing more
_lock = threading.Lock()
_print_lock = threading.Lock()


def say(*parts):
    with _print_lock:
        print(*parts, flush=True)


def start(cmd, log, **kwargs):
    with _lock:
        if _stopping.is_set():
            raise RuntimeError("interrupted")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, **kwargs)
        _children.add(proc)
    return proc


def stop(proc, grace=10.0):
    """TERM a process we started, KILL it after ``grace`` seconds, reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
    with _lock:
        _children.discard(proc)


def wait(proc, deadline):
    """Wait until the process exits or the deadline passes (then kill it)."""
    try:
        return proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        stop(proc, 5)
        return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, proc, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def wstest_path(arg):
    if arg:
        return arg
    out = subprocess.run(["bash", os.path.join(HERE, "setup_wstest.sh")], check=True,
                         stdout=subprocess.PIPE, env=dict(os.environ, PYTHON3=sys.executable),
                         universal_newlines=True).stdout
    return out.strip().splitlines()[-1]


def follow(name, log_path, proc, every=50):
    """Print a progress line every ``every`` cases that wstest starts."""
    count, total, start_time = 0, "?", time.monotonic()
    with open(log_path, errors="replace") as log:
        while True:
            line = log.readline()
            if not line:
                if proc.poll() is not None:
                    return
                time.sleep(0.5)
                continue
            match = re.search(r"will run (\d+) test cases", line)
            if match:
                total = match.group(1)
            elif line.startswith("Running test case ID"):
                count += 1
                if count % every == 0:
                    say(f"[{name}] {count}/{total} cases started "
                        f"({time.monotonic() - start_time:.0f} s)")


def update_reports(port, agent, timeout=120):
    """Ask the fuzzing server for its reports (stdlib WebSocket: upgrade, wait for close)."""
    from urllib.parse import quote
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall((f"GET /updateReports?agent={quote(agent, safe='')} HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while sock.recv(65536):  # the server closes after writing the reports
            pass


def run_server_role(name, backend, spec, outdir, wstest, args, deadline):
    agent = f"wsfast-{backend}"
    port = free_port()
    server_log = open(os.path.join(outdir, "server.log"), "w")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    server = start([args.python, "-m", "wsfast", "echo", "--host", "127.0.0.1", "--port",
                    str(port), "--max-size", str(args.max_size), "--ping-interval", "0",
                    "--backend", backend], server_log, env=env, cwd=REPO)
    try:
        if not wait_port(port, server, 30):
            return agent, f"the echo server did not start (see {server_log.name})"
        spec.update(servers=[{"agent": agent, "url": f"ws://127.0.0.1:{port}", "options": {}}])
        spec_path = os.path.join(outdir, "fuzzingclient.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f, indent=2)
        with open(os.path.join(outdir, "wstest.log"), "w") as log:
            proc = start([wstest, "-m", "fuzzingclient", "-s", spec_path], log, cwd=outdir,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
        threading.Thread(target=follow, args=(name, log.name, proc), daemon=True).start()
        rc = wait(proc, deadline)
        if rc is None:
            return agent, f"wstest timed out after {args.run_timeout:.0f} s"
        if server.poll() is not None:
            return agent, f"the echo server died (exit {server.returncode}, see {server_log.name})"
        return agent, None if rc == 0 else f"wstest exited with {rc}"
    finally:
        stop(server)
        server_log.close()


def run_client_role(name, backend, spec, outdir, wstest, args, deadline):
    agent = f"wsfast-{backend}"
    port = free_port()
    spec.update(url=f"ws://127.0.0.1:{port}")
    spec_path = os.path.join(outdir, "fuzzingserver.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
    with open(os.path.join(outdir, "wstest.log"), "w") as log:
        server = start([wstest, "-m", "fuzzingserver", "-s", spec_path, "-u", "0"], log,
                       cwd=outdir, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        if not wait_port(port, server, 30):
            return agent, "wstest fuzzingserver did not start (see wstest.log)"
        threading.Thread(target=follow, args=(name, log.name, server), daemon=True).start()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [REPO, os.environ.get("PYTHONPATH")])))
        with open(os.path.join(outdir, "client.log"), "w") as client_log:
            script = SYNC_CLIENT if name.startswith("sync-client") else CLIENT
            client = start([args.python, script, f"ws://127.0.0.1:{port}", agent,
                            "--backend", backend, "--max-size", str(args.max_size),
                            "--case-timeout", str(args.case_timeout)], client_log, env=env)
            rc = wait(client, deadline)
        error = None
        if rc is None:
            error = f"the client timed out after {args.run_timeout:.0f} s"
        elif rc != 0:
            error = f"the client exited with {rc} (see client.log)"
        if not os.path.exists(os.path.join(outdir, "index.json")) and server.poll() is None:
            try:
                update_reports(port, agent)
            except OSError as exc:
                error = error or f"/updateReports failed: {exc}"
        return agent, error
    finally:
        stop(server)


def sort_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def summarize(name, outdir, agent, error, wall):
    """Build the per-run result and its text summary (also written to summary.txt)."""
    selected = None
    with open(os.path.join(outdir, "wstest.log"), errors="replace") as log:
        match = re.search(r"will run (\d+) test cases", log.read())
        if match:
            selected = int(match.group(1))
    try:
        with open(os.path.join(outdir, "index.json")) as f:
            results = json.load(f).get(agent, {})
    except (OSError, ValueError):
        results = {}
    if selected is not None and len(results) != selected and error is None:
        error = f"only {len(results)} of {selected} cases have results"
    if not results and error is None:
        error = "no results (index.json missing)"
    behavior = Counter(r["behavior"] for r in results.values())
    close = Counter(r["behaviorClose"] for r in results.values())
    bad, accepted = [], []
    for case_id in sorted(results, key=sort_key):
        r = results[case_id]
        if r["behavior"] == "OK" and r["behaviorClose"] == "OK":
            continue
        detail = ""
        try:
            with open(os.path.join(outdir, r["reportfile"])) as f:
                report = json.load(f)
            detail = "; ".join(x for x in (report.get("result"), report.get("resultClose")) if x)
        except (OSError, ValueError, KeyError):
            pass
        row = (case_id, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode"), detail)
        if (case_id in INFORMATIONAL_BY_DESIGN and r["behavior"] == "INFORMATIONAL"
                and r["behaviorClose"] in ("INFORMATIONAL", "OK")):
            accepted.append(row)
        else:
            bad.append(row)
    passed = error is None and not bad
    lines = [f"== {name}: {len(results)} cases, wall {wall:.0f} s, "
             f"{'PASS' if passed else 'FAIL'}" + (f" ({error})" if error else ""),
             "behavior:      " + "  ".join(f"{k} {behavior.get(k, 0)}" for k in BEHAVIORS),
             "behaviorClose: " + "  ".join(f"{k} {v}" for k, v in sorted(
                 close.items(), key=lambda kv: (CLOSE_BEHAVIORS + [kv[0]]).index(kv[0])))]
    for title, rows in (("not OK", bad), ("informational by design (accepted)", accepted)):
        if rows:
            lines.append(f"{title}:")
            lines += [f"  {c:<8} {b:<13} close {bc:<13} remote code {code}  {d[:150]}"
                      for c, b, bc, code, d in rows]
    text = "\n".join(lines)
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump({"run": name, "agent": agent, "wall_seconds": round(wall, 1), "error": error,
                   "passed": passed, "cases": len(results), "behavior": dict(behavior),
                   "behaviorClose": dict(close), "not_ok": [r[:4] for r in bad]}, f, indent=2)
    return {"name": name, "passed": passed, "error": error, "text": text, "wall": wall,
            "behavior": behavior, "cases": len(results)}


def run(role, backend, args, wstest):
    name = f"{role}-{backend}"
    outdir = os.path.join(args.out, name)
    os.makedirs(outdir, exist_ok=True)
    for entry in os.listdir(outdir):  # reports of an earlier run
        if entry == "index.json" or entry.endswith((".html", ".json", ".log", ".txt")):
            os.remove(os.path.join(outdir, entry))
    excludes = list(args.exclude)
    if args.skip_compression:
        excludes += ["12.*", "13.*"]
    if args.skip_perf:
        excludes += ["9.*"]
    spec = {"outdir": outdir, "options": {}, "cases": args.cases,
            "exclude-cases": excludes, "exclude-agent-cases": {}}
    say(f"[{name}] starting; reports in {outdir}")
    begin = time.monotonic()
    runner = run_server_role if role == "server" else run_client_role
    try:
        agent, error = runner(name, backend, spec, outdir, wstest, args, begin + args.run_timeout)
    except Exception as exc:  # noqa: BLE001 - report and go on with the other runs
        agent, error = f"wsfast-{backend}", f"{type(exc).__name__}: {exc}"
    result = summarize(name, outdir, agent, error, time.monotonic() - begin)
    say(result["text"])
    return result


def _interrupt(*_):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split(
        "\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["cython", "python", "both"], default="both")
    parser.add_argument("--role", choices=["server", "client", "sync-client", "both"],
                        default="both")
    parser.add_argument("--cases", nargs="+", default=["*"], metavar="PAT",
                        help="case ids or wstest wildcards ('6.*', '7.1.1'); default all")
    parser.add_argument("--exclude", nargs="+", default=[], metavar="PAT", help="cases to skip")
    parser.add_argument("--skip-compression", action="store_true", help="exclude 12.* and 13.*")
    parser.add_argument("--skip-perf", action="store_true", help="exclude 9.*")
    parser.add_argument("--out", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                      "wsfast-autobahn"),
                        help="report directory; one subdirectory per run (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    parser.add_argument("--wstest", default=os.environ.get("WSTEST"),
                        help="wstest launcher (default $WSTEST, else setup_wstest.sh)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the wsfast server and client (default: this one)")
    parser.add_argument("--max-size", type=int, default=2**25,
                        help="wsfast's message size limit (default 32 MiB; 9.* sends 16 MiB)")
    parser.add_argument("--case-timeout", type=float, default=120,
                        help="client role: seconds before the client gives up a case (120)")
    parser.add_argument("--run-timeout", type=float, default=2400,
                        help="seconds before a whole run is abandoned (2400)")
    args = parser.parse_args()
    args.out = os.path.abspath(args.out)
    args.cases = [c for pattern in args.cases for c in pattern.split(",") if c]
    args.exclude = [c for pattern in args.exclude for c in pattern.split(",") if c]

    # SIGTERM behaves like Ctrl-C, so that the finally clauses stop what we started.
    signal.signal(signal.SIGTERM, _interrupt)
    roles = ["server", "client"] if args.role == "both" else [args.role]
    backends = ["cython", "python"] if args.backend == "both" else [args.backend]
    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))
    try:
        wstest = wstest_path(args.wstest)
        futures = [pool.submit(run, role, backend, args, wstest)
                   for backend in backends for role in roles]
        results = [future.result() for future in futures]
    except KeyboardInterrupt:
        say("interrupted; stopping the processes started")
        return 130
    finally:
        _stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with _lock:
            running = list(_children)
        for proc in running:
            stop(proc, 5)

    say("\n| run | cases | " + " | ".join(BEHAVIORS) + " | wall | result |")
    say("|---|---|" + "---|" * len(BEHAVIORS) + "---|---|")
    for r in results:
        counts = " | ".join(str(r["behavior"].get(k, 0)) for k in BEHAVIORS)
        verdict = "PASS" if r["passed"] else "FAIL" + (f" ({r['error']})" if r["error"] else "")
        say(f"| {r['name']} | {r['cases']} | {counts} | {r['wall']:.0f} s | {verdict} |")
    if any(r["error"] for r in results):
        return 2
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
