"""Flow inputs and flow outputs, as a Kestra flow declares them.

An input is one of the ``*Input`` models below, chosen by its ``type`` (``AnyInput``). Every
definition is checked when the flow is loaded: patterns compile, option combinations make
sense, and ``defaults`` / ``prefill`` are valid values of the input (unless they are
expressions, which can only be checked once rendered). Turning submitted values into typed
ones is ``kestra_stream.inputs.coerce_inputs``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kestra_stream.durations import Duration
from kestra_stream.errors import InputError

__all__ = [
    "INPUT_ID_PATTERN",
    "AnyInput",
    "ArrayInput",
    "BooleanInput",
    "DateInput",
    "DateTimeInput",
    "DependsOn",
    "DurationInput",
    "EmailInput",
    "FileInput",
    "FloatInput",
    "Input",
    "InputType",
    "IntInput",
    "JsonInput",
    "MultiselectInput",
    "Output",
    "SecretInput",
    "SelectInput",
    "StringInput",
    "TimeInput",
    "UriInput",
    "YamlInput",
]

INPUT_ID_PATTERN = r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$"


class InputType(StrEnum):
    STRING = "STRING"
    INT = "INT"
    FLOAT = "FLOAT"
    BOOLEAN = "BOOLEAN"
    BOOL = "BOOL"
    DATETIME = "DATETIME"
    DATE = "DATE"
    TIME = "TIME"
    DURATION = "DURATION"
    FILE = "FILE"
    JSON = "JSON"
    YAML = "YAML"
    URI = "URI"
    EMAIL = "EMAIL"
    SECRET = "SECRET"
    SELECT = "SELECT"
    MULTISELECT = "MULTISELECT"
    ARRAY = "ARRAY"
    ENUM = "ENUM"  # deprecated spelling of SELECT

    @property
    def canonical(self) -> InputType:
        """The type this one behaves as: BOOL is BOOLEAN, ENUM is SELECT."""
        return _CANONICAL.get(self, self)


_CANONICAL = {InputType.BOOL: InputType.BOOLEAN, InputType.ENUM: InputType.SELECT}
_TYPE_NAMES = tuple(t.value for t in InputType)


def _type_error(given: Any) -> PydanticCustomError:
    expected = ", ".join(_TYPE_NAMES)
    if not isinstance(given, str) or not given:
        return PydanticCustomError(
            "input_type_missing",
            "every input needs a 'type', one of {expected}",
            {"expected": expected},
        )
    close = difflib.get_close_matches(given.upper(), _TYPE_NAMES, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return PydanticCustomError(
        "input_type",
        "unknown input type '{given}'; expected one of {expected}{hint}",
        {"given": given, "expected": expected, "hint": hint},
    )


def _known_type(value: Any) -> Any:
    """Refuse an unknown ``type`` with the list of known ones and the closest match."""
    if isinstance(value, InputType):
        return value
    if not isinstance(value, str) or value not in _TYPE_NAMES:
        raise _type_error(value)
    return InputType(value)


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _as_utc(value: datetime | None) -> datetime | None:
    # Naive bounds are read as UTC, like naive submitted values, so the two always compare.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        frozen=True,
        # A flow uses a few of the input types: build each schema on first use.
        defer_build=True,
    )


class DependsOn(_Model):
    """Show (and resolve) an input only once others are known and ``condition`` renders true."""

    inputs: list[str] = Field(default_factory=list)
    condition: str | None = None


class Input(_Model):
    """What every input declares; ``type`` is narrowed by each subclass."""

    id: str = Field(pattern=INPUT_ID_PATTERN, max_length=256)
    type: InputType
    description: str | None = None
    display_name: str | None = None
    required: bool = True
    defaults: Any = None
    prefill: Any = None
    depends_on: DependsOn | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_is_id(cls, data: Any) -> Any:
        # `name` is how inputs were identified before Kestra 0.15; flows still use it.
        if isinstance(data, Mapping) and "name" in data:
            data = dict(data)
            name = data.pop("name")
            if "id" in data and data["id"] != name:
                raise ValueError(
                    f"input has both id {data['id']!r} and the deprecated name {name!r}; keep only 'id'")
            data["id"] = name
        return data

    @model_validator(mode="after")
    def _check_initial_values(self) -> Input:
        # Deferred import: the coercion module depends on these models.
        from kestra_stream.inputs import coerce_input_value

        for field in ("defaults", "prefill"):
            value = getattr(self, field)
            if value is None or _is_expression(value):
                continue
            try:
                coerce_input_value(self, value)
            except InputError as err:
                raise PydanticCustomError(
                    "input_default",
                    "{field} of input '{id}' is invalid: {reason}; fix the value or make it an expression",
                    {"field": field, "id": self.id, "reason": err.reason},
                ) from None
        return self

    @property
    def kind(self) -> InputType:
        """The canonical type (BOOL reads as BOOLEAN, ENUM as SELECT)."""
        return self.type.canonical


class _TextInput(Input):
    validator: str | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)

    @field_validator("validator")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"validator {value!r} is not a valid regular expression: {err}") from None
        return value

    @model_validator(mode="after")
    def _lengths(self) -> _TextInput:
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"minLength {self.min_length} is greater than maxLength {self.max_length}")
        return self


class StringInput(_TextInput):
    type: Literal[InputType.STRING]


class SecretInput(_TextInput):
    type: Literal[InputType.SECRET]


class IntInput(Input):
    type: Literal[InputType.INT]
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> IntInput:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class FloatInput(Input):
    type: Literal[InputType.FLOAT]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> FloatInput:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class BooleanInput(Input):
    type: Literal[InputType.BOOLEAN, InputType.BOOL]


class DateTimeInput(Input):
    type: Literal[InputType.DATETIME]
    after: datetime | None = None
    before: datetime | None = None

    @field_validator("after", "before")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @model_validator(mode="after")
    def _window(self) -> DateTimeInput:
        if self.after is not None and self.before is not None and self.after > self.before:
            raise ValueError(f"after {self.after.isoformat()} is later than before {self.before.isoformat()}")
        return self


class DateInput(Input):
    type: Literal[InputType.DATE]
    after: date | None = None
    before: date | None = None

    @model_validator(mode="after")
    def _window(self) -> DateInput:
        if self.after is not None and self.before is not None and self.after > self.before:
            raise ValueError(f"after {self.after.isoformat()} is later than before {self.before.isoformat()}")
        return self


class TimeInput(Input):
    type: Literal[InputType.TIME]
    after: time | None = None
    before: time | None = None

    @model_validator(mode="after")
    def _window(self) -> TimeInput:
        if self.after is not None and self.before is not None and self.after > self.before:
            raise ValueError(f"after {self.after.isoformat()} is later than before {self.before.isoformat()}")
        return self


class DurationInput(Input):
    type: Literal[InputType.DURATION]
    min: Duration | None = None
    max: Duration | None = None

    @model_validator(mode="after")
    def _bounds(self) -> DurationInput:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is longer than max")
        return self


class FileInput(Input):
    type: Literal[InputType.FILE]
    allowed_file_extensions: list[str] | None = None
    # Kestra's older single-extension hint, kept so older flows still load.
    extension: str | None = None


class JsonInput(Input):
    type: Literal[InputType.JSON]


class YamlInput(Input):
    type: Literal[InputType.YAML]


class UriInput(Input):
    type: Literal[InputType.URI]


class EmailInput(Input):
    type: Literal[InputType.EMAIL]


def _text_values(value: Any) -> Any:
    # Kestra reads `values` as strings; YAML turns `values: [1, 2]` into numbers.
    if isinstance(value, list):
        return [str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int | float) else v
                for v in value]
    return value


class SelectInput(Input):
    """One value among ``values`` (or among what ``expression`` renders to)."""

    type: Literal[InputType.SELECT, InputType.ENUM]
    values: list[str] | None = None
    expression: str | None = None
    allow_custom_value: bool = False
    is_radio: bool = False
    auto_select_first: bool = False

    @field_validator("values", mode="before")
    @classmethod
    def _values_text(cls, value: Any) -> Any:
        return _text_values(value)

    @model_validator(mode="after")
    def _one_source(self) -> SelectInput:
        if (self.values is None) == (self.expression is None):
            raise ValueError(f"input '{self.id}' needs exactly one of 'values' (a list) or 'expression'")
        return self

    @property
    def choices(self) -> list[str] | None:
        """The static values, or None when they come from ``expression``."""
        return self.values


class MultiselectInput(Input):
    """Several values among ``values`` (``options`` before Kestra 0.20) or ``expression``."""

    type: Literal[InputType.MULTISELECT]
    values: list[str] | None = None
    options: list[str] | None = None
    expression: str | None = None
    item_type: InputType = InputType.STRING
    allow_custom_value: bool = False
    auto_select_first: bool = False

    @field_validator("values", "options", mode="before")
    @classmethod
    def _values_text(cls, value: Any) -> Any:
        return _text_values(value)

    @field_validator("item_type", mode="before")
    @classmethod
    def _item_type(cls, value: Any) -> Any:
        return _known_type(value)

    @model_validator(mode="after")
    def _one_source(self) -> MultiselectInput:
        if self.values is not None and self.options is not None:
            raise ValueError(
                f"input '{self.id}' has both 'values' and the deprecated 'options'; keep 'values'")
        if (self.choices is None) == (self.expression is None):
            raise ValueError(f"input '{self.id}' needs exactly one of 'values' (a list) or 'expression'")
        if self.item_type.canonical in (InputType.ARRAY, InputType.MULTISELECT):
            raise ValueError(f"itemType of input '{self.id}' cannot be {self.item_type}")
        return self

    @property
    def choices(self) -> list[str] | None:
        """The static values, or None when they come from ``expression``."""
        return self.values if self.values is not None else self.options


class ArrayInput(Input):
    """A list whose every item is of ``itemType``."""

    type: Literal[InputType.ARRAY]
    item_type: InputType

    @field_validator("item_type", mode="before")
    @classmethod
    def _item_type(cls, value: Any) -> Any:
        return _known_type(value)

    @model_validator(mode="after")
    def _flat(self) -> ArrayInput:
        if self.item_type.canonical in (InputType.ARRAY, InputType.MULTISELECT, InputType.FILE):
            raise ValueError(
                f"itemType of input '{self.id}' cannot be {self.item_type}; use a scalar type such as STRING")
        return self


def _input_type_first(value: Any) -> Any:
    """Refuse an unknown ``type`` before the union tries (and fails with a bare tag error)."""
    if isinstance(value, Input) or not isinstance(value, Mapping):
        return value
    _known_type(value.get("type"))
    return value


AnyInput = Annotated[
    StringInput | SecretInput | IntInput | FloatInput | BooleanInput | DateTimeInput | DateInput
    | TimeInput | DurationInput | FileInput | JsonInput | YamlInput | UriInput | EmailInput
    | SelectInput | MultiselectInput | ArrayInput,
    Field(discriminator="type"),
    BeforeValidator(_input_type_first),
]
"""Any input; a raw mapping becomes the model its ``type`` names."""


class Output(_Model):
    """A flow output: ``value`` (usually an expression) rendered at the end and typed as ``type``."""

    id: str = Field(pattern=INPUT_ID_PATTERN, max_length=256)
    type: InputType
    value: Any
    display_name: str | None = None
    description: str | None = None
    required: bool = True

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return _known_type(value)
