"""Handing the plan's messages to sender threads: paced, and one text per voter at a time.

Two texts of one voter in flight at once would race in the ingest, and their replies could not
say which one's category ended up stored; a phone does not do that either. So a message whose
voter is still waiting for a reply is held back (in plan order) while other voters' messages
go ahead, and released when that reply arrives.

Pacing: the n-th message handed out is due at start + n / rate. A sender that gets a message
early sleeps until it is due; when every sender is busy, messages go out late and the achieved
rate falls below the target, which the report shows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from loadgen.plan import Message


@dataclass(frozen=True)
class Job:
    index: int  # position in the plan
    message: Message
    due: float  # time.perf_counter() value


class Schedule:
    def __init__(self, plan: list[Message], rate: float, start: float) -> None:
        self._plan = plan
        self._interval = 1 / rate if rate > 0 else 0.0
        self._start = start
        self._next = 0  # next plan position not yet looked at
        self._handed_out = 0
        self._in_flight: set[int] = set()
        self._held_back: dict[int, deque[int]] = {}  # voter -> plan positions, in order
        self._released: deque[int] = deque()  # plan positions whose voter became free
        self._stopped = False
        self._changed = threading.Condition()

    def next(self) -> Job | None:
        """The next message to send, waiting while only held-back ones remain; None: done."""
        with self._changed:
            while not self._stopped:
                index = self._take()
                if index is not None:
                    due = self._start + self._handed_out * self._interval
                    self._handed_out += 1
                    return Job(index, self._plan[index], due)
                if self._next >= len(self._plan) and not self._held_back:
                    return None
                self._changed.wait()
            return None

    def done(self, job: Job) -> None:
        """The reply to `job` arrived: its voter may send again."""
        voter = job.message.voter
        with self._changed:
            waiting = self._held_back.get(voter)
            if waiting:
                self._released.append(waiting.popleft())  # the voter stays in flight for it
                if not waiting:
                    del self._held_back[voter]
            else:
                self._in_flight.discard(voter)
            self._changed.notify_all()

    def stop(self) -> None:
        """Hand out nothing more (messages already handed out still finish)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    @property
    def handed_out(self) -> int:
        return self._handed_out

    def _take(self) -> int | None:
        if self._released:
            return self._released.popleft()
        while self._next < len(self._plan):
            index = self._next
            self._next += 1
            voter = self._plan[index].voter
            if voter in self._in_flight:
                self._held_back.setdefault(voter, deque()).append(index)
                continue
            self._in_flight.add(voter)
            return index
        return None


def sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
