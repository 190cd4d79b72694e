"""Notifications: webhook subscriptions, the delivery outbox port and the delivery worker.

Layering: this package sits beside llmreg.serving; it may import llmreg.registry, never the
other way. The registry writes one outbox row per matching subscription in the same
transaction as the event (nothing is sent for an event that did not commit, nothing is lost
when the sender dies); `DeliveryWorker` drains the outbox: signed POSTs, retries with
exponential backoff and jitter, per-subscription order, every attempt logged.

Delivery is at least once: a receiver deduplicates on `X-Llmreg-Delivery-Id`.
"""
