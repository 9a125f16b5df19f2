"""Real HTTP servers on 127.0.0.1 standing in for mail providers, built from their docs.

Test modules load these as plugins (``pytest_plugins``) and import their classes too; the
modules are registered for assertion rewriting before either happens.
"""

from pathlib import Path

import pytest

pytest.register_assert_rewrite(
    *(f"{__name__}.{p.stem}" for p in Path(__file__).parent.glob("*.py") if p.stem != "__init__")
)
