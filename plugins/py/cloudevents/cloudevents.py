"""cloudevents, in Python: the Rust example's behaviour (../../cloudevents/src/lib.rs) on
the Python SDK (guest/py). Each event as a CloudEvents 1.0 structured-mode JSON event.

    plugin_config = { source = "https://hookline.example.com", type_prefix = "com.example" }

- ``source`` (string, default "hookline", not empty): the CloudEvents ``source``;
- ``type_prefix`` (string, default none): prepended to the event type, joined with a ``.``
  unless it already ends with one.
"""

import json

from hookline_plugin import Plugin, read_config, send

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


def read(config):
    cfg = read_config(config, ["source", "type_prefix"])
    source = cfg.get("source", "hookline")
    if not isinstance(source, str):
        raise ValueError("plugin_config: `source`: must be a string")
    if not source:
        raise ValueError("plugin_config: `source` must not be empty")
    prefix = cfg.get("type_prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ValueError("plugin_config: `type_prefix`: must be a string")
    return source, prefix


class WitWorld(Plugin):
    def check(self, config):
        read(config)

    def handle(self, event, webhook, config):
        source, prefix = read(config)
        kind = event.type
        if prefix:
            kind = prefix + kind if prefix.endswith(".") else prefix + "." + kind
        attributes = {"specversion": "1.0", "id": event.id, "source": source, "type": kind, "time": event.timestamp}
        r = event.resource
        if r.id:
            attributes["subject"] = f"{r.type}/{r.id}" if r.type else r.id
        data = event.data.strip()
        has_data = data != "null"
        if has_data:
            attributes["datacontenttype"] = "application/json"
        text = json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)
        if has_data:
            text = text[:-1] + ',"data":' + data + "}"
        return send(text, content_type=CONTENT_TYPE)
