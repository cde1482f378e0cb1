"""Every feature's route handlers, listed once."""

from __future__ import annotations

from typing import Any

__all__ = ["route_handlers"]


def route_handlers() -> list[Any]:
    from server.admin.evidence_rules import (
        EvidenceRulesController,
        TraceSamplingController,
        VerdictController,
    )
    from server.admin.policy_routes import (
        ChecklistController,
        FeePolicyController,
        KbArticleController,
    )
    from server.admin.routes import CityController, ProviderController
    from server.admin.user_routes import DeviceController, UserController
    from server.audit.routes import AuditController
    from server.auth.routes import AuthController
    from server.callbacks.routes import (
        CallbackController,
        CallRecordController,
        SmsController,
        ViolationController,
    )
    from server.customer_page.routes import CustomerLinkController, CustomerPageController
    from server.customers.routes import ApplianceController, CustomerController
    from server.dispatch.plan_routes import PlanController
    from server.dispatch.routes import (
        AlertController,
        CalendarController,
        CityDispatchController,
        DispatchChoiceController,
        ProviderCalendarController,
        ServiceAreaController,
    )
    from server.i18n.routes import LabelsController
    from server.jobs.repeat_routes import RepeatRepairController
    from server.jobs.routes import JobController
    from server.maintenance.routes import MaintenanceController
    from server.notifications.routes import NotificationController, ReceiptController
    from server.reports.routes import PublicServiceReportController, ServiceReportController
    from server.scorecards.routes import ScorecardController
    from server.statements.routes import StatementController
    from server.sync_api.blob_routes import BlobController
    from server.sync_api.events import EventsController
    from server.sync_api.ledger_routes import LedgerController
    from server.sync_api.routes import SyncController

    return [
        AuthController,
        JobController,
        RepeatRepairController,
        NotificationController,
        CustomerController,
        ApplianceController,
        CityController,
        ProviderController,
        UserController,
        DeviceController,
        FeePolicyController,
        ChecklistController,
        KbArticleController,
        LedgerController,
        SyncController,
        EvidenceRulesController,
        TraceSamplingController,
        VerdictController,
        BlobController,
        EventsController,
        ServiceReportController,
        PublicServiceReportController,
        ScorecardController,
        CallbackController,
        ViolationController,
        SmsController,
        ReceiptController,
        CallRecordController,
        LabelsController,
        CalendarController,
        ProviderCalendarController,
        ServiceAreaController,
        CityDispatchController,
        DispatchChoiceController,
        AlertController,
        PlanController,
        MaintenanceController,
        AuditController,
        CustomerPageController,
        CustomerLinkController,
        StatementController,
    ]
