#!/usr/bin/env python3
"""Fault injection for adapterd: SIGKILL at random moments of install, remove, budget.set and
recluster, restart, and check the invariants after every restart; then disk full on a small file
system. Run through tools/fault/run.sh (see its --help); Python standard library only."""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adapterd_client import (INTERNAL_ERROR, METHOD_NOT_FOUND, Client, ConnectionLost, Daemon, RPCError, benign_corpus,  # noqa: E402
                             call, sha256_file, write_config)
from invariants import catalog_checks, served_checks, tmp_checks  # noqa: E402

ANY = object()  # a version the model cannot predict (an install cut by the kill)
TASKS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]


class Model:
    """What the acknowledged operations promise: task -> (version, sha256), and the stored budget."""

    def __init__(self, tasks=None, budget=None, budget_known=True):
        self.tasks = dict(tasks or {})
        self.budget = budget
        self.budget_known = budget_known

    def copy(self):
        return Model(self.tasks, self.budget, self.budget_known)

    def apply(self, op, result=None):
        """The state after `op` succeeded (result None: it may have, the response never came)."""
        after = self.copy()
        kind = op["kind"]
        if kind == "install":
            version = result["version"] if result else ANY
            after.tasks[op["task"]] = (version, op["sha256"])
        elif kind == "remove":
            after.tasks.pop(op["task"], None)
        elif kind == "budget.set":
            after.budget = op["bytes"]
            after.budget_known = True
        elif kind == "recluster":
            # docs/PROTOCOL.md: a budget given to a recluster that is not a dry run is stored.
            if op.get("budget") is not None and not op.get("dryRun"):
                after.budget = op["budget"]
                after.budget_known = True
        return after

    def matches(self, tasks, budget):
        if set(tasks) != set(self.tasks):
            return False
        for name, (version, sha) in self.tasks.items():
            seen_version, seen_sha = tasks[name]
            if seen_sha != sha or (version is not ANY and version != seen_version):
                return False
        return not self.budget_known or budget == self.budget

    def describe(self):
        tasks = ", ".join("%s v%s %s" % (n, "?" if v is ANY else v, s[:8]) for n, (v, s) in sorted(self.tasks.items()))
        budget = ("%s" % self.budget) if self.budget_known else "any"
        return "{%s} budget %s" % (tasks, budget)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.errors = {}
        self.killed_during = {}
        self.live_routes = 0
        self.live_retired = 0
        self.violations = []

    def add(self, table, key, n=1):
        with self.lock:
            table[key] = table.get(key, 0) + n

    def count(self, attribute):
        with self.lock:
            setattr(self, attribute, getattr(self, attribute) + 1)

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
        print("VIOLATION: " + text, flush=True)


def observed_budget(status):
    return (status or {}).get("budget", {}).get("limitBytes")


def check_after_restart(daemon, model_alternatives, stats, round_index):
    """All invariants; returns the model that matched what the daemon has (or what it has, if none did)."""
    violations = tmp_checks(daemon.state)
    catalog_violations, facts = catalog_checks(daemon.state, after_open=True)
    violations += catalog_violations
    served_violations, tasks, status = served_checks(daemon.socket)
    violations += served_violations
    budget = observed_budget(status)
    matched = next((m for m in model_alternatives if m.matches(tasks, budget)), None)
    if matched is None and status is not None:
        violations.append("state after restart is %s; the acknowledged operations allow only %s" % (
            Model({n: t for n, t in tasks.items()}, budget).describe(),
            " or ".join(m.describe() for m in model_alternatives)))
    for text in violations:
        stats.violation("round %d: %s" % (round_index, text))
    return Model(tasks, budget), facts, status


def live_reader(socket_path, stop, stats):
    """Routes tasks while operations run; a served file that opens must hash to the route's id."""
    while not stop.is_set():
        try:
            with Client(socket_path, timeout=30) as client:
                while not stop.is_set():
                    listing = client.call("list")
                    for summary in listing["tasks"]:
                        try:
                            route = client.call("route", {"task": summary["task"]})
                        except RPCError:
                            continue  # removed in between
                        path = route["adapter"].get("weightsPath")
                        try:
                            digest = sha256_file(path)
                        except OSError:
                            stats.count("live_retired")
                            continue
                        stats.count("live_routes")
                        if digest != route["adapter"]["id"]:
                            stats.violation("a served file %s hashed to %s, not %s (half-written?)"
                                            % (path, digest[:12], route["adapter"]["id"][:12]))
                    time.sleep(0.01)
        except (ConnectionLost, RPCError, OSError, ValueError):
            time.sleep(0.02)


def choose_op(rng, model, adapters, has_recluster, served_bytes):
    roll = rng.random()
    if roll < 0.45 or not model.tasks:
        task = rng.choice(TASKS)
        adapter = rng.choice(adapters)
        return {"kind": "install", "task": task, "adapter": adapter, "sha256": adapter.sha256}
    if roll < 0.62:
        return {"kind": "remove", "task": rng.choice(sorted(model.tasks) + ["never-installed"])}
    if roll < 0.75 or not has_recluster:
        choice = rng.random()
        if choice < 0.3:
            value = None
        elif choice < 0.6:
            value = int(served_bytes * rng.uniform(1.0, 3.0)) + 1024
        else:
            value = int(served_bytes * rng.uniform(0.4, 0.95))  # below the served bytes: re-cluster or refuse
        return {"kind": "budget.set", "bytes": value}
    budget = None if rng.random() < 0.5 else int(served_bytes * rng.uniform(0.4, 1.0))
    return {"kind": "recluster", "budget": budget, "dryRun": rng.random() < 0.2}


def run_op(client, op):
    kind = op["kind"]
    if kind == "install":
        return client.call("install", op["adapter"].params(op["task"]))
    if kind == "remove":
        return client.call("remove", {"task": op["task"]})
    if kind == "budget.set":
        return client.call("budget.set", {"bytes": op["bytes"]})
    return client.call("recluster", {"budget": op["budget"], "dryRun": op["dryRun"]})


def writer(daemon, model_box, rng, adapters, has_recluster, stats, state):
    """Runs operations one after another until the connection breaks; keeps the model of acked ones."""
    served = state["served_bytes"]
    try:
        client = Client(daemon.socket, timeout=300)
    except ConnectionLost:
        return
    with client:
        while True:
            op = choose_op(rng, model_box[0], adapters, has_recluster, max(served, 50_000))
            state["in_flight"] = op
            if op["kind"] == "recluster" and not op["dryRun"]:
                state["recluster_started"].set()
            try:
                result = run_op(client, op)
            except RPCError as error:
                state["in_flight"] = None
                stats.add(stats.errors, "%s %s" % (op["kind"], error.code))
                if error.code == INTERNAL_ERROR:
                    stats.violation("%s failed inside the daemon: %s" % (op["kind"], error.message))
                continue
            except ConnectionLost:
                return  # killed; in_flight stays set: its outcome is unknown
            state["in_flight"] = None
            stats.add(stats.acked, op["kind"])
            if op["kind"] == "install" and result.get("sha256") != op["sha256"]:
                stats.violation("install acknowledged sha256 %s for %s" % (result.get("sha256"), op["sha256"]))
            model_box[0] = model_box[0].apply(op, result)
            if isinstance(result, dict) and "budget" in result:
                served = result["budget"].get("servedBytes", served)
            elif isinstance(result, dict) and "servedBytes" in result:
                served = result["servedBytes"]


def probe(binary, workdir, adapters):
    """Which corpus adapters the detector accepts, and whether the daemon has `recluster`."""
    state = os.path.join(workdir, "probe-state")
    config = os.path.join(workdir, "probe.conf")
    write_config(config, budget="unlimited", log_level="warning")
    daemon = Daemon(binary, os.path.join(workdir, "probe.sock"), state, config, os.path.join(workdir, "probe.log"))
    daemon.start()
    accepted = []
    try:
        with Client(daemon.socket) as client:
            for adapter in adapters:
                try:
                    client.call("install", adapter.params("probe"))
                    accepted.append(adapter)
                except RPCError:
                    pass
                if len(accepted) >= 4:
                    break
            try:
                client.call("recluster", {"budget": None, "dryRun": True})
                has_recluster = True
            except RPCError as error:
                has_recluster = error.code != METHOD_NOT_FOUND
    finally:
        daemon.stop()
        shutil.rmtree(state, ignore_errors=True)
    return accepted, has_recluster


def kill_rounds(args, binary, workdir, adapters, has_recluster, stats):
    rng = random.Random(args.seed)
    state_dir = os.path.join(workdir, "state")
    config = os.path.join(workdir, "adapterd.conf")
    write_config(config, budget="unlimited", log_level="warning")
    daemon = Daemon(binary, os.path.join(workdir, "a.sock"), state_dir, config, os.path.join(workdir, "adapterd.log"))
    alternatives = [Model()]
    served_bytes = 0
    facts_seen = {"merged": 0, "generations": 0}
    pool = adapters + [a.variant(i) for a in adapters for i in range(2)]
    for round_index in range(args.rounds):
        daemon.start()
        model, facts, status = check_after_restart(daemon, alternatives, stats, round_index)
        served_bytes = ((status or {}).get("budget") or {}).get("servedBytes", 0)
        facts_seen["merged"] += facts.get("merged", 0)
        facts_seen["generations"] = max(facts_seen["generations"], facts.get("generation", 0))

        if rng.random() < 0.1:
            # Kill during the next start-up (its recovery and reconciliation) instead.
            daemon.kill()
            daemon.process = subprocess.Popen(
                [daemon.binary, "--socket", daemon.socket, "--state-dir", daemon.state, "--config", daemon.config],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.0, 0.4))
            daemon.kill()
            stats.add(stats.killed_during, "start-up")
            alternatives = [model]
            continue

        model_box = [model]
        shared = {"in_flight": None, "served_bytes": served_bytes, "recluster_started": threading.Event()}
        stop = threading.Event()
        reader = threading.Thread(target=live_reader, args=(daemon.socket, stop, stats), daemon=True)
        reader.start()
        thread = threading.Thread(target=writer, args=(daemon, model_box, random.Random(rng.random()), pool,
                                                       has_recluster, stats, shared), daemon=True)
        thread.start()
        if has_recluster and rng.random() < 0.3:
            # Aim at a re-clustering: they are short with small adapters, so uniform kills rarely land in one.
            shared["recluster_started"].wait(args.max_delay * 3)
            time.sleep(rng.uniform(0.0, 0.12))
        else:
            time.sleep(rng.uniform(0.02, args.max_delay))
        daemon.kill()
        thread.join(60)
        stop.set()
        reader.join(60)
        if thread.is_alive():
            stats.violation("round %d: the client did not notice the daemon's death" % round_index)
        in_flight = shared["in_flight"]  # still set: the writer never got its response
        stats.add(stats.killed_during, in_flight["kind"] if in_flight else "between operations")
        alternatives = [model_box[0]]
        if in_flight is not None:
            alternatives.append(model_box[0].apply(in_flight))
        if args.verbose:
            print("round %d: killed during %s; %s" % (round_index, in_flight["kind"] if in_flight else "-",
                                                      model_box[0].describe()), flush=True)
    daemon.start()
    check_after_restart(daemon, alternatives, stats, args.rounds)
    daemon.stop()
    return facts_seen


def disk_full(args, binary, workdir, adapters, has_recluster):
    """Install until a small file system is full; expect clear errors, nothing lost, service after freeing."""
    violations = []
    notes = []
    mount_point = os.path.join(workdir, "small")
    os.makedirs(mount_point)
    size_kib = 6144
    how = None
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0700" % size_kib, "tmpfs", mount_point],
                      stderr=subprocess.PIPE).returncode == 0:
        how = "tmpfs of %d KiB" % size_kib
    else:
        image = os.path.join(workdir, "small.img")
        with open(image, "wb") as f:
            f.truncate(size_kib * 1024)
        if (subprocess.run(["mkfs.ext4", "-q", "-F", image], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
                and subprocess.run(["mount", "-o", "loop", image, mount_point], stderr=subprocess.PIPE).returncode == 0):
            how = "loop-mounted ext4 image of %d KiB" % size_kib
    if how is None:
        print("disk full: skipped: cannot mount a small file system here (tmpfs and loop ext4 both failed; needs root)")
        return None
    state = os.path.join(mount_point, "state")
    config = os.path.join(workdir, "small.conf")
    write_config(config, budget="unlimited", log_level="warning")
    daemon = Daemon(binary, os.path.join(workdir, "small.sock"), state, config, os.path.join(workdir, "small.log"))
    filler = os.path.join(mount_point, "filler")
    acked = {}
    try:
        daemon.start()
        # Leave about 400 KiB free, then install distinct adapters until something gives.
        free = os.statvfs(mount_point).f_bavail * os.statvfs(mount_point).f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 400 * 1024))
        first_error = None
        index = 0
        while index < 400:
            adapter = adapters[index % len(adapters)].variant(1000 + index)
            task = "full%d" % index
            try:
                result = call(daemon.socket, "install", adapter.params(task))
                acked[task] = (result["version"], adapter.sha256)
            except RPCError as error:
                first_error = error
                break
            index += 1
        if first_error is None:
            violations.append("400 installs fit in a full file system?")
        else:
            clear = any(word in first_error.message.lower() for word in ("space", "full", "quota"))
            notes.append("install #%d on the full disk: error %s: %s" % (index + 1, first_error.code, first_error.message[:200]))
            if not clear:
                violations.append("the disk-full install error does not say the disk is full: %s" % first_error.message)
        if not daemon.alive():
            violations.append("the daemon died on the full disk: %s" % daemon.log_tail())
            daemon.start()
        served_violations, tasks, status = served_checks(daemon.socket)
        violations += ["full disk, running: " + v for v in served_violations]
        for task in sorted(set(tasks) - set(acked)):
            violations.append("the install of %s failed with an error but left the task installed" % task)
        for task, (version, sha) in acked.items():
            if tasks.get(task) != (version, sha):
                violations.append("acknowledged install %s v%d is %s on the full disk" % (task, version, tasks.get(task)))
        if has_recluster:
            served = ((status or {}).get("budget") or {}).get("servedBytes", 0)
            try:
                result = call(daemon.socket, "recluster", {"budget": max(1, served // 2), "dryRun": False})
                notes.append("recluster on the full disk succeeded: %s" % str(result)[:200])
            except RPCError as error:
                notes.append("recluster on the full disk: error %s: %s" % (error.code, error.message[:200]))
                if not any(w in error.message.lower() for w in ("space", "full", "quota", "budget", "cannot")):
                    violations.append("unclear recluster error on the full disk: %s" % error.message)
            if not daemon.alive():
                violations.append("the daemon died during recluster on the full disk: %s" % daemon.log_tail())
                daemon.start()
            served_violations, tasks, _ = served_checks(daemon.socket)
            violations += ["after recluster on the full disk: " + v for v in served_violations]
            for task, (version, sha) in acked.items():
                if tasks.get(task) is None or tasks[task][1] != sha:
                    violations.append("after recluster on the full disk %s is %s" % (task, tasks.get(task)))
        else:
            notes.append("recluster on the full disk: skipped: daemon has no recluster")
        # A crash on the full disk, then a restart: it either recovers on the full disk, or refuses to
        # start with a clear error and recovers once space is freed. Nothing acknowledged may be lost.
        daemon.kill()
        try:
            daemon.start()
            notes.append("restart after SIGKILL on the full disk: serving")
            os.remove(filler)
        except RuntimeError as error:
            text = str(error).splitlines()[0][:240]
            notes.append("restart after SIGKILL on the full disk: refused (%s); restarted after freeing space" % text)
            if not any(word in text.lower() for word in ("space", "full")):
                violations.append("unclear start-up error on the full disk: %s" % text)
            os.remove(filler)
            daemon.start()
        v, _ = catalog_checks(state, after_open=True)
        violations += ["restart after the full disk: " + x for x in v + tmp_checks(state)]
        served_violations, tasks, _ = served_checks(daemon.socket)
        violations += ["restart after the full disk: " + x for x in served_violations]
        for task, (version, sha) in acked.items():
            if tasks.get(task) != (version, sha):
                violations.append("after a restart, acknowledged %s v%d is %s" % (task, version, tasks.get(task)))
        # With space freed, installs work again.
        adapter = adapters[0].variant(99999)
        try:
            call(daemon.socket, "install", adapter.params("after-free"))
            acked["after-free"] = (1, adapter.sha256)
        except RPCError as error:
            violations.append("install after freeing space failed: %s" % error)
        served_violations, tasks, _ = served_checks(daemon.socket)
        violations += ["after freeing space: " + x for x in served_violations]
        v, _ = catalog_checks(state, after_open=False)
        violations += ["after freeing space: " + x for x in v]
        notes.append("%d installs acknowledged before the disk was full; all %d tasks intact after freeing space"
                     % (len(acked) - 1, len(tasks)))
    finally:
        daemon.stop()
        subprocess.run(["umount", mount_point], stderr=subprocess.DEVNULL)
    return how, notes, violations


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-delay", type=float, default=1.5, help="longest time before a kill, seconds")
    parser.add_argument("--no-disk-full", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    binary = os.path.join(args.bin_dir, "adapterd")
    if not os.access(binary, os.X_OK):
        print("fault: no adapterd at %s (build it first)" % binary, file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="adapterd-fault-")
    os.chmod(workdir, 0o755)
    stats = Stats()
    started = time.monotonic()
    try:
        candidates = benign_corpus(args.corpus, limit_bytes=200_000)
        adapters, has_recluster = probe(binary, workdir, candidates)
        if len(adapters) < 2:
            print("fault: the detector accepted %d benign corpus adapters; need 2" % len(adapters), file=sys.stderr)
            return 2
        print("fault: adapterd %s, seed %d, %d rounds, adapters %s" % (
            binary, args.seed, args.rounds, ", ".join("%s (%d B)" % (a.name, len(a.weights)) for a in adapters)), flush=True)
        if not has_recluster:
            print("fault: skipped: daemon has no recluster (rounds exercise install, remove and budget.set only)", flush=True)
        facts = kill_rounds(args, binary, workdir, adapters, has_recluster, stats)
        seconds = time.monotonic() - started
        print("fault: %d rounds survived, %d violations (%.0f s)" % (args.rounds, len(stats.violations), seconds))
        print("  acknowledged: %s" % ", ".join("%s %d" % kv for kv in sorted(stats.acked.items())))
        print("  error responses: %s" % (", ".join("%s: %d" % kv for kv in sorted(stats.errors.items())) or "none"))
        print("  kills during: %s" % ", ".join("%s %d" % kv for kv in sorted(stats.killed_during.items())))
        print("  live reads: %d served files hashed intact while operations ran, %d retired between route and read"
              % (stats.live_routes, stats.live_retired))
        print("  highest generation %d; merged adapters seen at restarts: %d" % (facts["generations"], facts["merged"]))
        disk_violations = []
        if not args.no_disk_full:
            outcome = disk_full(args, binary, workdir, adapters, has_recluster)
            if outcome is not None:
                how, notes, disk_violations = outcome
                print("disk full (%s): %d violations" % (how, len(disk_violations)))
                for note in notes:
                    print("  " + note)
                for text in disk_violations:
                    print("VIOLATION: disk full: " + text)
        return 1 if stats.violations or disk_violations else 0
    finally:
        if args.keep:
            print("fault: work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
