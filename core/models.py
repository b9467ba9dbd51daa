"""Imports every core model module, so the metadata is complete for migrations."""

from core.audit import models as audit_models  # noqa: F401
from core.events import models as events_models  # noqa: F401
from core.exchange import models as exchange_models  # noqa: F401
from core.identity import models as identity_models  # noqa: F401
from core.notices import models as notices_models  # noqa: F401
from core.registry import corrections as registry_corrections  # noqa: F401
from core.registry import models as registry_models  # noqa: F401
