"""An administrator's session in the Django admin of a live server, over plain HTTP: sign in, find
a client, run a change-list action (approve, quarantine, disable and revoke)."""

from __future__ import annotations

import re

import httpx2

from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, LiveServer

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SELECTED = re.compile(r'name="_selected_action" value="(\d+)"')


class AdminSession:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = httpx2.Client(
            base_url=server.url, follow_redirects=False, timeout=30, headers={"Accept": "text/html"}
        )
        self._log_in()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _csrf(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, (path, page.status_code)
        found = CSRF_INPUT.search(page.text)
        assert found, f"no form on {path}"
        return found[1]

    def _log_in(self) -> None:
        token = self._csrf("/admin/login/")
        answer = self.http.post(
            "/admin/login/",
            data={
                "username": ADMIN_USERNAME,
                "password": ADMIN_PASSWORD,
                "next": "/admin/",
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": self.server.url + "/admin/login/"},
        )
        assert answer.status_code == 302 and answer.headers["location"] == "/admin/", (
            answer.status_code,
            answer.text[:300],
        )

    def pk_of(self, client_id: str, model: str = "client") -> int:
        """The admin's row id of the client with `client_id` (found with the change list's search)."""
        page = self.http.get(f"/admin/authserver/{model}/", params={"q": client_id})
        assert page.status_code == 200, page.status_code
        found = SELECTED.findall(page.text)
        assert len(found) == 1, f"{len(found)} rows for {client_id}"
        return int(found[0])

    def action(self, action: str, client_ids: list[str], model: str = "client", **extra: str) -> httpx2.Response:
        """POST a change-list action for the given clients, as the action bar does."""
        pks = [str(self.pk_of(client_id, model)) for client_id in client_ids]
        path = f"/admin/authserver/{model}/"
        data = {
            "csrfmiddlewaretoken": self._csrf(path),
            "action": action,
            "_selected_action": pks,
            "index": "0",
            "select_across": "0",
            **extra,
        }
        return self.http.post(path, data=data, headers={"Referer": self.server.url + path})


def log_in(client, username: str, password: str, path: str = "/accounts/login/") -> None:
    """Sign a Django test client in through the real sign-in form (as a browser would, from
    127.0.0.1), rather than `force_login`, whose request has no client address."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    token = CSRF_INPUT.search(page.content.decode())[1]
    answer = client.post(
        path,
        {
            "username": username,
            "password": password,
            "next": "/admin/" if "admin" in path else "/account/apps/",
            "csrfmiddlewaretoken": token,
        },
    )
    assert answer.status_code == 302, answer.content[:300]
