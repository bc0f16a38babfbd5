"""HTTP sessions for the gateway and the user's bucket: the environment's
proxy settings apply, a ~/.netrc login never does.

No request leaves while online access is off or the job is stopped: checked
right before each one."""

from __future__ import annotations

import threading

import requests

from .. import errors as E
from .online import ONLINE


class NoNetrcAuth(requests.auth.AuthBase):
    """Adds nothing: a session with its own auth never reads ~/.netrc, so no
    stray Authorization header goes next to (or instead of) our own key or signature."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class GatedSession(requests.Session):
    """A session that checks, right before each request it sends (redirects
    too), that online access is on and that its job was not stopped; else
    nothing is sent and :class:`~..errors.Stopped` is raised, as for a stop."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        super().__init__()
        self.stop = stop

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        if not ONLINE.is_on():
            raise E.Stopped("Online access is off: nothing is sent until it is on again.")
        if self.stop is not None and self.stop.is_set():
            raise E.Stopped("Stopped before sending the next request.")
        return super().send(request, **kwargs)


def new_session(user_agent: str, stop: threading.Event | None = None) -> requests.Session:
    """A session that keeps the environment's proxies (trust_env) without its
    .netrc logins, and sends nothing offline or once ``stop`` is set."""
    session = GatedSession(stop)
    session.trust_env = True
    session.auth = NoNetrcAuth()
    session.headers["User-Agent"] = user_agent
    return session
