"""One SDK client per running event loop, for the providers whose client holds a connection pool (OpenAI's
embedders; the chat models' upstream_http keeps one session per loop)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable


class LoopClients:
    """A client's connection pool serves the loop that made its first request. A Lambda environment has one loop, but
    the local API runs every function in one process, each on a loop of its own: `client` serves the first loop,
    another live loop gets a copy (dropped once its loop has closed: its connections hold the loop, which would never
    be collected), a loop after the first one closed gets a new `client`, and a `client` replaced from outside (a
    SnapStart restore) starts over."""

    def __init__(self, client, new_http_client: Callable[[], object]) -> None:
        self.client = client
        self.new_http_client = new_http_client
        self.made_for = client  # the client that `first` and `others` were made for
        self.first: weakref.ref | None = None
        self.others: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()  # the local API's loops run in threads of their own

    def for_running_loop(self):
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.made_for is not self.client:
                self.made_for, self.first = self.client, None
                self.others.clear()
            owner = self.first() if self.first else None
            if owner is not None and owner is not loop and owner.is_closed():
                self.client = self.made_for = self.client.copy(http_client=self.new_http_client())
                owner = None
            if owner is None or owner is loop:
                self.first = weakref.ref(loop)
                return self.client
            other = self.others.get(loop)
            if other is None:
                for closed in [old for old in self.others if old.is_closed()]:
                    del self.others[closed]
                other = self.others[loop] = self.client.copy(http_client=self.new_http_client())
            return other
