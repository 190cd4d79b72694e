"""Field types and the validation step shared by the evals configuration documents (suites,
safety policies, providers.yaml), on the project's pydantic base `ConfigModel`.

Imported only by the document loaders (`evals/suite_document.py`, `evals/policy_document.py`,
`evals/providers/config_document.py`), so code that merely uses a loaded suite never imports
pydantic. Each field may carry its own fix, `Field(description=...)`: an error line then ends
with that fix instead of the base's generic one.

    suite = validate(SuiteDocument, data, source="suite.yaml", error=SuiteError)
    # suite.yaml: threshold: is 1.5, outside [0, 1]; add threshold: <pass mark ...>
"""
from __future__ import annotations

import os
import re
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import AfterValidator, BaseModel, Strict, StrictStr, ValidationError

from evals.schema import SEMVER, SHA256, SchemaError
from llmreg.registry.config_models import ConfigModel, _model_in, validation_error
from llmreg.registry.documents import read_document
from llmreg.registry.errors import BadInput

M = TypeVar("M", bound=ConfigModel)


def one_line(text: str) -> str:
    return " ".join(text.split())


_GENERIC_FIXES = ("; add it", "; fix the value")  # the base's tails a field's own fix replaces


def rule(test: Any, problem: str) -> Any:
    """An AfterValidator raising `problem` (formatted with the value) when `test` fails."""
    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError(problem.format(value=value))
        return value
    return AfterValidator(check)


Text = Annotated[StrictStr, rule(lambda v: v.strip() != "", "is empty")]
TextList = list[Text]
Number = Annotated[float, Strict()]  # int or float, never bool or text
SemVer = Annotated[Text, rule(SEMVER.match, "is {value!r}, not a semantic version X.Y.Z")]
Sha256Hex = Annotated[Text, rule(SHA256.match, "is not 64 lowercase hex characters")]
UnitInterval = Annotated[Number, rule(lambda v: 0.0 <= v <= 1.0, "is {value}, outside [0, 1]")]
Positive = Annotated[Number, rule(lambda v: v > 0, "is {value}, not > 0")]
NonNegative = Annotated[Number, rule(lambda v: v >= 0, "is {value}, not >= 0")]


def regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regex ({exc})") from None
    return value


Regex = Annotated[Text, AfterValidator(regex)]


def _fix_at(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The description of the field at `loc` (list indexes and mapping keys skipped)."""
    current: Any = model
    fix = None
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not isinstance(part, str) or fields is None or part not in fields:
            continue
        info = fields[part]
        fix = info.description
        current = _model_in(info.annotation)
    return fix


def _typos_first(exc: ValidationError) -> ValidationError:
    """Report an unknown key before anything else: a misspelt field is also a missing one, and
    "did you mean 'threshold'?" is the fix for both."""
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if not unknown or errors[0]["type"] == "extra_forbidden":
        return exc
    rest = [e for e in errors if e["type"] != "extra_forbidden"]
    return ValidationError.from_exception_data(exc.title, unknown + rest)  # type: ignore[arg-type]


def validate(model: type[M], data: Any, *, source: str, error: type[SchemaError]) -> M:
    """`data` as `model`, or `error` (a BadInput) with the line "source: field: problem; fix"."""
    if not isinstance(data, dict):
        got = "nothing" if data is None else type(data).__name__
        raise error(f"{source}: expected a mapping of fields at the top level, got {got}; "
                    "write `field: value` lines", field="document")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        exc = _typos_first(exc)
        base = validation_error(exc, model, source=source)
        first = exc.errors(include_url=False)[0]
        # pydantic's wording, less its internals: "a valid dictionary", not the class name
        message = re.sub(r" or instance of \w+| after validation", "", str(base))
        fix = _fix_at(model, tuple(first.get("loc", ())))
        if fix and first.get("type") != "extra_forbidden":
            for tail in _GENERIC_FIXES:
                if message.endswith(tail):
                    message = message[: -len(tail)] + f"; {fix}"
                    break
        raise error(one_line(message), field=base.field) from None


def load(path: str | os.PathLike[str], model: type[M], *, what: str, error: type[SchemaError]) -> M:
    """Read a YAML/JSON file through the project's document loader and validate it."""
    source = os.fspath(path)
    try:
        data = read_document(source, what)
    except BadInput as exc:
        raise error(str(exc), field=exc.field) from None
    return validate(model, data, source=source, error=error)


def fail(error: type[SchemaError], source: str, field: str, detail: str) -> NoReturn:
    """Raise `error` with the one line "source: field: detail" (detail ends with the fix)."""
    raise error(one_line(f"{source}: {field}: {detail}"), field=field)
