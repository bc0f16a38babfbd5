"""HTTP sessions for the gateway and the user's bucket: the environment's
proxy settings apply, a ~/.netrc login never does."""

from __future__ import annotations

import requests


class NoNetrcAuth(requests.auth.AuthBase):
    """Adds nothing: a session with its own auth never reads ~/.netrc, so no
    stray Authorization header goes next to (or instead of) our own key or signature."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


def new_session(user_agent: str) -> requests.Session:
    """A session that keeps the environment's proxies (trust_env) without its .netrc logins."""
    session = requests.Session()
    session.trust_env = True
    session.auth = NoNetrcAuth()
    session.headers["User-Agent"] = user_agent
    return session
