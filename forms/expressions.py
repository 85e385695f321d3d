"""Safe arithmetic for calculated fields: parsed with ``ast``, never ``eval``.

Allowed: numbers, names of other fields, ``+ - * /``, unary minus/plus,
parentheses, and the functions ``min``, ``max``, ``abs``, ``round``; over the rows of a
repeating group ``sum(rows.column)`` (the column's total) and ``count(rows)`` (how many rows).
Everything else (attributes, subscripts, comparisons, calls of other names,
keyword arguments, strings, powers) is refused when the form is loaded.
Arithmetic runs on ``Decimal`` so that ``0.1 + 0.2`` is ``0.3`` as a person expects.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any, Mapping

from forms.errors import ExpressionError

MAX_LENGTH = 500
MAX_NODES = 200
FUNCTIONS = {"min", "max", "abs", "round", "sum", "count"}
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


@dataclass(frozen=True)
class Expression:
    """A parsed, checked calculation over other fields."""

    source: str
    names: frozenset[str]
    _tree: ast.Expression
    columns: frozenset[tuple[str, str]] = frozenset()
    """(repeating group, column) pairs summed with ``sum(rows.column)``."""
    counted: frozenset[str] = frozenset()
    """Repeating groups counted with ``count(rows)``."""

    @property
    def aggregates(self) -> bool:
        """True when the calculation runs over the rows of a repeating group."""
        return bool(self.columns or self.counted)

    def evaluate(self, values: Mapping[str, Any]) -> Decimal:
        """Evaluate with the given field values; every name must have a number."""
        with localcontext() as ctx:
            ctx.prec = 28
            ctx.traps[DivisionByZero] = True
            ctx.traps[InvalidOperation] = True
            try:
                return _eval(self._tree.body, values)
            except (DivisionByZero, InvalidOperation) as exc:
                raise ExpressionError(f"cannot calculate {self.source!r}: division by zero or invalid operation") from exc


def parse(source: str) -> Expression:
    """Parse and check an expression; raise ExpressionError naming what is not allowed."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("a calculation must be a non-empty string")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"a calculation is limited to {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"calculation {source!r} is not valid: {exc.msg}") from exc
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"calculation {source!r} is too complex ({len(nodes)} nodes, at most {MAX_NODES})")
    names: set[str] = set()
    columns: set[tuple[str, str]] = set()
    counted: set[str] = set()
    skip: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("sum", "count"):
            arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
            if node.func.id == "sum":
                if not (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)):
                    raise ExpressionError(f"calculation {source!r}: sum() takes one column of a repeating group, "
                                          "e.g. sum(materials.net)")
                columns.add((arg.value.id, arg.attr))
                skip.update(id(n) for n in ast.walk(arg))
            else:
                if not isinstance(arg, ast.Name):
                    raise ExpressionError(f"calculation {source!r}: count() takes one repeating group, e.g. count(materials)")
                counted.add(arg.id)
                skip.add(id(arg))
            skip.add(id(node.func))
            continue
    for node in nodes:
        if id(node) in skip:
            continue
        if isinstance(node, (ast.Expression, ast.Load, ast.UAdd, ast.USub) + _BINOPS):
            continue
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _BINOPS):
                raise ExpressionError(f"calculation {source!r}: operator {type(node.op).__name__} is not allowed")
            continue
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.UAdd, ast.USub)):
                raise ExpressionError(f"calculation {source!r}: operator {type(node.op).__name__} is not allowed")
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(f"calculation {source!r}: only numeric constants are allowed")
            continue
        if isinstance(node, ast.Name):
            names.add(node.id)
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"calculation {source!r}: only the functions {sorted(FUNCTIONS)} may be called")
            if node.keywords or not node.args:
                raise ExpressionError(f"calculation {source!r}: {node.func.id}() takes positional arguments only")
            if node.func.id in ("abs",) and len(node.args) != 1:
                raise ExpressionError(f"calculation {source!r}: abs() takes one argument")
            if node.func.id == "round" and len(node.args) not in (1, 2):
                raise ExpressionError(f"calculation {source!r}: round() takes one or two arguments")
            continue
        if isinstance(node, ast.Attribute):
            raise ExpressionError(f"calculation {source!r}: a column (rows.column) is only allowed inside sum()")
        raise ExpressionError(f"calculation {source!r}: {type(node).__name__} is not allowed")
    names -= FUNCTIONS
    return Expression(source=source.strip(), names=frozenset(names), _tree=tree, columns=frozenset(columns),
                      counted=frozenset(counted))


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ExpressionError(f"field {name!r} has no number to calculate with")
    return Decimal(str(value))


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Decimal:
    if isinstance(node, ast.Constant):
        return Decimal(str(node.value))
    if isinstance(node, ast.Name):
        if node.id not in values or values[node.id] is None:
            raise ExpressionError(f"field {node.id!r} has no value yet")
        return _number(values[node.id], node.id)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("sum", "count"):
        arg = node.args[0]
        group = arg.value.id if isinstance(arg, ast.Attribute) else arg.id  # type: ignore[attr-defined]
        rows = values[group] if group in values else None
        if not isinstance(rows, (list, tuple)):
            raise ExpressionError(f"repeating group {group!r} has no rows yet")
        if node.func.id == "count":
            return Decimal(len(rows))
        total = Decimal(0)
        for row in rows:
            cell = row.get(arg.attr) if isinstance(row, Mapping) else None  # type: ignore[attr-defined]
            if cell is None:
                raise ExpressionError(f"field {arg.attr!r} has no value yet in every row of {group!r}")  # type: ignore[attr-defined]
            total += _number(cell, arg.attr)  # type: ignore[attr-defined]
        return total
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_eval(a, values) for a in node.args]
        if node.func.id == "min":
            return min(args)
        if node.func.id == "max":
            return max(args)
        if node.func.id == "abs":
            return abs(args[0])
        digits = int(args[1]) if len(args) == 2 else 0
        return args[0].quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    raise ExpressionError(f"unexpected {type(node).__name__}")  # unreachable after parse()
