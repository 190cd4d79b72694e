"""The write side: one command handler per use case.

Each handler is a function `handle(cmd, uow, deps) -> list[Event]`: `cmd` a frozen
dataclass already validated by its `*_command` builder (bad input fails there, before any
transaction), `uow` the store's unit of work (store/port.py), `deps` what a handler may
ask of the registry (roles and gates as of the transaction, stored entries). A handler
checks roles and rules, appends events and returns them; a refusal appends its record and
raises `CommitThenRaise`, so the refusal alone commits.

    register.py            register (and provider drafts), history import
    stages.py              promote, archive, rollback, pull canary
    reviews.py             review, approve, withdraw an approval
    records.py             eval results, gate evidence, gate failures, eval suites
    configuration.py       roles and gates documents
    provider_snapshots.py  provider discovery and snapshot qualification
    gc.py                  retention policy, gc of stored artifact copies
    drill.py               rollback drills (checked before, recorded in, the transaction)
    guard.py               what they share: authorization, refusals, gate records
"""
