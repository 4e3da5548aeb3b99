"""One alerts run: judge the window, post what changed, then deliver queued notifications."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from creditwatch_alerts.messages import Kind, condition_message, notification_message
from creditwatch_alerts.models import AlertsEvent, AlertsResult, Posted
from creditwatch_alerts.oversight import OversightReader, OversightStats, evaluate_oversight
from creditwatch_alerts.rules import Condition, WindowStats, evaluate
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.slack import SlackClient, SlackError
from creditwatch_alerts.state import AlertState, Conflict, StateStore
from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.log import LogReader, LogWriter
from creditwatch_common.notifications import InvalidNotification, parse_notification
from creditwatch_common.records import RequestRow


@dataclass
class AlertsJob:
    """Everything a run needs, passed in."""

    settings: AlertsSettings
    reader: LogReader
    state: StateStore
    # Built on a run's first post, so the secret is read only when needed, and once per run: a
    # rotated webhook is picked up when the Parameters cache expires, not at the next cold start.
    slack: Callable[[], SlackClient]
    sqs: Any = None
    # Moves what the predict function spilled back into the log; None: replay is someone else's job.
    replayer: LogWriter | None = None
    # The review queue and decisions; None: no human review in this stack.
    oversight: OversightReader | None = None
    clock: Callable[[], float] = time.time
    _client: SlackClient | None = field(default=None, init=False)

    def _post(self, payload: dict[str, Any]) -> None:
        if self._client is None:
            self._client = self.slack()
        self._client.post(payload)

    def run(self, event: AlertsEvent) -> AlertsResult:
        """Judge the window and notify transitions; raises SlackError if Slack keeps refusing."""
        self._client = None
        now = self.clock()
        end = (event.window_end or datetime.fromtimestamp(now, UTC)).astimezone(UTC)
        start = end - timedelta(minutes=event.window_minutes or self.settings.window_minutes)
        records = self.reader.query_window(start, end, RequestRow, kind="request")
        stats = WindowStats.from_records(records, iso_utc(start), iso_utc(end))
        s = self.settings
        conditions = evaluate(
            stats,
            error_rate_threshold=s.error_rate_threshold,
            latency_threshold_ms=s.latency_threshold_ms,
            latency_statistic=s.latency_statistic,
            min_requests=s.min_requests,
            expect_traffic=s.expect_traffic,
        )
        result = AlertsResult(stats=stats, conditions=conditions)
        failures: list[Exception] = []
        if self.oversight is not None:
            try:
                result.oversight = self._oversee(end)
                result.conditions += evaluate_oversight(
                    result.oversight,
                    sla_hours=s.review_sla_hours,
                    low=s.override_rate_low,
                    high=s.override_rate_high,
                    min_decisions=s.min_review_decisions,
                )
            except Exception as exc:  # noqa: BLE001 - the other rules still run; the run fails loudly after
                failures.append(exc)
                result.errors.append(f"oversight: {_describe(exc)}")
        for condition in result.conditions:
            try:
                self._transition(condition, stats, now, result)
            except Exception as exc:  # noqa: BLE001 - any failure: the claim is released, the run fails loudly
                failures.append(exc)
                result.errors.append(f"{condition.key}: {_describe(exc)}")
        if event.drain_notifications:
            try:
                self._drain(now, result)
            except Exception as exc:  # noqa: BLE001 - as above
                failures.append(exc)
                result.errors.append(f"notifications: {_describe(exc)}")
        self._replay(result)
        if failures:
            # A function error: Lambda retries the run, then its OnFailure destination keeps the event.
            message = f"{len(failures)} notification(s) not delivered: {'; '.join(result.errors)}"
            if all(isinstance(f, SlackError) for f in failures):
                raise SlackError(message)
            raise DeliveryFailed(message)
        return result

    def _oversee(self, end: datetime) -> OversightStats:
        """The queue now and the decisions of the override window ending at `end`."""
        assert self.oversight is not None
        start = end - timedelta(hours=self.settings.override_window_hours)
        return OversightStats.build(self.oversight.queue(), self.oversight.events(start, end), start, end)

    def _replay(self, result: AlertsResult) -> None:
        """Spilled records back into the table, bounded in records and time; a failure is reported, not raised."""
        if self.replayer is None or self.settings.replay_max_messages == 0:
            return
        deadline = time.monotonic() + self.settings.replay_budget_s
        try:
            counts = self.replayer.replay_spilled(self.settings.replay_max_messages, deadline=deadline)
        except Exception as exc:  # noqa: BLE001 - the spill stays queued (its alarm pages); the alerts still ran
            result.errors.append(f"replay: {_describe(exc)}")
            return
        result.spill_replayed, result.spill_replay_failed = counts["replayed"], counts["failed"]

    def _transition(self, condition: Condition, stats: WindowStats, now: float, result: AlertsResult) -> None:
        current = self.state.get(condition.key)
        cooldown = self.settings.cooldown_minutes * 60
        kind: Kind
        if condition.firing:
            if current.status != "firing":
                since = iso_utc(datetime.fromtimestamp(now, UTC))
                kind, new = "firing", AlertState(condition.key, "firing", since, now)
            elif current.last_notified_at is None or now - current.last_notified_at >= cooldown:
                kind, new = "reminder", AlertState(condition.key, "firing", current.since, now)
            else:
                result.skipped.append(f"{condition.key}: still firing, in cooldown")
                return
        elif current.status == "firing" and condition.judged:
            kind, new = "resolved", AlertState(condition.key, "ok", None, now)
        else:
            return
        try:
            # Claim the transition first: of two concurrent runs only one wins and posts.
            self.state.put(current, new, now)
        except Conflict:
            result.skipped.append(f"{condition.key}: another run already notified")
            return
        payload = condition_message(
            kind,
            condition,
            stats,
            self.settings.environment,
            self.settings.dashboard_url,
            since=current.since if kind != "firing" else None,
        )
        try:
            self._post(payload)
        except BaseException:
            # Not notified (Slack refused, the webhook secret could not be read, the run was cut
            # short...): put the state back so that the next run posts it.
            self.state.restore(new, current, now)
            raise
        result.posted.append(Posted(kind=kind, key=condition.key, text=payload["text"]))

    def _drain(self, now: float, result: AlertsResult) -> None:
        """Deliver the notifications other functions queued, each once; reject what is not one."""
        url = self.settings.notifications_queue_url
        if self.sqs is None or not url:
            return
        for _ in range(10):  # at most 100 messages a run; the rest waits for the next run
            resp = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
            )
            messages = resp.get("Messages", [])
            if not messages:
                return
            for msg in messages:
                try:
                    note = parse_notification(msg["Body"])
                except InvalidNotification as exc:
                    # Left in the queue: after maxReceiveCount receives its redrive policy moves it to the
                    # dead-letter queue. It never blocks the messages behind it.
                    result.rejected.append(f"{msg['MessageId']}: {exc}")
                    continue
                key = note.dedupe_key
                if self.state.claim_once(key, now):
                    kind, payload = notification_message(note, self.settings.dashboard_url)
                    try:
                        self._post(payload)
                    except BaseException:
                        # Whatever stopped the post: the claim is released and the message, still queued,
                        # is made visible again at once, so that the next run posts it.
                        self.state.release(key)
                        with contextlib.suppress(Exception):
                            self.sqs.change_message_visibility(
                                QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0
                            )
                        raise
                    result.posted.append(Posted(kind=kind, key=key, text=payload["text"]))
                    result.notifications_delivered += 1
                else:
                    result.skipped.append(f"{key}: already delivered")
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])


class DeliveryFailed(Exception):
    """A notification could not be delivered for a reason other than Slack's answer; it will be retried."""


def _describe(exc: Exception) -> str:
    # Never the exception's text for foreign errors: a botocore message may quote a secret's name, not
    # its value, but a transport error may quote a URL.
    if isinstance(exc, SlackError):
        return str(exc)
    name, code = type(exc).__name__, error_code(exc)
    return name if code == name else f"{name} ({code})"
