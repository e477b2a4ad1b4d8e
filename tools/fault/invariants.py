"""The invariants adapterd keeps across crashes, checked from outside: over the socket, in the state
directory and in the catalog (read-only SQLite). Each check returns a list of violations (sentences)."""
import glob
import os
import sqlite3

from adapterd_client import ConnectionLost, RPCError, call, sha256_file


def object_path(state, digest):
    return os.path.join(state, "objects", digest[:2], digest)


def set_aside(state, digest):
    """The copies of a damaged object adapterd moved to damaged/ (it never deletes them)."""
    return glob.glob(os.path.join(state, "damaged", digest + ".*"))


def catalog_checks(state, after_open=True, known_damaged=frozenset()):
    """PRAGMA integrity_check; foreign keys; every referenced object present, of its size and hash;
    no orphan object (GC runs at open); exactly the current generation on disk and complete; every
    installed task routed by it to its current version. `known_damaged`: objects the daemon reports
    as damaged (status `storage`): each must be set aside under damaged/ rather than in objects/, and
    a task whose adapter is one of them need not be routed. Returns (violations, facts)."""
    violations = []
    facts = {}
    path = os.path.join(state, "catalog.sqlite")
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    except sqlite3.Error as error:
        return ["cannot open the catalog read-only: %s" % error], facts
    try:
        rows = [r[0] for r in db.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            violations.append("PRAGMA integrity_check: %s" % "; ".join(rows[:5]))
        fk = db.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            violations.append("PRAGMA foreign_key_check: %d rows, e.g. %r" % (len(fk), fk[0]))
        referenced = {}
        for digest, size in db.execute("""
                SELECT examples_digest, examples_bytes FROM tasks
                UNION SELECT config_digest, config_bytes FROM adapters
                UNION SELECT weights_digest, weights_bytes FROM adapters
                UNION SELECT s.config_digest, s.config_bytes FROM served_adapters s
                    JOIN generations g ON g.id = s.generation_id WHERE g.state IN ('building', 'current')
                UNION SELECT s.weights_digest, s.weights_bytes FROM served_adapters s
                    JOIN generations g ON g.id = s.generation_id WHERE g.state IN ('building', 'current')"""):
            referenced[digest] = size
        facts["referenced_objects"] = len(referenced)
        for digest, size in sorted(referenced.items()):
            p = object_path(state, digest)
            if digest in known_damaged:
                if not os.path.exists(p) and not set_aside(state, digest):
                    violations.append("damaged object %s was deleted, not set aside" % digest[:12])
                continue
            if not os.path.isfile(p) or os.path.islink(p):
                violations.append("object %s is referenced by the catalog but missing" % digest[:12])
                continue
            if os.path.getsize(p) != size:
                violations.append("object %s has %d bytes, the catalog says %d" % (digest[:12], os.path.getsize(p), size))
                continue
            if sha256_file(p) != digest:
                violations.append("object %s does not hash to its name" % digest[:12])
        on_disk = set()
        objects = os.path.join(state, "objects")
        for fan in os.listdir(objects):
            full = os.path.join(objects, fan)
            if not os.path.isdir(full) or os.path.islink(full):
                violations.append("stray entry objects/%s" % fan)
                continue
            for name in os.listdir(full):
                on_disk.add(name)
        orphans = sorted(on_disk - set(referenced))
        facts["orphans"] = len(orphans)
        if after_open and orphans:
            violations.append("%d orphan object(s) survived the garbage collection at open, e.g. %s"
                              % (len(orphans), orphans[0][:12]))

        # Catalog v2 stores an unlimited budget as budget_unlimited = 1 (budget_bytes 0); v1 as Int64.max.
        columns = {row[1] for row in db.execute("PRAGMA table_info(generations)")}
        unlimited = "budget_unlimited" if "budget_unlimited" in columns else "0"
        generations = db.execute("SELECT id, state, budget_bytes, bytes_used, %s FROM generations" % unlimited).fetchall()
        current = [g for g in generations if g[1] == "current"]
        building = [g for g in generations if g[1] == "building"]
        if len(current) > 1:
            violations.append("%d current generations" % len(current))
        if after_open and building:
            violations.append("generation(s) %s still 'building' after open" % [g[0] for g in building])
        tasks = db.execute("SELECT name, version, current_adapter_id FROM tasks").fetchall()
        damaged_tasks = {name for name, config, weights in db.execute(
            """SELECT t.name, a.config_digest, a.weights_digest FROM tasks t
               JOIN adapters a ON a.id = t.current_adapter_id""") if config in known_damaged or weights in known_damaged}
        facts["tasks"] = len(tasks)
        gen_dirs = set(os.listdir(os.path.join(state, "generations")))
        if not current:
            if tasks:
                violations.append("%d task(s) installed but no current generation" % len(tasks))
            facts["generation"] = 0
            if after_open and gen_dirs:
                violations.append("generation directories %s but no current generation" % sorted(gen_dirs))
            return violations, facts
        gid = current[0][0]
        facts["generation"] = gid
        if after_open and gen_dirs - {str(gid)}:
            violations.append("directories of non-current generations survived open: %s" % sorted(gen_dirs - {str(gid)}))
        served = db.execute("""SELECT id, config_digest, config_bytes, weights_digest, weights_bytes, kind
                               FROM served_adapters WHERE generation_id = ?""", (gid,)).fetchall()
        facts["served_adapters"] = len(served)
        facts["merged"] = sum(1 for s in served if s[5] == "merged")
        for sid, cdig, cbytes, wdig, wbytes, _ in served:
            directory = os.path.join(state, "generations", str(gid), str(sid))
            for name, digest, size in (("adapter_config.json", cdig, cbytes), ("adapter_model.safetensors", wdig, wbytes)):
                p = os.path.join(directory, name)
                if digest in known_damaged:
                    continue  # not served (the route says it is damaged): served_checks
                if not os.path.isfile(p):
                    violations.append("current generation %d lacks %s/%s" % (gid, sid, name))
                elif os.path.getsize(p) != size or sha256_file(p) != digest:
                    violations.append("generation %d: %s/%s does not match its catalog digest" % (gid, sid, name))
        routes = {r[0]: r for r in db.execute(
            "SELECT task, served_adapter_id, task_adapter_id FROM task_routes WHERE generation_id = ?", (gid,))}
        served_ids = {s[0] for s in served}
        for name, version, adapter_id in tasks:
            route = routes.get(name)
            if route is None and name in damaged_tasks:
                continue
            if route is None:
                violations.append("task %s is installed but not routed by current generation %d" % (name, gid))
            elif route[2] != adapter_id:
                violations.append("task %s: generation %d routes adapter row %d, the task's current is %d"
                                  % (name, gid, route[2], adapter_id))
            elif route[1] not in served_ids:
                violations.append("task %s routes to a served adapter not in its generation" % name)
        budget, used, budget_unlimited = current[0][2], current[0][3], current[0][4]
        if not budget_unlimited and used > budget:
            violations.append("current generation %d uses %d bytes over its budget %d" % (gid, used, budget))
    except sqlite3.Error as error:
        violations.append("catalog query failed: %s" % error)
    finally:
        db.close()
    return violations, facts


def damaged_tasks(status):
    """Tasks the daemon reports as damaged (status `storage`): not served, each route error says why."""
    found = set()
    for damaged in ((status or {}).get("storage") or {}).get("damagedObjects", []):
        found.update(damaged.get("tasks", []))
    return found


def served_checks(socket_path):
    """Over the socket: every listed task routes to its own version and the served file hashes to the
    route's adapter id (a task the daemon reports as damaged instead gets a route error saying so).
    Returns (violations, tasks: name -> (version, sha256), status)."""
    violations = []
    tasks = {}
    try:
        status = call(socket_path, "status")
        listing = call(socket_path, "list")
        unserved = damaged_tasks(status)
        for summary in listing["tasks"]:
            tasks[summary["task"]] = (summary["version"], summary["sha256"])
            try:
                route = call(socket_path, "route", {"task": summary["task"]})
            except RPCError as error:
                if summary["task"] not in unserved or "damaged" not in error.message:
                    violations.append("route %s: %s" % (summary["task"], error))
                continue
            if route["version"] != summary["version"]:
                violations.append("route %s names version %d, list says %d" % (summary["task"], route["version"], summary["version"]))
            adapter = route["adapter"]
            if adapter["kind"] == "own" and adapter["id"] != summary["sha256"]:
                violations.append("task %s is served by its own adapter %s but its sha256 is %s"
                                  % (summary["task"], adapter["id"][:12], summary["sha256"][:12]))
            weights = adapter.get("weightsPath")
            if not weights or not os.path.isfile(weights):
                violations.append("task %s: served weights file %s is missing" % (summary["task"], weights))
            elif sha256_file(weights) != adapter["id"]:
                violations.append("task %s: served file %s does not hash to %s" % (summary["task"], weights, adapter["id"][:12]))
            if adapter.get("configPath") and not os.path.isfile(adapter["configPath"]):
                violations.append("task %s: served config %s is missing" % (summary["task"], adapter["configPath"]))
        budget = status.get("budget", {})
        limit = budget.get("limitBytes")
        if limit is not None and budget.get("servedBytes", 0) > limit:
            violations.append("serving %d bytes over the budget %d" % (budget["servedBytes"], limit))
    except (RPCError, ConnectionLost, OSError) as error:
        return violations + ["the daemon does not answer read requests: %s" % error], tasks, None
    return violations, tasks, status


def tmp_checks(state):
    leftovers = os.listdir(os.path.join(state, "tmp"))
    return ["tmp/ holds %d file(s) after open: %s" % (len(leftovers), leftovers[:3])] if leftovers else []
