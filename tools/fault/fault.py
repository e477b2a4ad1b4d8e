#!/usr/bin/env python3
"""Fault injection for adapterd: SIGKILL at random moments of install, remove, budget.set and
recluster, restart, and check the invariants after every restart; between rounds, faults of the state
directory itself (storage_faults.py: catalog deleted while running, a flipped bit in a stored object,
the state directory read-only); then repeated disk full on a small file system. Run through
tools/fault/run.sh (see its --help); Python standard library only."""
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
from adapterd_client import (INTERNAL_ERROR, METHOD_NOT_FOUND, READ_ONLY, Client, ConnectionLost, Daemon, RPCError,  # noqa: E402
                             benign_corpus, call, sha256_file, write_config)
from invariants import catalog_checks, served_checks, tmp_checks  # noqa: E402
import storage_faults  # noqa: E402

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
        self.storage_faults = {}
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
    storage = (status or {}).get("storage")
    if storage is not None:
        # No storage fault is outstanding between rounds: the daemon takes changes and reports no damage.
        if storage.get("readOnly"):
            violations.append("read-only after a restart: %s" % storage.get("readOnlyReason"))
        if storage.get("damagedObjects"):
            violations.append("reports damaged objects though none is: %s" % storage["damagedObjects"][:1])
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
    write_config(config, budget="unlimited", log_level="warning", install_plan=args.install_plan)
    daemon = Daemon(binary, os.path.join(workdir, "a.sock"), state_dir, config, os.path.join(workdir, "adapterd.log"))
    alternatives = [Model()]
    served_bytes = 0
    facts_seen = {"merged": 0, "generations": 0}
    pool = adapters + [a.variant(i) for a in adapters for i in range(2)]
    by_sha = {a.sha256: a for a in pool}
    matches = lambda model, tasks, status: model.matches(tasks, observed_budget(status))  # noqa: E731
    for round_index in range(args.rounds):
        daemon.start()
        model, facts, status = check_after_restart(daemon, alternatives, stats, round_index)
        served_bytes = ((status or {}).get("budget") or {}).get("servedBytes", 0)
        facts_seen["merged"] += facts.get("merged", 0)
        facts_seen["generations"] = max(facts_seen["generations"], facts.get("generation", 0))

        if model.tasks and rng.random() < args.storage_faults:
            # A fault of the state directory instead of a kill during operations.
            name = storage_faults.choose(rng, args.storage_fault or storage_faults.SCENARIOS)
            model, fault_violations, outcome = storage_faults.inject(name, daemon, model, random.Random(rng.random()),
                                                                     matches, workdir, by_sha)
            stats.add(stats.storage_faults, "%s (%s)" % (name, outcome))
            for text in fault_violations or []:
                stats.violation("round %d: %s" % (round_index, text))
            if daemon.alive():
                daemon.stop()
            alternatives = [model]
            if args.verbose:
                print("round %d: storage fault %s (%s); %s" % (round_index, name, outcome, model.describe()), flush=True)
            continue

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
    """Install until a small file system is full, then free a little (room for the space reserve, hardly
    more) and go on until three installs have failed: every failure a clear error that changed nothing,
    the daemon serving throughout; then SIGKILL with the reserve gone and the disk full to the last
    byte: it must start (read-only: disk full, changes refused) and, with space freed, take changes."""
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
    acked = {}

    def free_bytes():
        info = os.statvfs(mount_point)
        return info.f_bavail * info.f_frsize

    def consistent(when):
        served_violations, tasks, status = served_checks(daemon.socket)
        violations.extend("%s: %s" % (when, v) for v in served_violations)
        for task in sorted(set(tasks) - set(acked)):
            violations.append("%s: the install of %s failed with an error but left the task installed" % (when, task))
        for task, (version, sha) in acked.items():
            if tasks.get(task) != (version, sha):
                violations.append("%s: acknowledged install %s v%d is %s" % (when, task, version, tasks.get(task)))
        return status

    def storage_says_disk_full(when):
        status = consistent(when)
        storage = (status or {}).get("storage")
        if storage is None:
            violations.append("%s: status does not report the state directory's health (no `storage`)" % when)
        elif not storage.get("readOnly") or "disk full" not in (storage.get("readOnlyReason") or ""):
            violations.append("%s: status does not say the daemon is read-only for a full disk: %s" % (when, storage))

    try:
        daemon.start()
        # Fill in pieces of 256 KiB, leaving about 400 KiB free.
        pieces = []
        while free_bytes() > 400 * 1024 + 64 * 1024:
            piece = os.path.join(mount_point, "filler%d" % len(pieces))
            with open(piece, "wb") as f:
                f.write(b"\0" * min(256 * 1024, free_bytes() - 400 * 1024))
            pieces.append(piece)
        failures = []
        index = 0
        while len(failures) < 3 and index < 400:
            adapter = adapters[index % len(adapters)].variant(1000 + index)
            task = "full%d" % index
            try:
                result = call(daemon.socket, "install", adapter.params(task))
                acked[task] = (result["version"], adapter.sha256)
            except RPCError as error:
                failures.append(error)
                notes.append("disk-full error %d (install #%d): %s: %s" % (len(failures), index + 1, error.code, error.message[:200]))
                if not any(word in error.message.lower() for word in ("space", "full", "quota")):
                    violations.append("the disk-full install error does not say the disk is full: %s" % error.message)
                if error.code == INTERNAL_ERROR and "disk full" not in error.message:
                    violations.append("a disk-full install failed as an internal error: %s" % error.message[:200])
                if not daemon.alive():
                    violations.append("the daemon died on the full disk: %s" % daemon.log_tail())
                    daemon.start()
                consistent("after disk-full error %d" % len(failures))
                for _ in range(5):   # room for the reserve again, hardly more
                    if pieces:
                        os.remove(pieces.pop())
            index += 1
        if len(failures) < 3:
            violations.append("only %d installs failed on the full disk" % len(failures))
        if has_recluster:
            served = ((status_of(daemon.socket) or {}).get("budget") or {}).get("servedBytes", 0)
            try:
                result = call(daemon.socket, "recluster", {"budget": max(1, served // 2), "dryRun": False})
                notes.append("recluster on the full disk succeeded: %s" % str(result)[:200])
            except RPCError as error:
                notes.append("recluster on the full disk: error %s: %s" % (error.code, error.message[:200]))
                if not any(w in error.message.lower() for w in ("space", "full", "quota", "budget", "cannot", "read-only")):
                    violations.append("unclear recluster error on the full disk: %s" % error.message)
            if not daemon.alive():
                violations.append("the daemon died during recluster on the full disk: %s" % daemon.log_tail())
                daemon.start()
            served_violations, tasks, _ = served_checks(daemon.socket)
            violations.extend("after recluster on the full disk: " + v for v in served_violations)
            for task, (version, sha) in acked.items():
                if tasks.get(task) is None or tasks[task][1] != sha:
                    violations.append("after recluster on the full disk %s is %s" % (task, tasks.get(task)))
        else:
            notes.append("recluster on the full disk: skipped: daemon has no recluster")
        # SIGKILL, the space reserve gone (as if an undo had used it) and the disk full to the last
        # byte: adapterd must start, serve everything acknowledged, say it is read-only (disk full) and
        # refuse changes with `read only`.
        daemon.kill()
        reserve = os.path.join(state, "reserve")
        if os.path.exists(reserve):
            os.remove(reserve)
        squeeze = os.path.join(mount_point, "squeeze")
        with open(squeeze, "wb") as f:
            try:
                f.write(b"\0" * free_bytes())
            except OSError:
                pass
        try:
            daemon.start()
            notes.append("restart after SIGKILL on the full disk (no reserve, 0 bytes free): serving")
            storage_says_disk_full("restart on the full disk")
            try:
                call(daemon.socket, "budget.set", {"bytes": None})
                violations.append("budget.set was acknowledged on a full disk without the space reserve")
            except RPCError as error:
                if error.code != READ_ONLY:
                    violations.append("a change on the full disk answered %s (%s), not read only" % (error.code, error.message[:160]))
            consistent("restart on the full disk, after a refused change")
        except RuntimeError as error:
            violations.append("adapterd did not start on the full disk: %s" % str(error).splitlines()[0][:240])
        os.remove(squeeze)
        for piece in pieces:
            os.remove(piece)
        if not daemon.alive():
            daemon.start()
        # With space freed, changes are taken again (the reserve is put back first), nothing lost.
        adapter = adapters[0].variant(99999)
        try:
            call(daemon.socket, "install", adapter.params("after-free"))
            acked["after-free"] = (1, adapter.sha256)
        except RPCError as error:
            violations.append("install after freeing space failed: %s" % error)
        consistent("after freeing space")
        storage = (status_of(daemon.socket) or {}).get("storage") or {}
        if storage.get("readOnly"):
            violations.append("still read-only after freeing space: %s" % storage.get("readOnlyReason"))
        daemon.stop()
        daemon.start()
        v, _ = catalog_checks(state, after_open=True)
        violations.extend("restart after freeing space: " + x for x in v + tmp_checks(state))
        consistent("restart after freeing space")
        notes.append("%d installs acknowledged around %d disk-full errors; all %d tasks intact after freeing space"
                     % (len(acked) - 1, len(failures), len(acked)))
    finally:
        daemon.stop()
        subprocess.run(["umount", mount_point], stderr=subprocess.DEVNULL)
    return how, notes, violations


def status_of(socket):
    try:
        return call(socket, "status")
    except (RPCError, ConnectionLost, OSError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--install-plan", default="auto", choices=["auto", "full", "place"],
                        help="the daemon's install-plan (place: installs over the budget place their task and "
                             "the plan of every task runs in the background, where kills also land)")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-delay", type=float, default=1.5, help="longest time before a kill, seconds")
    parser.add_argument("--no-disk-full", action="store_true")
    parser.add_argument("--storage-faults", type=float, default=0.12,
                        help="share of rounds that inject a fault of the state directory instead (0: none)")
    parser.add_argument("--storage-fault", action="append", choices=storage_faults.SCENARIOS,
                        help="inject only this storage fault (repeatable; default: all)")
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
        print("  storage faults: %s" % (", ".join("%s %d" % kv for kv in sorted(stats.storage_faults.items())) or "none"))
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
