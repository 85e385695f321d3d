"""Notifications: the queue every part of the product writes to, and its delivery.

A notification is a short message to one user (a task waiting, a step of a process that concerns
them, a security alert), shown in the application and, when GMP_SMTP_HOST is set, e-mailed.
The package sits on its own floor just above `engine` (it reads ready tasks and the signatures'
users, roles and alerts) and below `bpmn` and `web`, which both queue notifications: a process
step run by the scheduler writes them without the web application. Nothing here imports Flask.

- `notifications.models`: the `Notification` row (table `web_notification`, its released name).
- `notifications.queue`: `notify(uow, ...)` queues one in the caller's unit of work.
- `notifications.overdue`: `notify_overdue(db, settings)`, the overdue-task scan.
- `notifications.alerts`: `notify_security_alerts(db)`, open security alerts to administrators.
- `notifications.delivery`: the address book and `deliver_email(db, settings, addresses)`.
- `notifications.cli`: `gmp notify`, the worker that polls the three above.
"""
