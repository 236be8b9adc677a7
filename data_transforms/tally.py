"""Counts of what a preparation run read, wrote, masked and dropped, and why.

Nothing is dropped or masked silently: every writer takes a :class:`Tally` and counts each row it
leaves out under a reason, each message it masks under the feedback category that caused it,
and every tool response under its category.

>>> t = Tally()
>>> t.drop("rl", "unsatisfiable_gold"); t.drop("rl", "unsatisfiable_gold"); t.wrote("rl", "train", 3)
>>> t.as_dict()["dropped"], t.as_dict()["written"]
({'rl': {'unsatisfiable_gold': 2}}, {'rl': {'train': 3}})
"""

from __future__ import annotations

from collections import Counter, defaultdict

from reward_fns.categories import FEEDBACK_CATEGORIES

__all__ = ["MAX_LISTED", "Tally"]

MAX_LISTED = 100  # dropped rows listed by name per reason in summary.json (all are counted)


class Tally:
    def __init__(self):
        self.rows_read = 0
        self.records = 0
        self.bad_rows = Counter()  # field -> rows skipped with on_error=skip
        self.feedback = Counter(dict.fromkeys(FEEDBACK_CATEGORIES, 0))  # every tool response
        self.masked = Counter()  # category -> assistant messages given loss_mask 0 (SFT, mode=mask)
        self.injected = Counter()  # kind -> training records given a synthetic erroneous turn (errors.fraction)
        self.dropped = defaultdict(Counter)  # kind -> reason -> rows left out
        self.written = defaultdict(Counter)  # kind -> split -> rows written
        self.examples = {}  # reason -> first row that hit it, for the report
        self.dropped_rows = defaultdict(list)  # "kind:reason" -> rows (the first MAX_LISTED)
        self._step_feedback = {}  # id(record) -> (record, its step feedback); the record kept so its id is not reused

    def record_feedback(self, rec, classify_steps) -> dict:
        """``classify_steps(rec.messages)``, computed and counted once per record: the RL and SFT
        writers both read a record's tool responses."""
        cached = self._step_feedback.get(id(rec))
        if cached is None:
            feedback = classify_steps(rec.messages)
            for categories in feedback.values():
                self.feedback.update(categories)
            cached = self._step_feedback[id(rec)] = (rec, feedback)
        _rec, feedback = cached
        return feedback

    def drop(self, kind: str, reason: str, row: str | None = None, n: int = 1) -> None:
        self.dropped[kind][reason] += n
        if row is not None:
            self.examples.setdefault(f"{kind}:{reason}", row)
            listed = self.dropped_rows[f"{kind}:{reason}"]
            if len(listed) < MAX_LISTED:
                listed.append(row)

    def wrote(self, kind: str, split: str, n: int = 1) -> None:
        self.written[kind][split] += n

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "records": self.records,
            "bad_rows": dict(self.bad_rows),
            "feedback": dict(self.feedback),
            "masked": dict(self.masked),
            "injected": dict(self.injected),
            "dropped": {k: dict(v) for k, v in self.dropped.items()},
            "written": {k: dict(v) for k, v in self.written.items()},
            "examples": dict(self.examples),
            "dropped_rows": dict(self.dropped_rows),
        }
