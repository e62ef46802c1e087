#!/usr/bin/env python3
"""bench/floor.sh's driver: lvsd --dry-run against the floor of a TCP checker.

For each size (FLOOR_SIZES, default 5000 and 20000 loopback targets), in a
network namespace of its own holding only `lo` and one listener process
(listener.c: PORTS wildcard listeners that accept and close politely), three
programs probe the same targets at the same rate (FLOOR_RATE, default 5,000
checks/s), one at a time, each pinned to CPU 0 (the listener to CPU 1):

- lvsd --dry-run, a TCP_CHECK per real server, delay_loop = N / rate, other
  settings at their defaults (drift checks every 5 s included);
- the graceful floor (prober.c graceful): connect, SO_ERROR, shutdown, read
  to EOF, close, in plain epoll;
- the plain floor (prober.c plain): connect, SO_ERROR, close.

Each program warms up (its delay_loop + 3 s), then is measured for
FLOOR_SECONDS (default 10) as a whole process: `perf stat -e
task-clock,instructions -p PID` (every thread, user and kernel; the
instruction count only where the machine has a PMU, which VMs often lack), checks
counted by the namespace's TCP ActiveOpens over the same window.
FLOOR_ROUNDS rounds (default 3), in rotating order; the figure is the
median of the rounds of each program. LVSD_BENCH_BASE=PATH adds a baseline
lvsd binary to every round (program "base"), for before/after figures in one
run.

Overload (FLOOR_OVERLOAD_CPU, default 0.1 of one core; 0 skips it): lvsd
with 20,000 targets at delay_loop 1 (20,000 checks/s asked) in a cpu
cgroup capped at that share, against the same lvsd at delay_loop 4 (5,000/s)
uncapped: checks per CPU second (goal: not fewer when overloaded), and the
longest interval any target saw between two probes over the median one
(goal <= 3), as the listener sees them (`listener PORTS gaps`). lvsd's own
warning with the lag, and how many checks it saw go down (every target is
up: any is a false down), are printed as commentary.
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = int(os.environ.get("FLOOR_RATE", "5000"))
SECONDS = float(os.environ.get("FLOOR_SECONDS", "10"))
ROUNDS = int(os.environ.get("FLOOR_ROUNDS", "3"))
SIZES = [int(s) for s in os.environ.get("FLOOR_SIZES", "5000 20000").split()]
ONLY = os.environ.get("FLOOR_ONLY", "").split()
BASE = os.environ.get("LVSD_BENCH_BASE")
PROBER_CPU, OTHER_CPU = "0", "1"
# What the latest measure() saw in the program's log.
LAST = {"downs": 0}


def ports_for(n):
    """Targets are PORTS ports x up to 100 addresses (127.1.0.1-100)."""
    return max(1, -(-n // 100))


def config(n, ports, delay_loop):
    out = ["global_defs {\n  router_id floor\n}\n"]
    for v in range(-(-n // 100)):
        out.append(f"virtual_server 10.{v // 250}.{v % 250}.1 80 {{\n"
                   "  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n")
        for i in range(v * 100, min(n, (v + 1) * 100)):
            out.append(f"  real_server 127.1.0.{i // ports + 1} {20000 + i % ports} {{\n"
                       f"    TCP_CHECK {{\n      connect_timeout 2\n      delay_loop {delay_loop}\n"
                       "    }\n  }\n")
        out.append("}\n")
    return "".join(out)


def active_opens(ns):
    snmp = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"],
                          capture_output=True, text=True, check=True).stdout
    head, values = [l.split() for l in snmp.splitlines() if l.startswith("Tcp:")][:2]
    return int(values[head.index("ActiveOpens")])


def measure(ns, command, warm, cgroup=None, window=None):
    """Starts `command` in `ns` on PROBER_CPU (in `cgroup`'s procs file if
    given), warms up, measures; returns (checks, cpu seconds, instructions).
    `window` is called with "start" and "end" around the measured window."""
    prefix = []
    if cgroup:
        prefix = ["sh", "-c", f'echo $$ > {cgroup} && exec "$@"', "sh"]
    # The log goes to a file: a pipe nobody reads while it runs would fill
    # and stop the program at its next line.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(prefix + ["ip", "netns", "exec", ns, "taskset", "-c", PROBER_CPU]
                            + command,
                            stdout=subprocess.DEVNULL, stderr=log,
                            env=dict(os.environ, LVSD_LOG="warn"))
    try:
        time.sleep(warm)
        if proc.poll() is not None:
            log.seek(0)
            sys.exit(f"{command[0]} exited early: {log.read().decode(errors='replace')}")
        # `ip netns exec` and taskset exec the program: same pid.
        opens0 = active_opens(ns)
        if window:
            window("start")
        perf = subprocess.run(["perf", "stat", "-x", ",", "-e", "task-clock,instructions",
                               "-p", str(proc.pid), "--", "sleep", str(SECONDS)],
                              capture_output=True, text=True)
        checks = active_opens(ns) - opens0
        if window:
            window("end")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
        for line in [l for l in lines if "late" in l or "on time" in l][:3]:
            print(f"    lvsd said: {line.strip()[:300]}")
        downs = LAST["downs"] = sum(" down " in l for l in lines)
        if downs:
            print(f"    lvsd logged {downs} checks going down")
    cpu_ms = instructions = None
    for line in perf.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] == "task-clock":
            cpu_ms = float(fields[0])
        elif len(fields) > 2 and fields[2].startswith("instructions") and fields[0][0].isdigit():
            instructions = float(fields[0])
    if cpu_ms is None:
        sys.exit(f"perf stat failed: {perf.stderr}")
    return checks, cpu_ms / 1e3, instructions


def main():
    lvsd = sys.argv[1]
    prober = sys.argv[2]
    listener = sys.argv[3]
    tmp = tempfile.mkdtemp(prefix="lvsd-floor-")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"rate {RATE} checks/s, {SECONDS:.0f} s measured per run, {ROUNDS} rounds; "
          f"load average at start: {' '.join(load)}")
    try:
        for n in SIZES:
            run_size(n, lvsd, prober, listener, tmp)
        if float(os.environ.get("FLOOR_OVERLOAD_CPU", "0.1")) > 0:
            overload(lvsd, listener, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_size(n, lvsd, prober, listener, tmp):
    ns = f"lvsd-floor-{os.getpid()}-{n}"
    ports = ports_for(n)
    delay_loop = n / RATE
    conf = os.path.join(tmp, f"floor-{n}.conf")
    with open(conf, "w") as f:
        f.write(config(n, ports, f"{delay_loop:g}"))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    backend = None
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        backend = subprocess.Popen(["ip", "netns", "exec", ns, "taskset", "-c", OTHER_CPU,
                                    listener, str(ports)])
        time.sleep(0.5)
        programs = {
            "lvsd": ([lvsd, "--dry-run", "--state-file", "/dev/null", "-f", conf],
                     delay_loop + 3),
        }
        if BASE:
            programs["base"] = ([BASE, "--dry-run", "--state-file", "/dev/null", "-f", conf],
                                delay_loop + 3)
        programs |= {
            "graceful": ([prober, "graceful", str(n), str(ports), str(RATE)], 3),
            "plain": ([prober, "plain", str(n), str(ports), str(RATE)], 3),
        }
        names = [p for p in programs if not ONLY or p in ONLY]
        runs = {p: [] for p in names}
        for r in range(ROUNDS):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                command, warm = programs[name]
                checks, cpu, instr = measure(ns, command, warm)
                runs[name].append((checks, cpu, instr))
                per_k = cpu * 1e6 / max(checks, 1)
                ipc = f", {instr / max(checks, 1):,.0f} instructions per check" if instr else ""
                print(f"  {n} targets, round {r + 1}, {name:8}: {checks / SECONDS:7.0f} checks/s, "
                      f"cpu {cpu * 1e3:7.1f} ms, {per_k:.3f} ms per 1,000{ipc}")
        report(n, runs)
    finally:
        if backend:
            backend.terminate()
            backend.wait()
        subprocess.run(["ip", "netns", "del", ns])


def report(n, runs):
    def med(name, f):
        return statistics.median(f(*run) for run in runs[name])

    def per_k(checks, cpu, _):
        return cpu * 1e6 / max(checks, 1)

    def instr(checks, _, i):
        return (i or 0) / max(checks, 1)

    for ref in ("graceful", "plain"):
        if ref not in runs:
            continue
        goal = 1.1 if ref == "graceful" else 1.3
        for prog in ("lvsd", "base"):
            if prog not in runs:
                continue
            lv, rf = med(prog, per_k), med(ref, per_k)
            name = "lvsd" if prog == "lvsd" else "lvsd (baseline build)"
            print(f"figure: {n} loopback targets at {RATE}/s, whole-process CPU ms per 1,000 "
                  f"checks vs the {ref} floor (median of {ROUNDS}, goal ratio <= {goal}): "
                  f"{name} {lv:.3f} | reference {rf:.3f} | ratio {lv / rf:.2f}")
            # The floors move with the host's load from round to round; a
            # round times each program within a minute, so its ratio is
            # steadier.
            ratios = [per_k(*a) / per_k(*b) for a, b in zip(runs[prog], runs[ref])]
            print(f"  {prog} vs the {ref} floor, round by round: "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}; "
                  f"median {statistics.median(ratios):.2f}")
            lv, rf = med(prog, instr), med(ref, instr)
            if rf:
                print(f"figure: {n} loopback targets at {RATE}/s, whole-process instructions "
                      f"per check vs the {ref} floor (median of {ROUNDS}): "
                      f"{name} {lv:,.0f} | reference {rf:,.0f} | ratio {lv / rf:.2f}")
    if "lvsd" in runs and "base" in runs:
        ratios = [per_k(*a) / per_k(*b) for a, b in zip(runs["lvsd"], runs["base"])]
        print(f"  lvsd vs the baseline build, round by round: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}")


def cpu_cgroup(share):
    """A cpu cgroup capped at `share` of one core: (its procs file, cleanup)."""
    v1 = "/sys/fs/cgroup/cpu"
    name = f"lvsd-floor-{os.getpid()}"
    if os.path.isdir(v1):
        path = os.path.join(v1, name)
        os.mkdir(path)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(share * 100000)))
    else:
        path = os.path.join("/sys/fs/cgroup", name)
        os.mkdir(path)
        with open(os.path.join(path, "cpu.max"), "w") as f:
            f.write(f"{int(share * 100000)} 100000")
    return os.path.join(path, "cgroup.procs"), lambda: os.rmdir(path)


def overload(lvsd, listener, tmp):
    n, share = 20000, float(os.environ.get("FLOOR_OVERLOAD_CPU", "0.1"))
    ns = f"lvsd-floor-{os.getpid()}-overload"
    ports = ports_for(n)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    backend = None
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        backend = subprocess.Popen(["ip", "netns", "exec", ns, "taskset", "-c", OTHER_CPU,
                                    listener, str(ports), "gaps"],
                                   stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        gaps = {}

        def window(which):
            backend.send_signal(signal.SIGUSR1)
            line = backend.stdout.readline().split()
            if which == "end":
                gaps["count"], gaps["median"], gaps["max"] = int(line[1]), float(line[2]), float(line[3])

        results = {}
        for name, delay_loop, capped in (("moderate", 4, False), ("overloaded", 1, True)):
            conf = os.path.join(tmp, f"overload-{delay_loop}.conf")
            with open(conf, "w") as f:
                f.write(config(n, ports, str(delay_loop)))
            procs, cleanup = cpu_cgroup(share) if capped else (None, lambda: None)
            try:
                checks, cpu, _ = measure(ns, [lvsd, "--dry-run", "--state-file", "/dev/null",
                                              "-f", conf], delay_loop + 5, procs, window)
            finally:
                cleanup()
            results[name] = (checks, cpu, dict(gaps), LAST["downs"])
            print(f"  overload, {name:10}: asked {n / delay_loop:.0f}/s, did {checks / SECONDS:.0f}/s, "
                  f"cpu {cpu / SECONDS:.2f} of a core, {checks / max(cpu, 1e-9):.0f} checks per cpu s; "
                  f"interval median {gaps['median']:.0f} ms, longest {gaps['max']:.0f} ms "
                  f"({gaps['count']} intervals)")
        (mc, mcpu, _, _), (oc, ocpu, og, downs) = results["moderate"], results["overloaded"]
        per_cpu = lambda c, t: c / max(t, 1e-9)
        print(f"figure: 20000 loopback targets, checks per CPU second overloaded (asked 20,000/s, "
              f"{share:g} of a core) vs moderate (5,000/s, uncapped), goal ratio >= 1: "
              f"lvsd {per_cpu(oc, ocpu):.0f} | reference {per_cpu(mc, mcpu):.0f} | "
              f"ratio {per_cpu(oc, ocpu) / per_cpu(mc, mcpu):.2f}")
        print(f"figure: 20000 loopback targets overloaded, longest interval a target saw vs the "
              f"median interval (goal ratio <= 3): lvsd {og['max']:.0f} ms | reference "
              f"{og['median']:.0f} ms | ratio {og['max'] / max(og['median'], 1e-9):.2f}")
        print(f"  overloaded, checks that went down (every target is up; should be 0): {downs}")
    finally:
        if backend:
            backend.terminate()
            backend.wait()
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    main()
