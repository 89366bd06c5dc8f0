"""Hookline plugin SDK for Python: helpers over the bindings componentize-py generates for
the ``hookline:plugin/plugin`` world (``guest/wit/plugin.wit``), as the module ``wit_world``.

A plugin module defines ``class WitWorld(Plugin)`` implementing ``handle(event, webhook,
config)`` and, optionally, ``check(config)``; either raises ``ValueError`` with a message to
fail the delivery or refuse the configuration. Build it with ``guest/py/build.sh``
(README.md walks through it).
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import types

__all__ = [
    "Plugin",
    "default_body",
    "default_body_text",
    "fail",
    "log",
    "read_config",
    "resource_object",
    "send",
    "skip",
]


def resource_object(resource):
    """The resource as the host writes it: ``{id, type, labels?, annotations?}``."""
    out = {"id": resource.id, "type": resource.type}
    if resource.labels:
        out["labels"] = dict(resource.labels)
    if resource.annotations:
        out["annotations"] = dict(resource.annotations)
    return out


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def default_body_text(event):
    """The body the host sends without a plugin, byte for byte: ``data`` embedded verbatim."""
    return (
        '{"event":' + _compact(event.type)
        + ',"timestamp":' + _compact(event.timestamp)
        + ',"resource":' + _compact(resource_object(event.resource))
        + ',"data":' + event.data + "}"
    )


def default_body(event):
    """The default body as a dict, to edit and serialise again."""
    return {
        "event": event.type,
        "timestamp": event.timestamp,
        "resource": resource_object(event.resource),
        "data": json.loads(event.data),
    }


def send(body, content_type=None, headers=(), url=None):
    """Send ``body``: str or bytes as is, anything else as compact JSON."""
    if isinstance(body, str):
        data = body.encode()
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    else:
        data = _compact(body).encode()
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    return types.Outcome_Send(types.Request(body=data, content_type=content_type, headers=pairs, url=url))


def skip(reason):
    """Do not deliver this event to this webhook; ``reason`` is recorded."""
    return types.Outcome_Skip(str(reason))


def fail(message):
    """Fail this delivery with ``message``."""
    return types.Outcome_Fail(str(message))


def read_config(config, allowed):
    """``plugin_config`` as a dict, refusing keys not in ``allowed`` (``ValueError`` naming it)."""
    try:
        value = json.loads(config)
    except ValueError as e:
        raise ValueError(f"plugin_config: not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError("plugin_config: must be an object")
    for key in value:
        if key not in allowed:
            if allowed:
                expected = "expected one of " + ", ".join(f"`{k}`" for k in allowed)
            else:
                expected = "this plugin takes no configuration"
            raise ValueError(f"plugin_config: unknown field `{key}`, {expected}")
    return value


def log(level, message):
    """Writes a line to the host's log (``level``: debug, info, warn, error)."""
    wit_world.log(getattr(types.Level, level.upper()), str(message))


class Plugin(wit_world.WitWorld):
    """Base of a plugin's ``WitWorld``: a ``ValueError`` from ``handle`` fails the delivery,
    one from ``check`` refuses the configuration."""

    def check(self, config):
        """Checks ``plugin_config`` (JSON text); raise ``ValueError`` to refuse it."""

    def handle(self, event, webhook, config):
        """Returns ``send(...)``, ``skip(...)`` or ``fail(...)`` for one event."""
        raise NotImplementedError

    def check_config(self, config):
        try:
            self.check(config)
        except ValueError as e:
            raise Err(str(e)) from None

    def transform(self, event, webhook, config):
        try:
            return self.handle(event, webhook, config)
        except ValueError as e:
            return fail(str(e))
