"""``/api/docs``: the OpenAPI description as a plain HTML page, with nothing from outside.

FastAPI's built-in docs load Swagger UI from a CDN, which would leak to a third party that
the user runs Umbra; this page is rendered here from the same ``/api/openapi.json``, with one
local stylesheet and no script.
"""

from typing import Any

from jinja2 import Environment

_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

_PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/api/docs.css">
<title>{{ info.title }} API</title></head>
<body><main>
<h1>{{ info.title }} API <small>{{ info.version }}</small></h1>
<p>{{ info.description }}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> (the token is the
<code>token=</code> part of the link <code>umbra open</code> prints), or from the browser with the
session cookie plus an <code>X-CSRF-Token</code> header on changes (from
<code>GET /api/v1/session</code>). Errors are <code>{"error": "a sentence"}</code> with a 4xx
status. The machine-readable description is at
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
<nav><ul>
{% for op in ops %}<li><a href="#{{ op.id }}"><b>{{ op.method }}</b> {{ op.path }}</a>
  {{ op.summary }}</li>
{% endfor %}</ul></nav>
{% for op in ops %}
<section id="{{ op.id }}">
<h2><span class="method">{{ op.method }}</span> <code>{{ op.path }}</code></h2>
<p><b>{{ op.summary }}</b></p>
{% for para in op.description %}<p>{{ para }}</p>{% endfor %}
{% if op.params %}<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Notes</th></tr>
{% for p in op.params %}<tr><td><code>{{ p.name }}</code>{% if p.required %} *{% endif %}</td>
<td>{{ p.where }}</td><td>{{ p.type }}</td><td>{{ p.notes }}</td></tr>{% endfor %}
</table>{% endif %}
{% if op.form %}<p>Body: <code>{{ op.body_type }}</code></p>
<table><tr><th>Field</th><th>Type</th><th>Notes</th></tr>
{% for f in op.form %}<tr><td><code>{{ f.name }}</code></td><td>{{ f.type }}</td>
<td>{{ f.notes }}</td></tr>{% endfor %}</table>{% endif %}
<p>Responses: {% for code in op.responses %}<code>{{ code }}</code> {% endfor %}</p>
</section>
{% endfor %}
</main></body></html>
"""
)

DOCS_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1d232a; background: #fafafa; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
section { background: #fff; border: 1px solid #dde; border-radius: 8px; padding: 0 1rem;
  margin: 1rem 0; overflow-x: auto; }
.method { background: #2d4f7c; color: #fff; padding: 0 .4rem; border-radius: 4px; }
table { border-collapse: collapse; margin-bottom: 1rem; }
td, th { border: 1px solid #dde; padding: .2rem .5rem; text-align: left; vertical-align: top; }
code { font-family: ui-monospace, monospace; }
nav li { margin: .2rem 0; }
"""


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/schemas/Name``) to the schema it names."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(schema.get("format") or schema.get("type") or "any")


def _notes(schema: dict[str, Any], description: str = "") -> str:
    notes = [description] if description else []
    for key, label in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("default", "default"),
        ("example", "e.g."),
    ):
        if key in schema:
            notes.append(f"{label} {schema[key]}")
    if schema.get("description"):
        notes.append(str(schema["description"]))
    return "; ".join(notes)


def render_docs(spec: dict[str, Any]) -> str:
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {
                    "name": p["name"],
                    "where": p["in"],
                    "required": p.get("required", False),
                    "type": _type(p.get("schema", {})),
                    "notes": _notes(p.get("schema", {}), p.get("description", "")),
                }
                for p in op.get("parameters", [])
            ]
            content = op.get("requestBody", {}).get("content", {})
            body_type = next(iter(content), "")
            form_schema = _resolve(spec, content.get(body_type, {}).get("schema", {}))
            required = set(form_schema.get("required", []))
            form = [
                {
                    "name": name + (" *" if name in required else ""),
                    "type": _type(_resolve(spec, s)),
                    "notes": _notes(_resolve(spec, s)),
                }
                for name, s in form_schema.get("properties", {}).items()
            ]
            ops.append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": [
                        " ".join(p.split()) for p in op.get("description", "").split("\n\n") if p
                    ],
                    "params": params,
                    "form": form,
                    "body_type": body_type,
                    "responses": sorted(op.get("responses", {})),
                }
            )
    return _PAGE.render(info=spec.get("info", {}), ops=ops)
