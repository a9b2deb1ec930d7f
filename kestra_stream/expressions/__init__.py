"""Kestra's expression language (Pebble as Kestra users write it) on a sandboxed jinja2.

    engine = default_engine()
    engine.render("Hello {{ inputs.name | upper }}", variables)          -> "Hello WORLD"
    engine.render_typed("{{ inputs.rows > 500 }}", variables)              -> True
    engine.evaluate("outputs['check-data'].vars.count ?? 0", variables)    -> 42
    engine.check("{{ inputs.x | }}")                                       -> raises ExpressionError

Every failure raises :class:`kestra_stream.errors.ExpressionError` quoting the expression.
"""

from kestra_stream.expressions._engine import CacheInfo, ExpressionEngine, default_engine
from kestra_stream.expressions._functions import FixedFunctions, Functions
from kestra_stream.expressions._truth import is_truthy

__all__ = [
    "CacheInfo",
    "ExpressionEngine",
    "FixedFunctions",
    "Functions",
    "default_engine",
    "is_truthy",
]
