"""Trigger conditions of a KFP v2 spec (`triggerPolicy.condition`), evaluated as a KFP backend does.

A KFP v2 driver evaluates a task's condition, a CEL expression, against that task's ExecutorInput
(kubeflow/pipelines backend/src/v2/expression: `Condition(executorInput, condition)`, proto field
names, e.g. `inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 1.0`): true
runs the task, false skips it, an evaluation error fails it. No CEL library is installed here, so
this is the subset TFX's compiler emits (tfx/orchestration/kubeflow/v2/compiler_utils.py,
`placeholder_to_cel`): number and string literals, `inputs.artifacts['key'].artifacts[i]`,
`.metadata['key']`, `.uri`, `+`, `==` `!=` `<` `<=` `>` `>=`, `!`, `&&`, `||` and parentheses.
As in CEL, a missing key or index is an error (not false), and so is comparing a number with a
string.
"""
from __future__ import annotations

import re
from typing import Any, List, Tuple


class ConditionError(ValueError):
    """The condition cannot be evaluated (syntax, a missing key, a type mismatch)."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<number>\d+\.\d*|\d*\.\d+|\d+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!+().\[\]])
  | (?P<ident>[A-Za-z_][A-Za-z_0-9]*)
)""", re.X)


def _tokens(text: str) -> List[Tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"cannot parse condition at {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, context: Any):
        self.text, self.tokens, self.i, self.context = text, _tokens(text), 0, context

    def peek(self) -> Tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self, value: str = None) -> Tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise ConditionError(f"condition {self.text!r}: expected {value!r}, got "
                                 f"{token[1] or 'the end'!r}")
        self.i += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek()[0] != "end":
            raise ConditionError(f"condition {self.text!r}: unexpected {self.peek()[1]!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek()[1] == "||":
            self.take()
            rhs = self.and_()
            value = _bool(value, self.text) or _bool(rhs, self.text)
        return value

    def and_(self) -> Any:
        value = self.unary()
        while self.peek()[1] == "&&":
            self.take()
            rhs = self.unary()
            value = _bool(value, self.text) and _bool(rhs, self.text)
        return value

    def unary(self) -> Any:
        if self.peek()[1] == "!":
            self.take()
            return not _bool(self.unary(), self.text)
        return self.comparison()

    def comparison(self) -> Any:
        lhs = self.sum()
        op = self.peek()[1]
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            rhs = self.sum()
            return _compare(lhs, op, rhs, self.text)
        return lhs

    def sum(self) -> Any:
        value = self.postfix()
        while self.peek()[1] == "+":
            self.take()
            rhs = self.postfix()
            if type(_kind(value)) is not type(_kind(rhs)):
                raise ConditionError(f"condition {self.text!r}: no such overload "
                                     f"{value!r} + {rhs!r}")
            value = value + rhs
        return value

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "ident":
                    raise ConditionError(f"condition {self.text!r}: expected a field name")
                value = _select(value, name, self.text)
            else:
                kind, raw = self.take()
                self.take("]")
                index = _literal(kind, raw) if kind in ("number", "string") else None
                if index is None:
                    raise ConditionError(f"condition {self.text!r}: expected an index or key")
                value = _select(value, int(index) if kind == "number" else index, self.text)
        return value

    def primary(self) -> Any:
        kind, raw = self.take()
        if raw == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind in ("number", "string"):
            return _literal(kind, raw)
        if kind == "ident":
            if raw in ("true", "false"):
                return raw == "true"
            return _select(self.context, raw, self.text)
        raise ConditionError(f"condition {self.text!r}: unexpected {raw or 'end'!r}")


def _literal(kind: str, raw: str) -> Any:
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    return bytes(raw[1:-1], "utf-8").decode("unicode_escape")


def _select(value: Any, key: Any, text: str) -> Any:
    try:
        if isinstance(value, dict):
            return value[key]
        if isinstance(value, list) and isinstance(key, int):
            return value[key]
    except (KeyError, IndexError):
        pass
    raise ConditionError(f"condition {text!r}: no such key {key!r} (available: "
                         f"{sorted(value) if isinstance(value, dict) else len(value or [])})")


def _kind(value: Any) -> Any:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return 0.0
    return value if isinstance(value, str) else object()


def _compare(lhs: Any, op: str, rhs: Any, text: str) -> bool:
    kind = _kind(lhs)
    if (type(kind) is not type(_kind(rhs)) or not isinstance(kind, (str, float, bool))
            or (isinstance(kind, bool) and op not in ("==", "!="))):
        raise ConditionError(f"condition {text!r}: no such overload {lhs!r} {op} {rhs!r}")
    return {"==": lhs == rhs, "!=": lhs != rhs, "<": lhs < rhs, "<=": lhs <= rhs,
            ">": lhs > rhs, ">=": lhs >= rhs}[op]


def _bool(value: Any, text: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"condition {text!r}: {value!r} is not a bool")
    return value


def evaluate(condition: str, executor_input: dict) -> bool:
    """The condition's value for a task whose ExecutorInput is `executor_input` (a dict with the
    proto's field names: `inputs.artifacts[key].artifacts[i].metadata` ...)."""
    value = _Parser(condition, executor_input).parse()
    if not isinstance(value, bool):
        raise ConditionError(f"condition {condition!r}: return type is not bool, got {value!r}")
    return value
