"""Every table, imported here so ``Base.metadata`` is complete for Alembic."""

from server.db.models.audit import AuditEvent
from server.db.models.callback import (
    CallbackOutcome,
    CallbackTask,
    CustomerReply,
    RiskModel,
    Violation,
)
from server.db.models.catalog import Checklist, KbArticle
from server.db.models.counter import Counter
from server.db.models.customer import Appliance, Customer, CustomerPhone
from server.db.models.customer_page import CustomerAnswer, CustomerLink
from server.db.models.dispatch import (
    CalendarException,
    CityDispatch,
    DispatchAlert,
    DispatchChoice,
    DispatchPlan,
    ServiceArea,
    TechnicianCalendar,
)
from server.db.models.evidence import (
    Blob,
    BlobUpload,
    CallAttempt,
    CarrierCallRecord,
    ClaimVerdict,
    CompletionReport,
    EvidenceRuleSet,
    LocationTraceChunk,
    Photo,
    SignOff,
)
from server.db.models.field import Checkin, JobNote
from server.db.models.job import Job, JobEvent
from server.db.models.maintenance import (
    MaintenancePlan,
    MaintenanceSchedule,
    MaintenanceTask,
)
from server.db.models.notification import Notification
from server.db.models.provider import City, FeePolicy, Provider, provider_cities
from server.db.models.sync import (
    Bucket,
    BucketEntity,
    BucketOp,
    DeviceSyncState,
    JobHolder,
    LedgerEntry,
)
from server.db.models.user import Device, LoginAttempt, RefreshToken, Role, SkillLevel, User

__all__ = [
    "Appliance",
    "AuditEvent",
    "Blob",
    "BlobUpload",
    "Bucket",
    "BucketEntity",
    "BucketOp",
    "CalendarException",
    "CallAttempt",
    "CallbackOutcome",
    "CallbackTask",
    "CarrierCallRecord",
    "Checkin",
    "Checklist",
    "City",
    "CityDispatch",
    "ClaimVerdict",
    "CompletionReport",
    "Counter",
    "Customer",
    "CustomerAnswer",
    "CustomerLink",
    "CustomerPhone",
    "CustomerReply",
    "Device",
    "DeviceSyncState",
    "DispatchAlert",
    "DispatchChoice",
    "DispatchPlan",
    "EvidenceRuleSet",
    "FeePolicy",
    "Job",
    "JobEvent",
    "JobHolder",
    "JobNote",
    "KbArticle",
    "LedgerEntry",
    "LocationTraceChunk",
    "LoginAttempt",
    "MaintenancePlan",
    "MaintenanceSchedule",
    "MaintenanceTask",
    "Notification",
    "Photo",
    "Provider",
    "RefreshToken",
    "RiskModel",
    "Role",
    "ServiceArea",
    "SignOff",
    "SkillLevel",
    "TechnicianCalendar",
    "User",
    "Violation",
    "provider_cities",
]
