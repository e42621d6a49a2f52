"""Database models: stores, people, sales, the audit log, the offer catalogue and after the sale.

One module per area; every model and helper is imported from here (`from portal.models import Sale`).
"""

from .after_sale import Correction, PolicyReturn, ReturnLine
from .audit import AuditChainHead, AuditEvent
from .catalogue import CatalogueCategory, CatalogueLine, CatalogueVersion
from .people import DeviceSignIn, SignInAddress, Store, User, UserPin
from .sales import Cover, Sale, SaleItem
from .types import UTCDateTime, Vocabulary, code_key, email_key, name_key, utcnow

__all__ = [
    "AuditChainHead",
    "AuditEvent",
    "CatalogueCategory",
    "CatalogueLine",
    "CatalogueVersion",
    "Correction",
    "Cover",
    "DeviceSignIn",
    "PolicyReturn",
    "ReturnLine",
    "Sale",
    "SaleItem",
    "SignInAddress",
    "Store",
    "UTCDateTime",
    "User",
    "UserPin",
    "Vocabulary",
    "code_key",
    "email_key",
    "name_key",
    "utcnow",
]
