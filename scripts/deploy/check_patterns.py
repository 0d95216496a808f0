#!/usr/bin/env python3
"""Which of the template's EventBridge rules each sample event in events/ would trigger, with
EventBridge's matching rules: a pattern field matches when any of the event's values there (arrays,
including arrays of objects, are flattened) equals one of the pattern's values or satisfies one
of its filters (prefix, wildcard, anything-but, exists).

    check_patterns.py TEMPLATE EVENTS_DIR NOTIFY_ON_OK(true|false)   → {"file.json": ["Rule", …]}
"""
import json
import sys
from pathlib import Path

import fnmatch

from cfnlint.decode import decode


def resolve(node, notify_ok):
    """Resolves the template's `NotifyOk` condition; other intrinsics do not occur in patterns."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            cond, yes, no = node["Fn::If"]
            assert cond == "NotifyOk", cond
            return resolve(yes if notify_ok else no, notify_ok)
        return {k: resolve(v, notify_ok) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, notify_ok) for v in node]
    return node


def values_at(node, key):
    """The values under `key`, looking through arrays of objects as EventBridge does."""
    if isinstance(node, list):
        return [v for item in node for v in values_at(item, key)]
    if isinstance(node, dict) and key in node:
        v = node[key]
        return v if isinstance(v, list) else [v]
    return []


def leaf_matches(value, rule):
    if not isinstance(rule, dict):
        return value == rule
    (name, arg), = rule.items()
    if name == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if name == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, arg)
    if name == "anything-but":
        return value not in (arg if isinstance(arg, list) else [arg])
    raise ValueError(f"filter {name} not supported here")


def matches(pattern, event):
    for key, rule in pattern.items():
        found = values_at(event, key)
        if isinstance(rule, dict):
            if not any(isinstance(v, dict) and matches(rule, v) for v in found):
                return False
        else:
            exists = [r for r in rule if isinstance(r, dict) and "exists" in r]
            if exists:
                if bool(found) != exists[0]["exists"]:
                    return False
                continue
            if not any(leaf_matches(v, r) for v in found for r in rule):
                return False
    return True


def main():
    template, errors = decode(sys.argv[1])
    if errors:
        raise SystemExit(str(errors))
    notify_ok = sys.argv[3] == "true"
    events = template["Resources"]["DoctorFunction"]["Properties"]["Events"]
    rules = {name: resolve(e["Properties"]["Pattern"], notify_ok) for name, e in events.items() if e["Type"] == "EventBridgeRule"}
    out = {}
    for f in sorted(Path(sys.argv[2]).glob("*.json")):
        event = json.loads(f.read_text())
        out[f.name] = [name for name, pattern in rules.items() if matches(pattern, event)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
