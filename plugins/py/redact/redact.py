"""redact, in Python: the Rust example's behaviour (../../redact/src/lib.rs) on the Python
SDK (guest/py). Sends the usual body with configured fields removed or masked.

    plugin_config = { remove = ["data.prompt"], mask = ["resource.labels.email"], mask_with = "***" }

Paths are rooted at the body (``event``, ``timestamp``, ``resource``, ``data``):
``data.prompt``, ``data.items.*.token``, ``data.items.0`` or ``data.items[0]``,
``resource.labels["app.kubernetes.io/owner"]``. A path reaching nothing is ignored; removal
happens before masking. Without paths the body is the host's default body, byte for byte;
with paths it is parsed and written again (key order kept).
"""

import json
import re

from hookline_plugin import Plugin, default_body, default_body_text, read_config, send

ROOTS = ("event", "timestamp", "resource", "data")
ANY = object()


def parse_path(path):
    """``data.items[0]["a.b"].*`` -> ["data", "items", 0, "a.b", ANY]"""
    def bad(why):
        raise ValueError(f"path `{path}`: {why}")

    segments, i = [], 0
    while i < len(path):
        if path[i] == "[":
            end = path.find("]", i)
            if end < 0:
                bad(f"unclosed `[` at byte {i}")
            inner = path[i + 1:end]
            if re.fullmatch(r"[0-9]+", inner):
                segments.append(int(inner))
            elif len(inner) >= 2 and inner[0] == '"' and inner[-1] == '"':
                segments.append(json.loads(inner))
            else:
                bad(f"`[...]` holds an index or a quoted key, at byte {i}")
            i = end + 1
        else:
            end = i
            while end < len(path) and path[end] not in ".[":
                end += 1
            word = path[i:end]
            if not word:
                bad(f"empty segment after the `.` at byte {i - 1}")
            segments.append(ANY if word == "*" else word)
            i = end
        if i < len(path) and path[i] == ".":
            i += 1
            if i >= len(path) or path[i] == ".":
                bad(f"empty segment after the `.` at byte {i - 1}")
        elif i < len(path) and path[i] != "[":
            bad(f"expected `.` or `[` at byte {i}")
    if not segments:
        bad("is empty")
    if segments[0] not in ROOTS:
        bad("must start with `event`, `timestamp`, `resource` or `data` (paths are rooted at the body)")
    return segments


def rules(config):
    cfg = read_config(config, ["remove", "mask", "mask_with"])

    def paths(key):
        value = cfg.get(key, [])
        if not isinstance(value, list):
            raise ValueError(f"plugin_config: `{key}`: must be a list of paths")
        out = []
        for i, p in enumerate(value):
            if not isinstance(p, str):
                raise ValueError(f"plugin_config: {key}[{i}]: must be a string")
            try:
                out.append(parse_path(p))
            except ValueError as e:
                raise ValueError(f"plugin_config: {key}[{i}]: {e}") from None
        return out

    mask_with = cfg.get("mask_with", "***")
    if not isinstance(mask_with, str):
        raise ValueError("plugin_config: `mask_with`: must be a string")
    return paths("remove"), paths("mask"), mask_with


def apply(value, segments, edit):
    if not segments or not isinstance(value, (dict, list)):
        return
    head, rest = segments[0], segments[1:]
    if isinstance(value, list):
        if head is ANY:
            at = list(reversed(range(len(value))))
        else:
            index = head if isinstance(head, int) else int(head) if isinstance(head, str) and head.isdigit() else None
            at = [index] if index is not None and index < len(value) else []
    else:
        key = str(head) if isinstance(head, int) else head
        at = list(value) if head is ANY else [key] if key in value else []
    for k in at:
        if rest:
            apply(value[k], rest, edit)
        else:
            edit(value, k)


def remove(parent, k):
    del parent[k]


class WitWorld(Plugin):
    def check(self, config):
        rules(config)

    def handle(self, event, webhook, config):
        removals, masks, mask_with = rules(config)
        if not removals and not masks:
            return send(default_body_text(event))
        try:
            body = default_body(event)
        except ValueError as e:
            raise ValueError(f"event `{event.type}`: data: {e}") from None
        for path in removals:
            apply(body, path, remove)
        for path in masks:
            apply(body, path, lambda parent, k: parent.__setitem__(k, mask_with))
        return send(body)
