"""``toolserver check``: what in a set of plugins would hurt a model or a strict client.

The server refuses outright only what it cannot serve. Many definitions load fine and still make
an agent worse: a tool without a description is a name the model has to guess about, a schema
with a construct that a strict client refuses makes that client drop the tool or the whole
server, and a tool that books something without an idempotency marker books it twice when
BlackBox retries the webhook. :func:`check_plugins` finds these before an agent does; the CLI
prints them and exits non-zero on errors, so CI can run it.

The rules (:data:`RULES`), by code:

======================================  ========  ==============================================
code                                    severity  what it means
======================================  ========  ==============================================
``invalid-settings``                    error     the plugin's settings do not validate: the
                                                  server would refuse to start
``invalid-name``                        error     BlackBox rejects the tool's name
                                                  (``^[a-zA-Z_][a-zA-Z0-9_]*$``, at most 64)
``duplicate-name``                      error     two tools share a name
``missing-description``                 error     the tool has no description
``schema-unavailable``                  error     no schema can be made (e.g. a recursive type)
``schema-not-object``                   error     the input schema is not ``type: object``
``schema-top-level-combinator``         error     the input schema's top level is an
                                                  ``anyOf``/``oneOf``/``allOf``/``not``/``enum``
``schema-ref``                          error     ``$ref``/``$defs`` remain (BlackBox and several
                                                  MCP clients do not resolve references)
``missing-parameter-description``       warning   a parameter has no description
``side-effects-unmarked``               warning   the name says the tool changes something, but
                                                  it has neither ``side_effects=True`` nor
                                                  ``idempotent=True``
``schema-untyped``                      warning   a value has no ``type`` (any JSON accepted)
``schema-open-object``                  warning   an object accepts properties it does not list
``schema-unsupported-keyword``          warning   a keyword outside the strict subset
``schema-unsupported-format``           warning   a ``format`` outside the strict subset
``schema-type-union``                   warning   a ``type`` array such as ``["string", "null"]``
                                                  (input or output schema)
``schema-boolean``                      error     a bare ``true``/``false`` where a schema object
                                                  is expected (input or output schema)
======================================  ========  ==============================================

The output schema is held to the portability rules MCP Inspector's strict mode applies to both
schemas (:mod:`.portability`): no ``type`` arrays, no boolean schemas, no references, no value
without a type. An Inspector ``--strict`` run and ``toolserver check`` so report the same
problems.

"Strict" means the subset of JSON Schema that OpenAI's strict function calling (Structured
Outputs) accepts, the narrowest of the common clients; a schema inside it also reads well in
BlackBox, MCP clients and Gemini-style function declarations. In it: the types string, number,
integer, boolean, object, array and null (alone or as a ``type`` list), ``enum``, ``const``,
nested ``anyOf``, ``properties``/``required``/``additionalProperties: false``, ``items``, the
descriptive keywords and simple value constraints, and the formats listed in
:data:`STRICT_FORMATS`. Not in it: ``oneOf``, ``allOf``, ``not``, ``if``/``then``/``else``,
``patternProperties``, ``dependentRequired``/``dependentSchemas``, ``prefixItems``, ``contains``,
``unevaluated*`` and references. Optional parameters are allowed: every client in use accepts
them, and marking every parameter required would make models invent values.

Whether a tool "changes something" is read from the first word of its name
(:data:`CHANGING_VERBS`: ``create_lead``, ``bookAppointment``); a tool whose name says so but that
changes nothing is tagged ``read_only`` (``@plugin.tool(tags=("read_only",))``) to say it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from toolserver.core.errors import PluginError
from toolserver.core.plugin import MAX_TOOL_NAME_LENGTH, Plugin, Tool, validate_tool_name
from toolserver.core.schema import tool_schema
from toolserver.devtools.portability import lint_schema

__all__ = [
    "CHANGING_VERBS",
    "READ_ONLY_TAG",
    "RULES",
    "STRICT_FORMATS",
    "Finding",
    "Rule",
    "Severity",
    "check_plugins",
    "check_schema",
    "check_tool",
    "format_findings",
    "suggest_tool_name",
]

Severity = Literal["error", "warning"]


@dataclasses.dataclass(slots=True, frozen=True)
class Rule:
    """One kind of problem ``check`` looks for."""

    code: str
    severity: Severity
    summary: str


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("invalid-settings", "error", "the plugin's settings do not validate"),
        Rule("invalid-name", "error", "BlackBox rejects the tool's name"),
        Rule("duplicate-name", "error", "two tools share a name"),
        Rule("missing-description", "error", "the tool has no description"),
        Rule("schema-unavailable", "error", "no input schema can be made"),
        Rule("schema-not-object", "error", "the input schema is not an object"),
        Rule(
            "schema-top-level-combinator",
            "error",
            "the input schema's top level is a combinator or an enum",
        ),
        Rule("schema-ref", "error", "the schema keeps $ref or $defs"),
        Rule("missing-parameter-description", "warning", "a parameter has no description"),
        Rule(
            "side-effects-unmarked",
            "warning",
            "a tool that changes something has no idempotency marker",
        ),
        Rule("schema-untyped", "warning", "a value has no type"),
        Rule("schema-open-object", "warning", "an object accepts properties it does not list"),
        Rule("schema-unsupported-keyword", "warning", "a keyword strict clients refuse"),
        Rule("schema-unsupported-format", "warning", "a format strict clients refuse"),
        Rule("schema-type-union", "warning", "a type array where anyOf branches are portable"),
        Rule("schema-boolean", "error", "a bare true/false where a schema object is expected"),
    )
}

STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_UNSUPPORTED_KEYWORDS = (
    "oneOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentRequired",
    "dependentSchemas",
    "prefixItems",
    "contains",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_TOP_LEVEL_COMBINATORS = ("anyOf", "oneOf", "allOf", "not", "enum")
_REFERENCES = ("$ref", "$defs", "definitions", "$dynamicRef")

CHANGING_VERBS = frozenset(
    """
    add append apply approve archive assign book buy cancel charge confirm create decline delete
    deposit disable enable enroll insert invite issue mark modify move patch pay place post
    purchase put redeem refund register reject release remove rename renew reschedule reserve
    reset restore revoke save schedule send set submit subscribe transfer unsubscribe update
    upsert upload void withdraw write
    """.split()
)
READ_ONLY_TAG = "read_only"


@dataclasses.dataclass(slots=True, frozen=True)
class Finding:
    """One problem: where it is, what it is, and what to do about it.

    Attributes:
        code: the rule's code (see :data:`RULES`).
        severity: ``error`` fails ``toolserver check``; ``warning`` does only with ``--strict``.
        plugin: the plugin the problem is in.
        tool: the tool, or None for a problem of the plugin as a whole.
        problem: what is wrong, in one sentence.
        hint: how to fix it.
    """

    code: str
    severity: Severity
    plugin: str
    tool: str | None
    problem: str
    hint: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _finding(code: str, plugin: str, tool: str | None, problem: str, hint: str) -> Finding:
    return Finding(code, RULES[code].severity, plugin, tool, problem, hint)


def suggest_tool_name(name: str) -> str:
    """A name BlackBox accepts, made from ``name`` (``check-order.v2`` -> ``check_order_v2``)."""
    candidate = re.sub(r"[^a-zA-Z0-9_]+", "_", name).strip("_") or "tool"
    if candidate[0].isdigit():
        candidate = f"_{candidate}"
    return candidate[:MAX_TOOL_NAME_LENGTH]


def _first_word(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.split(r"[^a-zA-Z0-9]+|_", snake.lower(), maxsplit=1)[0]


# -- schema walking ------------------------------------------------------------------------------


def _walk(schema: Any, path: str, value: bool = True) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every subschema with a readable location (``customer.address``, ``items[]``), and whether
    it describes a value (a property, an item) rather than a branch of a combinator."""
    if not isinstance(schema, dict):
        return
    yield path, schema, value
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}" if path else name)
    for key in ("items", "additionalProperties", "contains", "not", "if", "then", "else"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            suffix = "[]" if key == "items" else f"<{key}>"
            yield from _walk(sub, f"{path}{suffix}" if path else suffix, key == "items")
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for index, sub in enumerate(schema.get(key) or ()):
            yield from _walk(sub, f"{path}<{key}[{index}]>", key == "prefixItems")
    for key in ("patternProperties", "dependentSchemas", "$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            yield from _walk(sub, f"{path}<{key}:{name}>", False)


def _where(path: str) -> str:
    return f"parameter {path!r}" if path else "the input schema"


def check_schema(
    schema: dict[str, Any], *, plugin: str = "", tool: str | None = None
) -> list[Finding]:
    """The strict-client findings for one input schema (also usable on a hand-written one)."""
    found: list[Finding] = []
    if schema.get("type") != "object":
        found.append(
            _finding(
                "schema-not-object",
                plugin,
                tool,
                f"the input schema has type {schema.get('type')!r}, not 'object'",
                "tool arguments are always a JSON object: take named parameters",
            )
        )
    combinators = [k for k in _TOP_LEVEL_COMBINATORS if k in schema]
    if combinators:
        found.append(
            _finding(
                "schema-top-level-combinator",
                plugin,
                tool,
                f"the input schema's top level uses {', '.join(combinators)}",
                "strict clients need a plain object at the top: make the alternatives separate "
                "tools, or one parameter that holds them",
            )
        )
    refs_reported = False
    for path, node, is_value in _walk(schema, ""):
        refs = [k for k in _REFERENCES if k in node]
        if refs and not refs_reported:
            refs_reported = True
            found.append(
                _finding(
                    "schema-ref",
                    plugin,
                    tool,
                    f"{_where(path)} keeps {', '.join(refs)}",
                    "inline the referenced schema; BlackBox and several MCP clients do not "
                    "resolve references",
                )
            )
        if path and is_value and not _typed(node):
            found.append(
                _finding(
                    "schema-untyped",
                    plugin,
                    tool,
                    f"{_where(path)} has no type, so any JSON value is accepted",
                    "annotate it with a concrete type (str, int, a model, a Literal, ...)",
                )
            )
        if _is_open_object(node) and path:
            found.append(
                _finding(
                    "schema-open-object",
                    plugin,
                    tool,
                    f"{_where(path)} is an object that accepts properties it does not list",
                    "describe it with a pydantic model whose model_config has extra='forbid' "
                    "(a dict cannot say which keys it takes)",
                )
            )
        unsupported = [k for k in _UNSUPPORTED_KEYWORDS if k in node]
        if unsupported:
            found.append(
                _finding(
                    "schema-unsupported-keyword",
                    plugin,
                    tool,
                    f"{_where(path)} uses {', '.join(unsupported)}",
                    "strict clients accept only anyOf among the combinators; a plain union "
                    "(X | Y) without a discriminator renders as anyOf",
                )
            )
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt not in STRICT_FORMATS:
            found.append(
                _finding(
                    "schema-unsupported-format",
                    plugin,
                    tool,
                    f"{_where(path)} has format {fmt!r}",
                    f"strict clients accept only {', '.join(sorted(STRICT_FORMATS))}; take a "
                    "plain str and validate it in the tool",
                )
            )
    return found


def _typed(node: dict[str, Any]) -> bool:
    if "type" in node or "enum" in node or "const" in node:
        return True
    for key in ("anyOf", "oneOf", "allOf"):
        options = node.get(key)
        if (
            isinstance(options, list)
            and options
            and all(isinstance(o, dict) and _typed(o) for o in options)
        ):
            return True
    return False


def _is_open_object(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    is_object = kind == "object" or (isinstance(kind, list) and "object" in kind)
    if not is_object:
        return False
    return node.get("additionalProperties", True) is not False


# -- per tool ------------------------------------------------------------------------------------


def check_tool(tool: Tool) -> list[Finding]:
    """Everything wrong with one tool (names are checked against each other by
    :func:`check_plugins`)."""
    plugin, name = tool.plugin, tool.name
    found: list[Finding] = []
    problem = validate_tool_name(name)
    if problem:
        found.append(
            _finding(
                "invalid-name",
                plugin,
                name,
                f"the name {name!r} is refused: {problem}",
                f"rename it: @plugin.tool(name={suggest_tool_name(name)!r})",
            )
        )
    if not tool.description.strip():
        found.append(
            _finding(
                "missing-description",
                plugin,
                name,
                "the tool has no description, so the model cannot tell when to use it",
                "write a docstring: what the tool does, when to use it and what to ask the "
                "caller first",
            )
        )
    try:
        schema = tool_schema(tool)
    except Exception as exc:  # PluginError for recursive types; anything else is just as fatal
        found.append(
            _finding(
                "schema-unavailable",
                plugin,
                name,
                f"no input schema can be made: {exc}",
                "use plain, non-recursive types for the parameters",
            )
        )
        return found
    input_schema = schema.input_schema
    for parameter, prop in (input_schema.get("properties") or {}).items():
        if not isinstance(prop, dict) or not str(prop.get("description") or "").strip():
            found.append(
                _finding(
                    "missing-parameter-description",
                    plugin,
                    name,
                    f"parameter {parameter!r} has no description",
                    f"add '{parameter}: ...' under 'Args:' in the docstring, or annotate it "
                    "with Annotated[..., Field(description=...)]",
                )
            )
    if (
        not tool.side_effects
        and not tool.idempotent
        and READ_ONLY_TAG not in tool.tags
        and _first_word(name) in CHANGING_VERBS
    ):
        found.append(
            _finding(
                "side-effects-unmarked",
                plugin,
                name,
                f"the name says the tool changes something ({_first_word(name)!r}), but a "
                "retried call would run it again",
                "@plugin.tool(side_effects=True) makes a retry with the same callId return the "
                "first result; idempotent=True if running twice is harmless; "
                f"tags=({READ_ONLY_TAG!r},) if it changes nothing",
            )
        )
    found.extend(check_schema(input_schema, plugin=plugin, tool=name))
    found.extend(_portability(input_schema, "input", plugin, name))
    if schema.output_schema is not None:
        found.extend(_portability(schema.output_schema, "output", plugin, name))
    return found


_PORTABILITY_CODES = {
    "type-union": "schema-type-union",
    "boolean-schema": "schema-boolean",
    "remote-ref": "schema-ref",
    "untyped-schema": "schema-untyped",
}


def _portability(schema: dict[str, Any], which: str, plugin: str, tool: str) -> list[Finding]:
    """MCP Inspector's strict-mode findings for one schema (:mod:`.portability`).

    On the input schema, what :func:`check_schema` already reports is not reported twice: an
    untyped value, a reference.
    """
    found = []
    for lint in lint_schema(schema):
        if which == "input" and (
            lint.rule == "remote-ref" or (lint.rule == "untyped-schema" and lint.value)
        ):
            continue
        where = f"the {which} schema" + (f" at {lint.path}" if lint.path else "")
        found.append(
            _finding(_PORTABILITY_CODES[lint.rule], plugin, tool, f"{where}: {lint.problem}", lint.hint)
        )
    return found


def check_plugins(plugins: Iterable[Plugin], *, settings: bool = True) -> list[Finding]:
    """Every finding for ``plugins``, plugin by plugin and tool by tool in definition order.

    Args:
        settings: also validate each plugin's settings from the environment, as the server does
            when it starts.
    """
    found: list[Finding] = []
    owners: dict[str, str] = {}
    for plugin in plugins:
        if settings and plugin.settings_class is not None:
            try:
                plugin.load_settings()
            except PluginError as exc:
                found.append(
                    _finding(
                        "invalid-settings",
                        plugin.name,
                        None,
                        str(exc),
                        f"set the variables named ({plugin.env_prefix}...) or give the fields "
                        "defaults",
                    )
                )
        for tool in plugin.tools:
            if tool.name in owners:
                found.append(
                    _finding(
                        "duplicate-name",
                        plugin.name,
                        tool.name,
                        f"the name {tool.name!r} is also used by "
                        + (
                            "another tool of this plugin"
                            if owners[tool.name] == plugin.name
                            else f"plugin {owners[tool.name]!r}"
                        ),
                        "rename one of them: @plugin.tool(name=...)",
                    )
                )
            else:
                owners[tool.name] = plugin.name
            found.extend(check_tool(tool))
    return found


def format_findings(plugins: Sequence[Plugin], findings: Sequence[Finding]) -> str:
    """The report ``toolserver check`` prints: every tool of every plugin, each with ``ok`` or
    its findings and how to fix them, then a summary line."""
    lines: list[str] = []
    by_place: dict[tuple[str, str | None], list[Finding]] = {}
    for f in findings:
        by_place.setdefault((f.plugin, f.tool), []).append(f)

    def block(label: str, found: list[Finding]) -> None:
        if not found:
            lines.append(f"  ok       {label}")
        for f in found:
            lines.append(f"  {f.severity:<7}  {label}  [{f.code}] {f.problem}")
            lines.append(f"  {'':<7}  {' ' * len(label)}  fix: {f.hint}")

    tools = 0
    for plugin in plugins:
        lines.append(
            f"{plugin.name} ({len(plugin.tools)} tool{'s' if len(plugin.tools) != 1 else ''})"
        )
        if (plugin.name, None) in by_place:
            block("(settings)", by_place[(plugin.name, None)])
        seen: set[str] = set()
        for tool in plugin.tools:
            tools += 1
            if tool.name in seen:
                continue
            seen.add(tool.name)
            block(tool.name, by_place.get((plugin.name, tool.name), []))
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if lines:
        lines.append("")
    lines.append(
        f"{tools} tool{'s' if tools != 1 else ''} in {len(plugins)} "
        f"plugin{'s' if len(plugins) != 1 else ''} checked: "
        f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
    )
    return "\n".join(lines)
