"""What each delivery provider is, needs and accepts: the data behind ``digest providers``.

Each provider module is imported here one at a time, and a module that cannot be imported
(an optional package missing, or not there at all) is described with the reason instead of
stopping the listing. Environment variables are reported as set or not set, never with their
values.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from dataclasses import asdict, dataclass, field
from importlib import import_module
from importlib.metadata import PackageNotFoundError, metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .base import available_providers

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["OptionRow", "ProviderRow", "describe_providers"]

OPTIONAL_PACKAGES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ses": (("botocore", "ses", "signing requests"),),
    "smtp": (("dkim", "dkim", "DKIM signing"),),
}
"""Packages a provider imports only when used: provider → (module, extra, what needs it).

A provider class may say the same itself with ``optional_packages`` (same tuples)."""


@dataclass
class OptionRow:
    name: str
    type: str
    default: Any
    required: bool
    description: str
    configured: Any = None
    is_configured: bool = False


@dataclass
class ProviderRow:
    name: str
    target: str
    loaded: bool
    description: str = ""
    max_batch: int | None = None
    idempotent: bool | None = None
    idempotency_window: float | None = None
    """Seconds a resumed call may still repeat its key (None: no limit)."""
    reconciles: bool | None = None
    rejects_whole_batch: bool | None = None
    keeps_message_id: bool | None = None
    options: list[OptionRow] = field(default_factory=list)
    env: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    in_use: bool = False

    def to_json(self) -> dict[str, Any]:
        """The row as ``digest providers --json`` prints it."""
        data = asdict(self)
        return {
            "name": self.name,
            "in_use": self.in_use,
            "available": self.loaded,
            "description": self.description,
            "max_batch": self.max_batch,
            "idempotent": self.idempotent,
            "idempotency_window": self.idempotency_window,
            "reconciles": self.reconciles,
            "rejects_whole_batch": self.rejects_whole_batch,
            "keeps_message_id": self.keeps_message_id,
            "options": [
                {k: v for k, v in o.items() if k not in ("configured", "is_configured")}
                | ({"configured": o["configured"]} if o["is_configured"] else {})
                for o in data["options"]
            ],
            "environment": [{"name": k, "set": v} for k, v in self.env.items()],
            "notes": self.notes,
        }


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " | ".join(json.dumps(_plain(a)) for a in get_args(annotation))
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    if text is None:
        text = repr(annotation)
    for prefix in ("typing.", "pathlib.", "collections.abc."):
        text = text.replace(prefix, "")
    return text.replace("NoneType", "None")


def _plain(value: Any) -> Any:
    """A value as JSON and TOML show it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return _plain(info.default_factory())  # type: ignore[call-arg]
    return _plain(info.default)


def _install_hint(extra: str, module: str) -> str:
    """``pip install 'digest[extra]'`` when digest has that extra, else the module itself."""
    try:
        extras = metadata("digest").get_all("Provides-Extra") or []
    except PackageNotFoundError:
        extras = []
    if extra in extras:
        return f"pip install 'digest[{extra}]'"
    return f"pip install {module.partition('.')[0] or module}"


_RST_LITERAL = re.compile(r"``(.+?)``")
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def _prose(text: str) -> str:
    """A docstring's reStructuredText as a person reads it: ``x`` and :class:`x` as x."""
    return _RST_ROLE.sub(r"\1", _RST_LITERAL.sub(r"\1", text)).strip()


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """The docstring written under each field of ``model`` and of its bases (the house style
    for provider options), read from the source when ``digest providers`` asks.

    pydantic's ``use_attribute_docstrings`` would read it as each class is created: ~20 ms a
    class in a process with digest loaded (it asks ``inspect`` for the module of every frame
    of the import), paid by every send for a table only this command prints.
    """
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not issubclass(klass, BaseModel) or klass is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        node = tree.body[0] if tree.body else None
        if not isinstance(node, ast.ClassDef):
            continue
        for field_node, doc in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(field_node, ast.AnnAssign)
                and isinstance(field_node.target, ast.Name)
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                docs[field_node.target.id] = inspect.cleandoc(doc.value.value)
    return docs


def _describe(name: str, target: str, settings: Any) -> ProviderRow:
    row = ProviderRow(name=name, target=target, loaded=False)
    row.in_use = name == settings.delivery.provider
    module_name, _, attr = target.partition(":")
    try:
        cls: Any = getattr(import_module(module_name), attr)
    except ImportError as e:
        missing = e.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            row.notes.append(f"not available: module {module_name} is not installed")
        else:
            row.notes.append(f"needs the package {missing}: {_install_hint(name, missing)}")
        return row
    except AttributeError:
        row.notes.append(f"not available: {module_name} has no {attr}")
        return row
    except Exception as e:  # a broken third-party module must not hide the others
        row.notes.append(f"cannot be loaded: {type(e).__name__}: {e}")
        return row
    row.loaded = True
    row.description = _prose(str(getattr(cls, "description", "") or (cls.__doc__ or "")))
    row.max_batch = int(cls.max_batch)
    row.idempotent = bool(cls.idempotent)
    window = getattr(cls, "idempotency_window", None)
    row.idempotency_window = float(window) if row.idempotent and window is not None else None
    row.reconciles = bool(getattr(cls, "reconciles", False))
    row.rejects_whole_batch = bool(getattr(cls, "rejects_whole_batch", False))
    row.keeps_message_id = bool(getattr(cls, "keeps_message_id", False))
    configured = settings.provider_options(name)
    docs = field_docs(cls.options_model)
    for option, info in cls.options_model.model_fields.items():
        key = info.alias or option
        row.options.append(
            OptionRow(
                name=key,
                type=_type_name(info.annotation),
                default=None if info.is_required() else _default(info),
                required=info.is_required(),
                description=_prose(info.description or docs.get(option, "")),
                configured=_plain(configured.get(key)),
                is_configured=key in configured,
            )
        )
    row.env = {var: bool(settings.env(var)) for var in cls.env_vars}
    packages = tuple(getattr(cls, "optional_packages", ())) or OPTIONAL_PACKAGES.get(name, ())
    for module, extra, what in packages:
        if find_spec(module) is None:
            row.notes.append(f"{what} needs {module}: {_install_hint(extra, module)}")
    return row


def describe_providers(settings: Settings) -> list[ProviderRow]:
    """Every available provider, described against ``settings``."""
    return [_describe(name, target, settings) for name, target in available_providers().items()]
