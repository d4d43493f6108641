#!/usr/bin/env python3
"""The Python peer of graphvault's benchmarks.

Does what the application's PersistenceManager does, the way it does it, so that
`cargo bench --bench store` can show both side by side on the same graph:

- save with backup: json.dump(indent=2) to graph.json, SHA-256 of the file in 4 KiB
  chunks, the meta written with json.dump(indent=2), then shutil.copy of the graph and of
  the meta into backups/ (no temp file, no fsync: as the application does);
- save with the application's retention (with --history N): the save above, then every
  file in backups/ whose mtime is older than 30 days is removed, as the application's
  cleanup does, on a store holding N daily backups plus one that has just aged out;
- verify (hash only): SHA-256 of graph.json in 4 KiB chunks compared with the meta, which
  is all the application checks;
- load: SHA-256 of graph.json in 4 KiB chunks, compared with the meta, then json.load;
- load with recovery: the primary fails its checksum, so backups are tried newest first
  (checksum of each against its graph_<ts>.meta) and the first good one is json.load-ed
  and copied over graph.json and its meta. The application itself never found its backup
  metas and never replaced graph.json; this peer does both, so that it does the same work
  as graphvault's recovery.

The process times itself (time.perf_counter around each operation only) and prints one
JSON object on stdout: {"save_ms": [...], "load_ms": [...], "recovery_ms": [...], ...}.

Usage: peer.py --graph FILE --workdir DIR [--reps N] [--damaged-backups K] [--history N]
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta

CHUNK = 4096


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def meta_for(checksum, when):
    return {
        "timestamp": when.isoformat(timespec="microseconds"),
        "checksum": checksum,
        "node_count": 0,
        "edge_count": 0,
        "graph_version": "1.0",
        "saved_by": "DawsOS PersistenceManager",
    }


def save_with_backup(graph, storage):
    path = os.path.join(storage, "graph.json")
    with open(path, "w") as f:
        json.dump(graph, f, indent=2)
    now = datetime.now()
    with open(path + ".meta", "w") as f:
        json.dump(meta_for(sha256_file(path), now), f, indent=2)
    backups = os.path.join(storage, "backups")
    os.makedirs(backups, exist_ok=True)
    stem = "graph_" + now.strftime("%Y%m%d_%H%M%S")
    shutil.copy(path, os.path.join(backups, stem + ".json"))
    shutil.copy(path + ".meta", os.path.join(backups, stem + ".meta"))


RETENTION_DAYS = 30


def cleanup_old_backups(storage):
    """The application's retention: remove backups older than 30 days by mtime."""
    backups = os.path.join(storage, "backups")
    cutoff = time.time() - RETENTION_DAYS * 86400
    for name in os.listdir(backups):
        path = os.path.join(backups, name)
        if os.path.isfile(path) and os.path.getmtime(path) < cutoff:
            os.remove(path)


def verify_hash_only(storage):
    path = os.path.join(storage, "graph.json")
    with open(path + ".meta") as f:
        expected = json.load(f).get("checksum")
    return sha256_file(path) == expected


def add_aged_backup(storage, days):
    """A backup pair (a copy of the primary: the peer's setup, not timed) dated `days`
    ago by name and by mtime. Not a hard link: the application writes graph.json in
    place, which would change a linked backup too."""
    primary = os.path.join(storage, "graph.json")
    when = datetime.now() - timedelta(days=days)
    stem = "graph_" + when.strftime("%Y%m%d_%H%M%S")
    backups = os.path.join(storage, "backups")
    for src, dest in ((primary, stem + ".json"), (primary + ".meta", stem + ".meta")):
        target = os.path.join(backups, dest)
        if not os.path.exists(target):
            shutil.copyfile(src, target)
        stamp = when.timestamp()
        os.utime(target, (stamp, stamp))
    return stem


def bench_history(graph, workdir, reps, history, result):
    storage = os.path.join(workdir, "history")
    os.makedirs(os.path.join(storage, "backups"), exist_ok=True)
    save_with_backup(graph, storage)
    clear_files(os.path.join(storage, "backups"))
    for day in range(1, history + 1):
        add_aged_backup(storage, day - 0.5)
    for _ in range(reps):
        # The steady state of daily saves: one backup has just aged out.
        add_aged_backup(storage, RETENTION_DAYS + 1)
        before = set(os.listdir(os.path.join(storage, "backups")))
        started = time.perf_counter()
        save_with_backup(graph, storage)
        cleanup_old_backups(storage)
        result["save_retention_ms"].append((time.perf_counter() - started) * 1e3)
        # Back to `history` backups for the next repetition.
        for name in set(os.listdir(os.path.join(storage, "backups"))) - before:
            os.remove(os.path.join(storage, "backups", name))
    for _ in range(reps):
        # Recovery with the newest backup good: the primary fails its checksum.
        flip_middle_bit(os.path.join(storage, "graph.json"))
        started = time.perf_counter()
        loaded, source = load_with_recovery(storage)
        result["recovery_newest_ms"].append((time.perf_counter() - started) * 1e3)
        if loaded is None:
            sys.exit("peer: recovery with a good newest backup failed")
        del loaded
    for _ in range(reps):
        started = time.perf_counter()
        ok = verify_hash_only(storage)
        result["verify_ms"].append((time.perf_counter() - started) * 1e3)
        if not ok:
            sys.exit("peer: hash-only verify of a fresh save failed")


def checked_load(data_path, meta_path):
    """The graph when its checksum matches its meta, else None."""
    try:
        with open(meta_path) as f:
            expected = json.load(f).get("checksum")
    except (OSError, ValueError):
        return None
    if sha256_file(data_path) != expected:
        return None
    with open(data_path) as f:
        return json.load(f)


def load(storage):
    path = os.path.join(storage, "graph.json")
    return checked_load(path, path + ".meta")


def load_with_recovery(storage):
    graph = load(storage)
    if graph is not None:
        return graph, "primary"
    backups = os.path.join(storage, "backups")
    # Names carry the time; newest first.
    stems = sorted(
        (n[: -len(".json")] for n in os.listdir(backups) if n.endswith(".json")),
        reverse=True,
    )
    for stem in stems:
        data = os.path.join(backups, stem + ".json")
        meta = os.path.join(backups, stem + ".meta")
        graph = checked_load(data, meta)
        if graph is not None:
            primary = os.path.join(storage, "graph.json")
            shutil.copy(data, primary)
            shutil.copy(meta, primary + ".meta")
            return graph, stem
    return None, ""


def flip_middle_bit(path):
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        middle = f.tell() // 2
        f.seek(middle)
        byte = f.read(1)
        f.seek(middle)
        f.write(bytes([byte[0] ^ 0x01]))


def clear_files(directory):
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                os.remove(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", required=True, help="a graph.json to start from")
    parser.add_argument("--workdir", required=True, help="scratch directory (created)")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--damaged-backups", type=int, default=3)
    parser.add_argument("--history", type=int, default=0,
                        help="also time save with retention and verify on a store of N backups")
    args = parser.parse_args()

    with open(args.graph) as f:
        graph = json.load(f)
    result = {
        "python": sys.version.split()[0],
        "bytes": os.path.getsize(args.graph),
        "reps": args.reps,
        "save_ms": [],
        "load_ms": [],
        "recovery_ms": [],
        "recovered_from": "",
        "save_retention_ms": [],
        "verify_ms": [],
        "recovery_newest_ms": [],
    }
    if args.history > 0:
        bench_history(graph, args.workdir, args.reps, args.history, result)

    storage = os.path.join(args.workdir, "storage")
    os.makedirs(storage, exist_ok=True)
    for _ in range(args.reps):
        clear_files(os.path.join(storage, "backups"))
        started = time.perf_counter()
        save_with_backup(graph, storage)
        result["save_ms"].append((time.perf_counter() - started) * 1e3)

    for _ in range(args.reps):
        started = time.perf_counter()
        loaded = load(storage)
        result["load_ms"].append((time.perf_counter() - started) * 1e3)
        if loaded is None:
            sys.exit("peer: load of a fresh save failed its checksum")
        del loaded

    # Recovery: a good backup, then newer damaged ones, and a damaged primary.
    clear_files(os.path.join(storage, "backups"))
    primary = os.path.join(storage, "graph.json")
    checksum = sha256_file(primary)
    backups = os.path.join(storage, "backups")
    base = datetime.now() - timedelta(hours=1)
    stems = []
    for k in range(args.damaged_backups + 1):
        when = base + timedelta(seconds=k)
        stem = "graph_" + when.strftime("%Y%m%d_%H%M%S")
        shutil.copy(primary, os.path.join(backups, stem + ".json"))
        with open(os.path.join(backups, stem + ".meta"), "w") as f:
            json.dump(meta_for(checksum, when), f, indent=2)
        stems.append(stem)
    for stem in stems[1:]:
        flip_middle_bit(os.path.join(backups, stem + ".json"))
    for _ in range(args.reps):
        flip_middle_bit(primary)
        started = time.perf_counter()
        loaded, source = load_with_recovery(storage)
        result["recovery_ms"].append((time.perf_counter() - started) * 1e3)
        if loaded is None or source != stems[0]:
            sys.exit("peer: recovery did not restore the good backup (got %r)" % source)
        result["recovered_from"] = source
        del loaded

    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
