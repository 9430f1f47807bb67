"""GitHub's and Google's token and user endpoints, stubbed at the HTTP boundary through allauth's
own extension point for the requests it makes (`SocialAccountAdapter.get_requests_session`):
everything else (allauth's views, its GitHub and Google adapters, our adapters and token store)
is the real code. Tests set the answers in `ANSWERS` and read what was asked in `REQUESTS`."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

from authserver.sso import SocialAccountAdapter

# (method, URL without query) → a function of the request returning (status, JSON body).
ANSWERS: dict[tuple[str, str], Callable[[requests.PreparedRequest], tuple[int, object]]] = {}
REQUESTS: list[requests.PreparedRequest] = []


class _Stub(BaseAdapter):
    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        REQUESTS.append(request)
        parts = urlsplit(request.url)
        answer = ANSWERS.get((request.method, f"{parts.scheme}://{parts.netloc}{parts.path}"))
        status, body = answer(request) if answer else (599, {"error": f"no stub for {request.method} {request.url}"})
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


class StubbedProviders(SocialAccountAdapter):
    def get_requests_session(self) -> requests.Session:
        session = requests.Session()
        session.mount("https://", _Stub())
        session.mount("http://", _Stub())
        return session


def form_of(request: requests.PreparedRequest) -> dict[str, str]:
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    return {key: values[-1] for key, values in parse_qs(body).items()}
