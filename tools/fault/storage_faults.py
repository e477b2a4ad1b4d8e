"""Faults of the state directory itself, injected between kill rounds (fault.py): the catalog deleted
while adapterd runs (noticed, or followed at once by a SIGKILL), a bit flipped in a stored object, and
the state directory made read-only. Each scenario starts with a running, checked daemon, ends with it
stopped, and returns (the model of what the daemon must hold now, violations, what happened in a few
words; violations None when the fault cannot be injected here). The daemon must never
lose or delete what it acknowledged, must say what happened (status `storage`, clear errors), and
must be whole again after the documented recovery."""
import glob
import os
import random
import sqlite3
import subprocess

from adapterd_client import METHOD_NOT_FOUND, READ_ONLY, ConnectionLost, RPCError, call
from invariants import catalog_checks, served_checks

CATALOG_FILES = ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm")


def object_files(state):
    """Every file under objects/ (the user's data: none may disappear)."""
    found = set()
    root = os.path.join(state, "objects")
    for fan in os.listdir(root):
        directory = os.path.join(root, fan)
        if os.path.isdir(directory):
            found.update(fan + "/" + name for name in os.listdir(directory))
    return found


def storage_of(status):
    return (status or {}).get("storage")


def status_or_none(socket):
    try:
        return call(socket, "status", timeout=30)
    except (RPCError, ConnectionLost, OSError):
        return None


def expect_refused_change(socket, what, violations, budget):
    """A change must be refused with `read only` (-32009), never acknowledged and never an internal error."""
    try:
        call(socket, "budget.set", {"bytes": budget}, timeout=120)
        violations.append("%s: budget.set was acknowledged (a change that would be lost or cannot be made)" % what)
    except RPCError as error:
        if error.code != READ_ONLY:
            violations.append("%s: budget.set answered %s (%s), not read only (-32009)" % (what, error.code, error.message[:160]))
    except (ConnectionLost, OSError) as error:
        violations.append("%s: the daemon does not answer: %s" % (what, error))


def after_restart(daemon, model, what, violations, matches):
    """Starts the daemon and checks every invariant against the model."""
    try:
        daemon.start()
    except RuntimeError as error:
        violations.append("%s: adapterd did not start again: %s" % (what, str(error).splitlines()[0][:240]))
        return False
    catalog_violations, _ = catalog_checks(daemon.state, after_open=True)
    served_violations, tasks, status = served_checks(daemon.socket)
    violations.extend("%s, after the restart: %s" % (what, v) for v in catalog_violations + served_violations)
    if status is not None and not matches(model, tasks, status):
        violations.append("%s, after the restart: the daemon holds %s, the acknowledged operations %s"
                          % (what, sorted(tasks.items())[:6], model.describe()))
    return True


def catalog_deleted_noticed(daemon, model, rng, matches):
    """Deletes catalog.sqlite (or with its -wal and -shm) while adapterd runs: status must report it at
    once, changes must be refused, nothing deleted, and after a restart (SIGTERM or SIGKILL) every
    acknowledged task must be back."""
    what = "catalog deleted while running"
    violations = []
    objects = object_files(daemon.state)
    names = CATALOG_FILES if rng.random() < 0.5 else CATALOG_FILES[:1]
    for name in names:
        try:
            os.unlink(os.path.join(daemon.state, name))
        except FileNotFoundError:
            pass
    status = status_or_none(daemon.socket)
    storage = storage_of(status)
    if storage is None:
        violations.append("%s: status does not report the state directory's health (no `storage`)" % what)
    elif not storage.get("readOnly") or "catalog" not in (storage.get("readOnlyReason") or ""):
        violations.append("%s: status does not say the catalog is lost: %s" % (what, storage))
    expect_refused_change(daemon.socket, what, violations, model.budget if model.budget_known else None)
    if object_files(daemon.state) != objects:
        violations.append("%s: objects were deleted while running" % what)
    if rng.random() < 0.5:
        daemon.kill()
    else:
        daemon.stop()
    if object_files(daemon.state) != objects:
        violations.append("%s: objects were deleted by the stop" % what)
    restored = os.path.exists(os.path.join(daemon.state, "catalog.sqlite.rescued"))
    if after_restart(daemon, model, what, violations, matches):
        daemon.stop()
    return model, violations, "restored from its saved copy" if restored else "no saved copy"


def catalog_deleted_then_killed(daemon, model, rng, matches, workdir):
    """Deletes the catalog and SIGKILLs adapterd at once (no chance to notice): the next start must
    refuse (naming the objects and --recover-catalog) and delete nothing; with the catalog put back
    (as from a backup: hard links taken before the deletion) it must start whole."""
    what = "catalog deleted, then SIGKILL"
    violations = []
    backup = os.path.join(workdir, "catalog-backup")
    os.makedirs(backup, exist_ok=True)
    for name in os.listdir(backup):
        os.unlink(os.path.join(backup, name))
    names = CATALOG_FILES if rng.random() < 0.5 else CATALOG_FILES[:1]
    for name in names:
        path = os.path.join(daemon.state, name)
        if os.path.exists(path):
            os.link(path, os.path.join(backup, name))
            os.unlink(path)
    daemon.kill()
    objects = object_files(daemon.state)
    outcome = "start refused"
    try:
        daemon.start()
        outcome = "started"
        # Only acceptable if the daemon had noticed and saved a copy before the kill.
        served_violations, tasks, status = served_checks(daemon.socket)
        if not matches(model, tasks, status):
            violations.append("%s: adapterd started with %d task(s) instead of refusing to start without its catalog"
                              % (what, len(tasks)))
        violations.extend("%s: %s" % (what, v) for v in served_violations)
        daemon.stop()
    except RuntimeError as error:
        text = str(error)
        if "--recover-catalog" not in text or ("%d objects" % len(objects)) not in text:
            violations.append("%s: the refusal does not name the objects and --recover-catalog: %s" % (what, text[:300]))
    if object_files(daemon.state) != objects:
        violations.append("%s: %d of %d objects were deleted at the start" % (
            what, len(objects - object_files(daemon.state)), len(objects)))
    # Put the catalog back as it was (unless a saved copy was already restored), then start.
    if not os.path.exists(os.path.join(daemon.state, "catalog.sqlite")):
        for name in os.listdir(backup):
            path = os.path.join(daemon.state, name)
            if os.path.exists(path):
                os.unlink(path)
            os.link(os.path.join(backup, name), path)
    if after_restart(daemon, model, what, violations, matches):
        daemon.stop()
    return model, violations, outcome


def referenced_weights(state):
    """(task, weights sha256) of every installed task, from the catalog (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "catalog.sqlite"), uri=True, timeout=30)
    try:
        return db.execute("""SELECT t.name, a.weights_digest FROM tasks t
                             JOIN adapters a ON a.id = t.current_adapter_id ORDER BY t.name""").fetchall()
    finally:
        db.close()


def flip_bit(path, rng):
    size = os.path.getsize(path)
    position = rng.randrange(size // 4, max(size // 4 + 1, size - 1))
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ (1 << rng.randrange(8))]))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o400)


def bit_flip(daemon, model, rng, matches, adapters_by_sha):
    """Flips one bit of a stored adapter (same size): `verify` must find it and name its task, status
    must list it, no route may hand the file out under its old hash (the task is not served; its route
    error says it is damaged), the state must hold across a restart, and installing the adapter again
    must repair it."""
    what = "bit flip"
    violations = []
    weights = referenced_weights(daemon.state)
    if not weights:
        daemon.stop()
        return model, violations, "nothing to flip"
    task, digest = rng.choice(weights)
    flip_bit(os.path.join(daemon.state, "objects", digest[:2], digest), rng)
    try:
        result = call(daemon.socket, "verify", timeout=300)
        found = {d["sha256"]: d for d in result.get("damagedObjects", [])}
        if digest not in found:
            violations.append("%s: verify did not report the damaged object %s of task %s" % (what, digest[:12], task))
        elif task not in found[digest].get("tasks", []):
            violations.append("%s: verify did not name task %s for %s" % (what, task, digest[:12]))
    except RPCError as error:
        violations.append("%s: verify failed: %s" % (what, "no verify method" if error.code == METHOD_NOT_FOUND else error))
    storage = storage_of(status_or_none(daemon.socket))
    if storage is None or digest not in {d["sha256"] for d in storage.get("damagedObjects", [])}:
        violations.append("%s: status does not list the damaged object %s" % (what, digest[:12]))
    served_violations, _, _ = served_checks(daemon.socket)   # every file handed out must hash to its id
    violations.extend("%s: %s" % (what, v) for v in served_violations)
    try:
        route = call(daemon.socket, "route", {"task": task})
        violations.append("%s: task %s is still routed to %s after its adapter was found damaged"
                          % (what, task, route["adapter"]["id"][:12]))
    except RPCError as error:
        if "damaged" not in error.message:
            violations.append("%s: the route error of %s does not say its adapter is damaged: %s" % (what, task, error.message[:160]))
    restarted = rng.random() < 0.5
    if restarted:
        # Known after a restart too (the damaged bytes were set aside, not deleted).
        daemon.stop()
        try:
            daemon.start()
            storage = storage_of(status_or_none(daemon.socket))
            if storage is None or digest not in {d["sha256"] for d in storage.get("damagedObjects", [])}:
                violations.append("%s: after a restart the damaged object %s is no longer reported" % (what, digest[:12]))
            catalog_violations, _ = catalog_checks(daemon.state, after_open=True, known_damaged={digest})
            violations.extend("%s, after a restart: %s" % (what, v) for v in catalog_violations)
        except RuntimeError as error:
            violations.append("%s: adapterd did not start again: %s" % (what, str(error)[:240]))
            return model, violations, "restarted"
    if not glob.glob(os.path.join(daemon.state, "damaged", digest + ".*")) and \
            not os.path.exists(os.path.join(daemon.state, "objects", digest[:2], digest)):
        violations.append("%s: the damaged object %s was deleted instead of set aside" % (what, digest[:12]))
    # Repair: install the same adapter again.
    adapter = adapters_by_sha.get(digest)
    if adapter is not None:
        op = {"kind": "install", "task": task, "adapter": adapter, "sha256": digest}
        try:
            result = call(daemon.socket, "install", adapter.params(task), timeout=300)
            model = model.apply(op, result)
        except RPCError as error:
            violations.append("%s: installing %s again to repair it failed: %s" % (what, task, error))
    storage = storage_of(status_or_none(daemon.socket))
    if storage is not None and storage.get("damagedObjects"):
        violations.append("%s: still reported damaged after the repair: %s" % (what, storage["damagedObjects"][:1]))
    daemon.stop()
    return model, violations, "restarted, then repaired" if restarted else "repaired"


def read_only_state(daemon, model, matches):
    """Restarts adapterd on its state directory mounted read-only: it must start, serve what it holds,
    say it is read-only, refuse changes with `read only`; then, writable again, start whole."""
    what = "read-only state directory"
    violations = []
    daemon.stop()
    state = daemon.state
    if subprocess.run(["mount", "--bind", state, state], stderr=subprocess.DEVNULL).returncode != 0:
        return model, None, "skipped: cannot mount (not root)"
    if subprocess.run(["mount", "-o", "remount,ro,bind", state], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["umount", state], stderr=subprocess.DEVNULL)
        return model, None, "skipped: cannot mount (not root)"
    try:
        try:
            daemon.start()
        except RuntimeError as error:
            violations.append("%s: adapterd did not start: %s" % (what, str(error).splitlines()[0][:240]))
            return model, violations, "start refused"
        served_violations, tasks, status = served_checks(daemon.socket)
        violations.extend("%s: %s" % (what, v) for v in served_violations)
        if status is not None and not matches(model, tasks, status):
            violations.append("%s: serves %s, the acknowledged operations %s" % (what, sorted(tasks)[:6], model.describe()))
        storage = storage_of(status)
        if storage is None or not storage.get("readOnly") or "read-only" not in (storage.get("readOnlyReason") or ""):
            violations.append("%s: status does not say the daemon is read-only: %s" % (what, storage))
        expect_refused_change(daemon.socket, what, violations, model.budget if model.budget_known else None)
        daemon.stop()
    finally:
        subprocess.run(["umount", state], stderr=subprocess.DEVNULL)
    if after_restart(daemon, model, what + " (writable again)", violations, matches):
        storage = storage_of(status_or_none(daemon.socket))
        if storage is not None and storage.get("readOnly"):
            violations.append("%s: still read-only once writable: %s" % (what, storage.get("readOnlyReason")))
        daemon.stop()
    return model, violations, "served read-only"


SCENARIOS = ("catalog deleted (noticed)", "catalog deleted (then SIGKILL)", "bit flip", "read-only state dir")


def inject(name, daemon, model, rng, matches, workdir, adapters_by_sha):
    if name == SCENARIOS[0]:
        return catalog_deleted_noticed(daemon, model, rng, matches)
    if name == SCENARIOS[1]:
        return catalog_deleted_then_killed(daemon, model, rng, matches, workdir)
    if name == SCENARIOS[2]:
        return bit_flip(daemon, model, rng, matches, adapters_by_sha)
    return read_only_state(daemon, model, matches)


def choose(rng, allowed=SCENARIOS):
    return random.Random(rng.random()).choice(list(allowed))
