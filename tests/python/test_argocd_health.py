"""The Argo CD health check (deploy/argocd/osmsync-health.lua) run by a real Lua interpreter
(lupa, PyPI) on OsmSync objects in each state. Prints one line per case and "N passed, N failed".
"""
import os
import sys

import lupa

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = open(os.path.join(REPO, "deploy", "argocd", "osmsync-health.lua")).read()


def health(obj):
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    # Argo CD passes the object as the global `obj` (a Lua table).
    lua.globals().obj = lua.table_from(to_lua(lua, obj))
    result = lua.execute(SCRIPT)
    return result["status"], result["message"]


def to_lua(lua, v):
    if isinstance(v, dict):
        return {k: (lua.table_from(to_lua(lua, x)) if isinstance(x, (dict, list)) else x) for k, x in v.items()}
    if isinstance(v, list):
        return [lua.table_from(to_lua(lua, x)) if isinstance(x, (dict, list)) else x for x in v]
    return v


def sync(generation=1, status=None, suspend=False):
    o = {"metadata": {"name": "osm", "generation": generation}, "spec": {"interval": "5m", "suspend": suspend}}
    if status is not None:
        o["status"] = status
    return o


def cond(t, s, reason, message="m"):
    return {"type": t, "status": s, "reason": reason, "message": message}


CASES = [
    ("no status yet", sync(), "Progressing"),
    ("CRD default: not observed", sync(status={"observedGeneration": -1}), "Progressing"),
    ("new generation not observed", sync(2, {"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded")]}), "Progressing"),
    ("ready", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:1")]}), "Healthy"),
    ("failed", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "OperationFailed", "helm failed")]}), "Degraded"),
    ("stalled", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "InvalidSpec"), cond("Stalled", "True", "InvalidSpec", "bad")]}), "Degraded"),
    ("waiting for a dependency", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "DependencyNotReady")]}), "Progressing"),
    ("retrying blocked work", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "ProgressingWithRetry"), cond("Reconciling", "True", "ProgressingWithRetry")]}), "Progressing"),
    ("applying", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "Unknown", "Progressing"), cond("Reconciling", "True", "Progressing")]}), "Progressing"),
    ("suspended", sync(2, {"observedGeneration": 2}, suspend=True), "Suspended"),
    ("a plan awaits approval", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "AwaitingApproval")]}), "Suspended"),
    ("a failed batch paused the rollout", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "RolloutPaused")]}), "Degraded"),
    ("drift only reported", sync(1, {"observedGeneration": 1, "conditions": [cond("Ready", "True", "ReconciliationSucceeded"), cond("Drifted", "True", "DriftDetected", "NsInstance a: deleted")]}), "Healthy"),
]

failed = 0
for name, obj, want in CASES:
    got, message = health(obj)
    ok = got == want
    failed += 0 if ok else 1
    print(f"{'ok  ' if ok else 'FAIL'}  {name}: {got} ({message})" + ("" if ok else f", want {want}"))
got, message = health(CASES[4][1])
if "OperationFailed: helm failed" not in message:
    failed += 1
    print(f"FAIL  the message carries the reason and OSM's error: {message}")
got, message = health(CASES[-1][1])
if "NsInstance a: deleted" not in message:
    failed += 1
    print(f"FAIL  reported drift shows in the message: {message}")
print(f"{len(CASES) + 2 - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
