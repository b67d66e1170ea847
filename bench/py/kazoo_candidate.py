"""A kazoo Election candidate (the outside peer of `make bench`), writing the
same JSON-lines trace as zkha's candidates (t = CLOCK_MONOTONIC in ms).

usage: kazoo_candidate.py HOSTS PATH NAME SESSION_TIMEOUT_MS TRACE
SIGTERM: leave gracefully (release, close the session).
"""
import json
import os
import signal
import sys
import threading
import time

from kazoo.client import KazooClient

hosts, path, name, timeout_ms, trace_path = sys.argv[1:6]
out = open(trace_path, "a", buffering=1)
stop = threading.Event()


def emit(event, **fields):
    line = {"t": time.monotonic() * 1000.0, "who": name, "pid": os.getpid(), "event": event}
    line.update(fields)
    out.write(json.dumps(line) + "\n")


signal.signal(signal.SIGTERM, lambda *_: stop.set())
emit("init", clientid="0x0")
zk = KazooClient(hosts=hosts, timeout=int(timeout_ms) / 1000.0)
zk.start()
emit("connected", session=hex(zk.client_id[0]))


def lead():
    emit("became_master", path=path, token=0)
    stop.wait()
    emit("lost_master", reason="shutdown")


election = zk.Election(path, name)
emit("standby")
runner = threading.Thread(target=election.run, args=(lead,), daemon=True)
runner.start()
stop.wait()
election.cancel()
zk.stop()
zk.close()
emit("exit")
