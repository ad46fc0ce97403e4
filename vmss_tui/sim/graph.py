"""Azure Resource Graph: `POST /providers/Microsoft.ResourceGraph/resources` over every
subscription the simulator serves.

It answers a small, honest subset of KQL, the shapes a console sends:

    Resources | where type =~ 'microsoft.compute/virtualmachinescalesets'
              | where subscriptionId in ('...', '...') and tags['env'] == 'prod'
              | extend powerState = properties.extended.instanceView.powerState.code
              | project id, name, resourceGroup, capacity = sku.capacity
              | order by name asc | limit 100
    ResourceContainers | where type =~ 'microsoft.resources/subscriptions'
    Resources | summarize count() by tostring(properties.storageProfile.osDisk.osType)

Rows look as Resource Graph shows them (the ARM body, `type` and `resourceGroup` lower-cased,
`subscriptionId`, `tenantId`, VMs with `properties.extended.instanceView.powerState`), paged
with `$top` and `$skipToken` while the rows carry an `id` (else `resultTruncated` is "true"), and
the index lags ARM by `lag` simulated seconds, as Resource Graph does (up to about a minute).
Anything else is refused with Resource Graph's InvalidQuery / ParserFailure error.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import render
from .resources import ArmError
from .state import DISK, LOAD_BALANCER, NIC, NSG, PUBLIC_IP, SCALE_SET, VIRTUAL_MACHINE, VNET, World

TENANT_ID = "72f988bf-0000-4000-8000-00000000a11e"
DEFAULT_TOP = 100
MAX_TOP = 1000

Row = dict[str, Any]


class QueryError(Exception):
    def __init__(self, message: str, position: int = 0, token: str = "") -> None:
        super().__init__(message)
        self.position = position
        self.token = token


def _invalid_query(error: QueryError, query: str) -> ArmError:
    return ArmError(400, "BadRequest", "Please provide below info when asking for support: the query and this "
                                       "message. (The simulator's Resource Graph answers a subset of KQL.)", details=[
        {"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the Azure "
                                            "Resource Graph service and fix the error before retrying."},
        {"code": "ParserFailure", "message": str(error), "line": 1, "characterPositionInLine": error.position,
         "token": error.token, "expectedToken": ""},
    ])


# ---------------------------------------------------------------------------------------------
# Tokens and expressions

_TOKEN = re.compile(r"""\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<number>\d+(?:\.\d+)?)|
                        (?P<op>!in~|!in|in~|=~|!~|==|!=|<=|>=|[|(),=\[\].<>])|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*))""",
                    re.VERBOSE)


@dataclass
class Token:
    kind: str
    text: str
    position: int


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        match = _TOKEN.match(query, position)
        if match is None or match.end() == position:
            start = len(query) - len(query[position:].lstrip())
            raise QueryError(f"unexpected character {query[start]!r}", start, query[start])
        kind = match.lastgroup or "op"
        text = match.group(kind)
        tokens.append(Token(kind, text, match.start(kind)))
        position = match.end()
    return tokens


Expr = Callable[[Row], Any]


def _lookup(row: Any, path: list[str | int]) -> Any:
    value = row
    for key in path:
        if isinstance(value, dict):
            if isinstance(key, str):
                value = value.get(key) if key in value else next(
                    (v for k, v in value.items() if k.lower() == key.lower()), None)
            else:
                return None
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key] if -len(value) <= key < len(value) else None
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0

    def peek(self, offset: int = 0) -> Token | None:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise QueryError("unexpected end of the query", len(self.query), "<EOF>")
        self.index += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.next()
        if token.text.lower() != text.lower():
            raise QueryError(f"expected {text!r}, found {token.text!r}", token.position, token.text)
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.text.lower() in texts

    # expressions: or > and > not > comparison > primary

    def expression(self) -> Expr:
        left = self.conjunction()
        while self.at("or"):
            self.next()
            right = self.conjunction()
            left = (lambda a, b: lambda row: bool(a(row)) or bool(b(row)))(left, right)
        return left

    def conjunction(self) -> Expr:
        left = self.comparison()
        while self.at("and"):
            self.next()
            right = self.comparison()
            left = (lambda a, b: lambda row: bool(a(row)) and bool(b(row)))(left, right)
        return left

    def comparison(self) -> Expr:
        left = self.primary()
        token = self.peek()
        if token is None or token.text.lower() not in _COMPARISONS and token.text.lower() not in _LIST_OPS:
            return left
        op = self.next().text.lower()
        if op in _LIST_OPS:
            self.expect("(")
            items = [self.primary()]
            while self.at(","):
                self.next()
                items.append(self.primary())
            self.expect(")")
            test = _LIST_OPS[op]
            return lambda row: test(_text(left(row)), [_text(item(row)) for item in items])
        right = self.primary()
        compare = _COMPARISONS[op]
        return lambda row: compare(left(row), right(row))

    def primary(self) -> Expr:
        token = self.next()
        if token.kind == "string":
            value = bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
            return lambda row: value
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return lambda row: number
        if token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind != "word":
            raise QueryError(f"unexpected {token.text!r}", token.position, token.text)
        word = token.text
        if word.lower() in ("true", "false"):
            flag = word.lower() == "true"
            return lambda row: flag
        if self.at("(") and word.lower() in _FUNCTIONS:
            self.next()
            args = [] if self.at(")") else [self.expression()]
            while self.at(","):
                self.next()
                args.append(self.expression())
            self.expect(")")
            function = _FUNCTIONS[word.lower()]
            return lambda row: function(*(a(row) for a in args))
        if self.at("("):
            raise QueryError(f"unknown function {word!r}", token.position, word)
        path: list[str | int] = [word]
        while self.at(".", "["):
            if self.next().text == ".":
                path.append(self.next().text)
            else:
                key = self.next()
                path.append(key.text[1:-1] if key.kind == "string" else int(key.text))
                self.expect("]")
        return lambda row: _lookup(row, path)

    def column_name(self) -> str:
        """For `project x.y`: the name Resource Graph gives the column."""
        start = self.index
        self.primary()
        words = [t.text for t in self.tokens[start:self.index] if t.kind in ("word", "string")]
        words = [w.strip("'\"") for w in words if w.lower() not in _FUNCTIONS]
        return "_".join(words) if len(words) > 1 else (words[0] if words else f"Column{start}")


def _equal_ci(a: Any, b: Any) -> bool:
    return _text(a).lower() == _text(b).lower()


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return _text(a) == _text(b)


def _order(a: Any, b: Any) -> int:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (a > b) - (a < b)
    return (_text(a) > _text(b)) - (_text(a) < _text(b))


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "=~": _equal_ci,
    "!~": lambda a, b: not _equal_ci(a, b),
    "<": lambda a, b: _order(a, b) < 0,
    ">": lambda a, b: _order(a, b) > 0,
    "<=": lambda a, b: _order(a, b) <= 0,
    ">=": lambda a, b: _order(a, b) >= 0,
    "contains": lambda a, b: _text(b).lower() in _text(a).lower(),
    "has": lambda a, b: _text(b).lower() in re.split(r"[^a-z0-9]+", _text(a).lower()),
    "startswith": lambda a, b: _text(a).lower().startswith(_text(b).lower()),
    "endswith": lambda a, b: _text(a).lower().endswith(_text(b).lower()),
}
_LIST_OPS: dict[str, Callable[[str, list[str]], bool]] = {
    "in": lambda v, items: v in items,
    "!in": lambda v, items: v not in items,
    "in~": lambda v, items: v.lower() in {i.lower() for i in items},
    "!in~": lambda v, items: v.lower() not in {i.lower() for i in items},
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tostring": lambda v: _text(v),
    "tolower": lambda v: _text(v).lower(),
    "toupper": lambda v: _text(v).upper(),
    "toint": lambda v: int(v) if isinstance(v, (int, float)) or (isinstance(v, str) and v.isdigit()) else None,
    "tolong": lambda v: int(v) if isinstance(v, (int, float)) or (isinstance(v, str) and v.isdigit()) else None,
    "isnotempty": lambda v: v not in (None, "", [], {}),
    "isempty": lambda v: v in (None, "", [], {}),
    "isnotnull": lambda v: v is not None,
    "isnull": lambda v: v is None,
    "not": lambda v: not v,
    "count": lambda: None,
}


# ---------------------------------------------------------------------------------------------
# The query pipeline


@dataclass
class Query:
    table: str
    type_filter: str | None  # a leading `where type =~ '...'`: only that type needs rendering
    stages: list[Callable[[list[Row]], list[Row]]]


def parse_query(text: str) -> Query:
    parser = Parser(text)
    table_token = parser.next()
    table = table_token.text.lower()
    if table not in ("resources", "resourcecontainers"):
        raise QueryError(f"unknown table {table_token.text!r}: Resources or ResourceContainers",
                         table_token.position, table_token.text)
    stages: list[Callable[[list[Row]], list[Row]]] = []
    type_filter = None
    while parser.peek() is not None:
        parser.expect("|")
        operator = parser.next()
        name = operator.text.lower()
        if name == "where":
            start = parser.index
            condition = parser.expression()
            if not stages and type_filter is None:
                words = [t.text.lower() for t in parser.tokens[start:parser.index]]
                if len(words) == 3 and words[0] == "type" and words[1] in ("=~", "=="):
                    type_filter = words[2].strip("'\"").lower()
            stages.append(_filter(condition))
        elif name in ("project", "extend"):
            columns = []
            while True:
                token, after = parser.peek(), parser.peek(1)
                if token is not None and token.kind == "word" and after is not None and after.text == "=":
                    parser.next()
                    parser.next()
                    columns.append((token.text, parser.expression()))
                else:
                    start = parser.index
                    column = parser.column_name()
                    parser.index = start
                    columns.append((column, parser.expression()))
                if not parser.at(","):
                    break
                parser.next()
            stages.append(_projector(columns, keep=name == "extend"))
        elif name == "project-away":
            names = [parser.next().text]
            while parser.at(","):
                parser.next()
                names.append(parser.next().text)
            stages.append(_remover({n.lower() for n in names}))
        elif name in ("order", "sort"):
            parser.expect("by")
            keys = []
            while True:
                expr = parser.expression()
                descending = True  # KQL sorts descending unless told
                if parser.at("asc", "desc"):
                    descending = parser.next().text.lower() == "desc"
                keys.append((expr, descending))
                if not parser.at(","):
                    break
                parser.next()
            stages.append(_sorter(keys))
        elif name in ("limit", "take"):
            token = parser.next()
            if token.kind != "number":
                raise QueryError(f"{name} needs a number", token.position, token.text)
            stages.append(_limiter(int(token.text)))
        elif name == "count":
            stages.append(lambda rows: [{"Count": len(rows)}])
        elif name == "summarize":
            parser.expect("count")
            parser.expect("(")
            parser.expect(")")
            groups: list[tuple[str, Expr]] = []
            if parser.at("by"):
                parser.next()
                while True:
                    start = parser.index
                    column = parser.column_name()
                    parser.index = start
                    groups.append((column, parser.expression()))
                    if not parser.at(","):
                        break
                    parser.next()
            stages.append(_summarizer(groups))
        else:
            raise QueryError(f"the simulator does not know the operator {operator.text!r}", operator.position,
                             operator.text)
    return Query(table, type_filter, stages)


def _filter(condition: Expr) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: [r for r in rows if condition(r)]


def _projector(columns: list[tuple[str, Expr]], *, keep: bool) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: [{**(row if keep else {}), **{n: e(row) for n, e in columns}} for row in rows]


def _remover(names: set[str]) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: [{k: v for k, v in r.items() if k.lower() not in names} for r in rows]


def _limiter(count: int) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: rows[:count]


def _sorter(keys: list[tuple[Expr, bool]]) -> Callable[[list[Row]], list[Row]]:
    def sort(rows: list[Row]) -> list[Row]:
        result = list(rows)
        for expr, descending in reversed(keys):
            result.sort(key=lambda r: (_text(expr(r)).lower() if not isinstance(expr(r), (int, float)) else expr(r)),
                        reverse=descending)
        return result
    return sort


def _summarizer(groups: list[tuple[str, Expr]]) -> Callable[[list[Row]], list[Row]]:
    def summarize(rows: list[Row]) -> list[Row]:
        counts: dict[tuple[Any, ...], int] = {}
        for row in rows:
            key = tuple(_text(e(row)) for _, e in groups)
            counts[key] = counts.get(key, 0) + 1
        return [{**{name: value for (name, _), value in zip(groups, key, strict=True)}, "count_": n}
                for key, n in counts.items()]
    return summarize


# ---------------------------------------------------------------------------------------------
# The index


_RESOURCE_TYPES = (SCALE_SET, VIRTUAL_MACHINE, DISK, NIC, LOAD_BALANCER, PUBLIC_IP, NSG, VNET)
_RENDERERS: dict[str, Callable[[World, Any], dict[str, Any]]] = {
    SCALE_SET: render.scale_set,
    VIRTUAL_MACHINE: lambda world, vm: render.virtual_machine(world, vm, False),
    DISK: render.disk,
    NIC: lambda world, nic: render.nic(world, nic.instance),
    LOAD_BALANCER: render.load_balancer,
    PUBLIC_IP: render.public_ip,
    NSG: render.network_security_group,
    VNET: render.virtual_network,
}


def resource_row(world: World, kind: str, resource: Any) -> Row:
    body = _RENDERERS[kind](world, resource)
    group = body["id"].split("/")[4]
    row: Row = {
        "id": body["id"],
        "name": body["name"],
        "type": body.get("type", kind).lower(),
        "tenantId": TENANT_ID,
        "kind": "",
        "location": body.get("location", world.location),
        "resourceGroup": group.lower(),
        "subscriptionId": world.subscription_id,
        "managedBy": body.get("managedBy", ""),
        "sku": body.get("sku"),
        "plan": None,
        "properties": body.get("properties", {}),
        "tags": body.get("tags") or {},
        "identity": None,
        "zones": body.get("zones"),
        "extendedLocation": None,
    }
    if kind == VIRTUAL_MACHINE:
        status = render.power_status(resource)
        row["properties"] = {**row["properties"], "extended": {"instanceView": {
            "powerState": {"code": status["code"], "level": "Info", "displayStatus": status["displayStatus"]}}}}
    return row


def container_rows(world: World) -> list[Row]:
    sub = world.subscription_id
    rows: list[Row] = [{
        "id": f"/subscriptions/{sub}", "name": sub, "type": "microsoft.resources/subscriptions", "tenantId": TENANT_ID,
        "kind": "", "location": "", "resourceGroup": "", "subscriptionId": sub, "managedBy": "", "sku": None,
        "plan": None, "properties": {"state": "Enabled", "displayName": world.topology.subscription_name},
        "tags": {}, "identity": None, "zones": None, "extendedLocation": None,
    }]
    for group in world.resource_groups.values():
        rows.append({
            "id": world.rg_id(group), "name": group, "type": "microsoft.resources/subscriptions/resourcegroups",
            "tenantId": TENANT_ID, "kind": "", "location": world.location, "resourceGroup": group.lower(),
            "subscriptionId": sub, "managedBy": "", "sku": None, "plan": None,
            "properties": {"provisioningState": "Succeeded"}, "tags": {}, "identity": None, "zones": None,
            "extendedLocation": None,
        })
    return rows


class ResourceGraph:
    """The Resource Graph of a simulator's subscriptions, lagging ARM by `lag` simulated seconds."""

    def __init__(self, worlds: list[World], lag: float = 0.0) -> None:
        self.worlds = worlds
        self.lag = lag
        self.queries = 0
        self._snapshots: dict[tuple[str, str | None], tuple[float, list[Row]]] = {}

    def _rows(self, table: str, type_filter: str | None, subscriptions: set[str] | None) -> list[Row]:
        now = self.worlds[0].scheduler.now()
        key = (table, type_filter)
        snapshot = self._snapshots.get(key)
        if snapshot is None or self.lag <= 0 or now - snapshot[0] >= self.lag:
            snapshot = (now, list(self._index(table, type_filter)))
            self._snapshots[key] = snapshot
        rows = snapshot[1]
        if subscriptions is not None:
            rows = [r for r in rows if r["subscriptionId"].lower() in subscriptions]
        return rows

    def _index(self, table: str, type_filter: str | None) -> Iterator[Row]:
        for world in self.worlds:
            if table == "resourcecontainers":
                yield from container_rows(world)
                continue
            for kind in _RESOURCE_TYPES:
                if type_filter is not None and kind != type_filter:
                    continue
                for resource in world.store.of_type(kind).values():
                    yield resource_row(world, kind, resource)

    def query(self, body: dict[str, Any], api_version: str = "") -> dict[str, Any]:
        """The answer to one `resources` request."""
        self.queries += 1
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise ArmError(400, "BadRequest", "The request must have a query.",
                           details=[{"code": "InvalidQuery", "message": "Query is required."}])
        raw_subscriptions = body.get("subscriptions")
        subscriptions = None if raw_subscriptions is None else {str(s).lower() for s in raw_subscriptions}
        if subscriptions is not None and len(subscriptions) > MAX_TOP:
            raise ArmError(400, "BadRequest", f"At most {MAX_TOP} subscriptions per request.")
        options = body.get("options") or {}
        top = options.get("$top", DEFAULT_TOP)
        skip = options.get("$skip", 0) or 0
        if not isinstance(top, int) or not 1 <= top <= MAX_TOP or not isinstance(skip, int) or skip < 0:
            raise ArmError(400, "BadRequest", f"options.$top must be 1 to {MAX_TOP} and options.$skip 0 or more.")
        token = options.get("$skipToken")
        if token:
            try:
                skip = int(json.loads(base64.b64decode(token))["offset"])
            except (ValueError, KeyError, TypeError):
                raise ArmError(400, "BadRequest", "The $skipToken is not valid.") from None
        try:
            parsed = parse_query(text)
        except QueryError as exc:
            raise _invalid_query(exc, text) from None
        rows = self._rows(parsed.table, parsed.type_filter, subscriptions)
        for stage in parsed.stages:
            rows = stage(rows)
        page = rows[skip: skip + top]
        more = skip + top < len(rows)
        pageable = all("id" in row for row in page)
        result: dict[str, Any] = {"totalRecords": len(rows), "count": len(page)}
        if options.get("resultFormat") == "table":
            columns = list(dict.fromkeys(k for row in page for k in row))
            result["data"] = {"columns": [{"name": c, "type": _column_type(page, c)} for c in columns],
                              "rows": [[row.get(c) for c in columns] for row in page]}
        else:
            result["data"] = page
        result["facets"] = []
        result["resultTruncated"] = "true" if more and not pageable else "false"
        if more and pageable:
            result["$skipToken"] = base64.b64encode(json.dumps({"offset": skip + top}).encode()).decode()
        return result


def _column_type(rows: list[Row], column: str) -> str:
    for row in rows:
        value = row.get(column)
        if value is None:
            continue
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "number"
        if isinstance(value, (dict, list)):
            return "object"
        return "string"
    return "string"
