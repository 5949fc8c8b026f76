"""The message types AWS Config publishes on its SNS topic (DESIGN.md; shared/notes §1)."""

from __future__ import annotations

COMPLIANCE_MESSAGE_TYPE = "ComplianceChangeNotification"

# Everything else AWS Config publishes on its topic: skipped cheaply and counted, never an error.
OTHER_CONFIG_MESSAGE_TYPES = frozenset(
    {
        "ConfigurationItemChangeNotification",
        "OversizedConfigurationItemChangeNotification",
        "OversizedConfigurationItemChangeDeliveryFailed",
        "ConfigurationSnapshotDeliveryStarted",
        "ConfigurationSnapshotDeliveryCompleted",
        "ConfigurationSnapshotDeliveryFailed",
        "ConfigurationHistoryDeliveryCompleted",
        "ConfigurationHistoryDeliveryFailed",
        "ConfigRulesEvaluationStarted",
        "ConfigRulesEvaluationFailed",
        "NotificationDeliveryFailed",
        "ScheduledNotification",
    }
)
