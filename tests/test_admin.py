"""The client admin, in process: the change lists, the guided "add client" form and its presets,
the redirect URI messages, and the approve / quarantine / disable-and-revoke actions."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from authserver.admin import disable_and_revoke
from authserver.models import Client
from authserver.presets import PRESETS, PRESETS_BY_KEY  # the table the front page reads too
from authserver.redirects import redirect_uri_advice, redirect_uri_problem, split_redirect_uris
from tests.support import inprocess
from tests.support.admin_session import log_in

pytestmark = pytest.mark.django_db

CLIENTS = "/admin/authserver/client/"
QUEUE = "/admin/authserver/selfregisteredclient/"


@pytest.fixture
def admin_client(client, django_user_model):
    """An administrator signed in through the admin's login form."""
    django_user_model.objects.create_superuser("root", password="root-password-123")
    log_in(client, "root", "root-password-123", path="/admin/login/")
    return client


def make_tokens(client: Client, user, live: int = 1, expired: int = 0, revoked: int = 0) -> None:
    """Access tokens (each with a refresh token) for `client`: live ones, expired ones (refresh
    token still live) and revoked ones (access token gone, refresh token revoked)."""
    access_model, refresh_model = get_access_token_model(), get_refresh_token_model()
    now = timezone.now()
    for n in range(live + expired + revoked):
        expires = now + timedelta(hours=1) if n < live else now - timedelta(hours=1)
        access = access_model.objects.create(
            user=user, application=client, token=f"at-{client.pk}-{n}", expires=expires, scope="mcp:read"
        )
        refresh = refresh_model.objects.create(
            user=user, application=client, token=f"rt-{client.pk}-{n}", access_token=access
        )
        if n >= live + expired:
            access.delete()
            refresh_model.objects.filter(pk=refresh.pk).update(revoked=now)


def rows(html: str) -> list[str]:
    """The change list's rows (its table body)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


# --- Presets ---------------------------------------------------------------------------------------
EXPECTED_PRESETS = {
    # The callbacks each client really uses, with their public sources in authserver/presets.py.
    "claude": (["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"], "confidential"),
    "claude-code": (["http://localhost/callback", "http://127.0.0.1/callback"], "public"),
    "vscode": (
        [
            "http://127.0.0.1:33418/",
            "http://127.0.0.1/",
            "https://vscode.dev/redirect",
            "https://insiders.vscode.dev/redirect",
        ],
        "public",
    ),
    "cursor": (
        ["cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback"],
        "public",
    ),
    "chatgpt": (["https://chatgpt.com/connector_platform_oauth_redirect"], "confidential"),
    "mcp-inspector": (["http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"], "public"),
}


def test_presets_are_the_well_known_mcp_clients() -> None:
    assert {p.key: (list(p.redirect_uris), p.client_type) for p in PRESETS} == EXPECTED_PRESETS


@pytest.mark.parametrize("key", sorted(EXPECTED_PRESETS))
def test_every_preset_redirect_uri_may_be_registered(key: str) -> None:
    assert [redirect_uri_problem(uri) for uri in PRESETS_BY_KEY[key].redirect_uris] == [None] * len(
        PRESETS_BY_KEY[key].redirect_uris
    )


def test_the_registration_endpoint_keeps_its_short_messages_and_the_admin_gets_the_reason() -> None:
    uri = "http://app.example.com/cb"
    assert redirect_uri_problem(uri) == (
        "redirect URI 'http://app.example.com/cb' uses http on a non-loopback host; use https, or http://127.0.0.1"
    )
    assert redirect_uri_advice(uri) == (
        "Redirect URI 'http://app.example.com/cb' uses http on a non-loopback host; use https, or "
        "http://127.0.0.1. Plain http would expose the authorization code on the network; only an application "
        "running on the user's own computer (http://127.0.0.1 or http://localhost, any port) may use it."
    )
    assert redirect_uri_advice("https://app.example.com/cb") is None
    assert split_redirect_uris(" https://a.example/cb\r\nhttps://b.example/cb https://a.example/cb ") == [
        "https://a.example/cb",
        "https://b.example/cb",
    ]


def test_the_add_form_offers_every_preset(admin_client) -> None:
    page = admin_client.get(CLIENTS + "add/")
    assert page.status_code == 200
    offered = re.findall(r'<a class="preset[^"]*" href="\?preset=([a-z-]+)"', page.content.decode())
    assert offered == [p.key for p in PRESETS]
    assert b'href="?" data-preset="" aria-current="true"><strong>Another client</strong>' in page.content


def test_a_preset_fills_in_name_redirect_uris_and_type(admin_client) -> None:
    page = admin_client.get(CLIENTS + "add/?preset=claude-code").content.decode()
    assert re.search(r'name="name"[^>]*value="Claude Code"', page)
    textarea = re.search(r'<textarea name="redirect_uris"[^>]*>(.*?)</textarea>', page, re.S)[1]
    assert textarea.split() == ["http://localhost/callback", "http://127.0.0.1/callback"]
    assert re.search(r'<input type="radio" name="client_type" value="public"[^>]*checked', page)
    assert 'aria-current="true"><strong>Claude Code</strong>' in page
    assert "any port is accepted" in page  # the preset's note

    confidential = admin_client.get(CLIENTS + "add/?preset=claude").content.decode()
    assert re.search(r'<input type="radio" name="client_type" value="confidential"[^>]*checked', confidential)


def add_form(**fields) -> dict:
    data = {
        "name": "My client",
        "client_id": "my-client-id",
        "redirect_uris": "http://127.0.0.1/callback",
        "client_type": "public",
        "client_secret": "",
        "hash_client_secret": "on",
        "is_enabled": "on",
        "authorization_grant_type": "authorization-code",
        "algorithm": "",
        "allowed_origins": "",
        "post_logout_redirect_uris": "",
        "user": "",
    }
    data.update(fields)
    return data


def test_adding_a_client_from_a_preset_registers_it_and_names_its_client_id(admin_client) -> None:
    preset = PRESETS_BY_KEY["vscode"]
    answer = admin_client.post(
        CLIENTS + "add/?preset=vscode",
        add_form(name=preset.name, client_id="vscode-here", redirect_uris="\r\n".join(preset.redirect_uris)),
        follow=True,
    )
    assert answer.status_code == 200
    assert answer.redirect_chain[0] == (CLIENTS, 302)
    client = Client.objects.get(client_id="vscode-here")
    assert client.redirect_uris.split() == list(preset.redirect_uris)
    assert (client.name, client.client_type, client.registration_source) == ("VS Code", "public", "manual")
    assert (client.approval, client.is_enabled, client.shows_as_verified) == ("approved", True, True)
    assert b'registered with the client ID <code class="new-client-id">vscode-here</code>' in answer.content
    assert preset.next_step.encode() in answer.content


REFUSED = [
    ("http://app.example.com/cb", "uses http on a non-loopback host", "Plain http would expose the authorization code"),
    ("https://app.example.com/cb#top", "must not contain a fragment", "#fragment would never match"),
    ("myapp://callback", "uses the scheme 'myapp'", "PRIVATE_REDIRECT_SCHEMES"),
    ("https://*.example.com/cb", "must not contain a wildcard", "registered exactly"),
    ("https://user:secret@example.com/cb", "must not contain user information", "disguise"),
    ("callback", "must be absolute", "full address"),
    ("https://chatgpt.com/connector/oauth/<id>", "still holds a placeholder", "the id in ChatGPT's per-app callback"),
]


@pytest.mark.parametrize(("uri", "rule", "why"), REFUSED)
def test_a_refused_redirect_uri_says_which_rule_and_why(admin_client, uri: str, rule: str, why: str) -> None:
    answer = admin_client.post(CLIENTS + "add/", add_form(redirect_uris=f"http://127.0.0.1/callback\n{uri}"))
    assert answer.status_code == 200
    assert not Client.objects.filter(client_id="my-client-id").exists()
    errors = re.search(
        r'<ul class="errorlist"[^>]*id="id_redirect_uris_error">(.*?)</ul>', answer.content.decode(), re.S
    )
    assert errors, answer.content.decode()[:2000]
    messages = re.findall(r"<li>(.*?)</li>", errors[1], re.S)
    assert len(messages) == 1  # only the form's explanation, not DOT's model check repeating it
    assert rule in messages[0].replace("&#x27;", "'")
    assert why in messages[0].replace("&#x27;", "'")


def test_an_empty_redirect_uri_list_is_refused_with_a_reason(admin_client) -> None:
    answer = admin_client.post(CLIENTS + "add/", add_form(redirect_uris="  \n "))
    assert answer.status_code == 200
    assert b"Enter at least one redirect URI: without one, no user can be sent back" in answer.content
    assert not Client.objects.exists()


# --- The change lists ------------------------------------------------------------------------------
def test_the_change_list_shows_what_an_operator_needs(admin_client) -> None:
    user = inprocess.make_user()
    manual = inprocess.make_client(
        "Claude Code", "http://127.0.0.1/callback http://localhost/callback", source=Client.RegistrationSource.MANUAL
    )
    registered = inprocess.make_client("Self app", "https://self.example.com/cb", source=Client.RegistrationSource.DCR)
    registered.last_used_at = timezone.now()
    registered.save()
    make_tokens(manual, user, live=2, expired=1, revoked=1)

    page = admin_client.get(CLIENTS).content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', page)
    assert headers == [
        "display_name",
        "client_id_code",
        "client_type",
        "registered_by",
        "redirect_uri_list",
        "status",
        "last_used",
        "live_tokens",
    ]
    by_name = {re.search(r'<th class="field-display_name"><a [^>]*>([^<]+)</a>', row)[1]: row for row in rows(page)}
    row = by_name["Claude Code"]
    assert f'<code class="client-id" title="{manual.client_id}">{manual.client_id}</code>' in row
    assert ">Public<" in row and '<td class="field-registered_by">Administrator</td>' in row
    assert "<li><code>http://127.0.0.1/callback</code></li><li><code>http://localhost/callback</code></li>" in row
    assert 'client-status-active">Active<' in row
    assert '<td class="field-last_used">never</td>' in row
    # 2 live access tokens + 3 refresh tokens not revoked (the expired access token's one included).
    assert '<td class="field-live_tokens">5</td>' in row
    other = by_name["Self app"]
    assert '<td class="field-registered_by">Itself (DCR)</td>' in other and "<time datetime=" in other
    assert '<td class="field-live_tokens">0</td>' in other


def test_the_change_list_searches_and_filters(admin_client) -> None:
    a = inprocess.make_client("Alpha", "https://alpha.example.com/cb", source=Client.RegistrationSource.MANUAL)
    b = inprocess.make_client("Beta", "https://beta.example.com/cb", source=Client.RegistrationSource.DCR)
    c = inprocess.make_client(
        "Gamma", "https://gamma.example.com/cb", source=Client.RegistrationSource.CIMD, is_enabled=False
    )
    c.last_used_at = timezone.now() - timedelta(days=40)
    c.save()

    def names(query: str) -> list[str]:
        page = admin_client.get(CLIENTS + query)
        assert page.status_code == 200
        return sorted(re.findall(r'<th class="field-display_name"><a [^>]*>([^<]+)</a>', page.content.decode()))

    assert names("") == ["Alpha", "Beta", "Gamma"]
    assert names(f"?q={b.client_id}") == ["Beta"]
    assert names("?q=alpha.example.com") == ["Alpha"]
    assert names("?status=disabled") == ["Gamma"]
    assert names("?status=active") == ["Alpha", "Beta"]
    assert names("?registration_source__exact=dcr") == ["Beta"]
    assert names("?used=never") == ["Alpha", "Beta"]
    assert names("?used=old") == ["Gamma"]
    assert names("?client_type__exact=public") == ["Alpha", "Beta", "Gamma"]
    assert a.client_id  # the manual one is listed with the others


def test_self_registered_clients_have_their_own_list_waiting_ones_first(admin_client, settings) -> None:
    inprocess.make_client("Mine", source=Client.RegistrationSource.MANUAL)
    inprocess.make_client("Old approved", source=Client.RegistrationSource.DCR)
    settings.NEW_CLIENT_APPROVAL = "manual"
    inprocess.make_client("Waiting", source=Client.RegistrationSource.CIMD)
    newest = inprocess.make_client("Newest approved", source=Client.RegistrationSource.DCR)
    Client.objects.filter(pk=newest.pk).update(approval="approved")
    assert Client.objects.get(name="Waiting").approval == "pending"

    page = admin_client.get(QUEUE).content.decode()
    listed = re.findall(r'<th class="field-display_name"><a [^>]*>([^<]+)</a>', page)
    assert listed[0] == "Waiting"
    assert sorted(listed) == ["Newest approved", "Old approved", "Waiting"]
    assert "<strong>New ones wait for approval</strong>" in page
    actions = re.findall(r'<option value="([a-z_]+)"', page)
    assert actions == ["delete_selected", "approve", "quarantine", "disable_and_revoke_tokens", "enable_clients"]
    assert admin_client.get(QUEUE + "add/").status_code == 403  # they register themselves

    main = admin_client.get(CLIENTS).content.decode()
    assert "1 self-registered client waits for approval." in main
    assert f'href="{QUEUE}?status=pending"' in main


def test_a_self_registered_clients_page_shows_its_claims_read_only(admin_client, settings) -> None:
    settings.NEW_CLIENT_APPROVAL = "manual"
    client = inprocess.make_client("Claims to be Claude", "https://evil.example.com/cb")
    page = admin_client.get(f"{QUEUE}{client.pk}/change/").content.decode()
    assert "its name and addresses are what it claims" in page
    assert 'name="redirect_uris"' not in page and 'name="name"' not in page  # read only
    assert 'name="approval"' in page and 'name="is_verified"' in page
    assert "This client waits for your approval" in page


# --- Actions ------------------------------------------------------------------------------------------
def run_action(admin_client, path: str, action: str, clients: list[Client], **extra):
    data = {"action": action, "_selected_action": [c.pk for c in clients], "index": "0", **extra}
    return admin_client.post(path, data)


def test_approve_and_quarantine(admin_client, settings) -> None:
    settings.NEW_CLIENT_APPROVAL = "manual"
    one, two = inprocess.make_client("One"), inprocess.make_client("Two")
    assert not one.is_usable(None)

    assert run_action(admin_client, QUEUE, "approve", [one, two]).status_code == 302
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.approval, two.approval) == ("approved", "approved")
    assert one.is_usable(None)

    assert run_action(admin_client, QUEUE, "quarantine", [two]).status_code == 302
    two.refresh_from_db()
    assert two.approval == "quarantined"
    assert not two.is_usable(None)


def test_disable_and_revoke_asks_first_then_revokes_every_token(admin_client) -> None:
    user = inprocess.make_user()
    client = inprocess.make_client("Leaky")
    bystander = inprocess.make_client("Bystander")
    make_tokens(client, user, live=2, expired=1)
    make_tokens(bystander, user, live=1)
    get_grant_model().objects.create(
        user=user,
        application=client,
        code="pending-code",
        expires=timezone.now() + timedelta(seconds=60),
        redirect_uri=inprocess.REDIRECT_URI,
        scope="mcp:read",
    )

    asked = run_action(admin_client, CLIENTS, "disable_and_revoke_tokens", [client])
    assert asked.status_code == 200
    assert b"Disable and revoke all tokens?" in asked.content
    assert b"5 live tokens" in asked.content
    client.refresh_from_db()
    assert client.is_enabled

    done = run_action(admin_client, CLIENTS, "disable_and_revoke_tokens", [client], confirm="yes")
    assert done.status_code == 302
    client.refresh_from_db()
    assert not client.is_enabled
    assert not get_access_token_model().objects.filter(application=client).exists()
    assert not get_refresh_token_model().objects.filter(application=client, revoked__isnull=True).exists()
    assert get_refresh_token_model().objects.filter(application=client).count() == 3  # kept, revoked
    assert not get_grant_model().objects.filter(application=client).exists()
    # Nobody else's tokens were touched.
    assert get_access_token_model().objects.filter(application=bystander).count() == 1
    assert get_refresh_token_model().objects.filter(application=bystander, revoked__isnull=True).count() == 1

    messages = admin_client.get(CLIENTS).content.decode()
    assert "1 client(s) disabled, 5 live token(s) revoked." in messages


def test_the_change_page_has_a_disable_button_with_confirmation(admin_client) -> None:
    user = inprocess.make_user()
    client = inprocess.make_client("Button", source=Client.RegistrationSource.MANUAL)
    make_tokens(client, user, live=1)

    page = admin_client.get(f"{CLIENTS}{client.pk}/change/").content.decode()
    disable_url = f"{CLIENTS}{client.pk}/disable/"
    assert f'<a class="danger-tool" href="{disable_url}">Disable and revoke all tokens</a>' in page

    confirm = admin_client.get(disable_url)
    assert confirm.status_code == 200
    assert b"2 live tokens" in confirm.content
    client.refresh_from_db()
    assert client.is_enabled

    done = admin_client.post(disable_url, {"confirm": "yes"})
    assert done.status_code == 302
    assert done["Location"] == f"{CLIENTS}{client.pk}/change/"
    client.refresh_from_db()
    assert not client.is_enabled
    assert not get_access_token_model().objects.filter(application=client).exists()
    assert "Disable and revoke" not in admin_client.get(f"{CLIENTS}{client.pk}/change/").content.decode()


def test_enable_brings_a_client_back_without_its_old_tokens(admin_client) -> None:
    user = inprocess.make_user()
    client = inprocess.make_client("Back")
    make_tokens(client, user, live=1)
    assert disable_and_revoke(client) == 2
    assert run_action(admin_client, CLIENTS, "enable_clients", [client]).status_code == 302
    client.refresh_from_db()
    assert client.is_enabled
    assert not get_refresh_token_model().objects.filter(application=client, revoked__isnull=True).exists()


def test_only_staff_reach_the_client_admin(client) -> None:
    answer = client.get(CLIENTS)
    assert answer.status_code == 302
    assert answer["Location"].startswith("/admin/login/")


# --- The approval setting, at the model ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "source", "expected"),
    [
        ("auto", Client.RegistrationSource.DCR, "approved"),
        ("auto", Client.RegistrationSource.CIMD, "approved"),
        ("manual", Client.RegistrationSource.DCR, "pending"),
        ("manual", Client.RegistrationSource.CIMD, "pending"),
        ("manual", Client.RegistrationSource.MANUAL, "approved"),
    ],
)
def test_new_client_approval_setting(settings, setting: str, source: str, expected: str) -> None:
    settings.NEW_CLIENT_APPROVAL = setting
    assert inprocess.make_client(source=source).approval == expected


# --- private_key_jwt clients: ChatGPT's preset, a JWKS URL or a pasted JWKS, checked on save -------
CHATGPT_JWKS = "https://chatgpt.com/oauth/jwks.json"
PER_APP_CALLBACK = "https://chatgpt.com/connector/oauth/Ab3_x-9Zq"


def chatgpt_form(**fields) -> dict:
    preset = PRESETS_BY_KEY["chatgpt"]
    return add_form(
        name=preset.name,
        client_id="chatgpt-here",
        client_type="confidential",
        redirect_uris="\r\n".join([*preset.redirect_uris, PER_APP_CALLBACK]),
        client_secret="a-secret-the-admin-copied-1234567890",
        **fields,
    )


def field_errors(answer, field: str) -> str:
    found = re.search(rf'<ul class="errorlist"[^>]*id="id_{field}_error">(.*?)</ul>', answer.content.decode(), re.S)
    return found[1].replace("&#x27;", "'") if found else ""


def test_the_chatgpt_preset_offers_private_key_jwt_with_its_jwks_url(admin_client) -> None:
    page = admin_client.get(CLIENTS + "add/?preset=chatgpt").content.decode()
    assert re.search(rf'name="client_jwks_uri"[^>]*value="{re.escape(CHATGPT_JWKS)}"', page)
    assert '<option value="private_key_jwt">' in page
    assert "connector/oauth/" in page  # the per-app callback, explained


def test_chatgpt_saved_as_a_private_key_jwt_client_then_signs_for_its_tokens(admin_client, stub_fetcher) -> None:
    from authserver.client_auth import ASSERTION_TYPE
    from tests.support.signing import ClientKey

    key = ClientKey("RS256")
    stub_fetcher.documents[CHATGPT_JWKS] = key.jwks()
    answer = admin_client.post(
        CLIENTS + "add/?preset=chatgpt",
        chatgpt_form(token_endpoint_auth_method="private_key_jwt", client_jwks_uri=CHATGPT_JWKS),
    )
    assert answer.status_code == 302, field_errors(answer, "client_jwks_uri") or answer.content.decode()[:3000]
    client = Client.objects.get(client_id="chatgpt-here")
    assert (client.token_endpoint_auth_method, client.client_type) == ("private_key_jwt", "confidential")
    assert client.client_jwks_uri == CHATGPT_JWKS and PER_APP_CALLBACK in client.redirect_uris.split()
    assert stub_fetcher.fetched == [CHATGPT_JWKS]  # checked when saved

    request = inprocess.request_for(client, redirect_uri=PER_APP_CALLBACK)
    _page, consented = inprocess.consent(admin_client, request.url("/authorize"))
    code = inprocess.query_of(consented["Location"])["code"]
    secret_answer = inprocess.token_request(admin_client, request, code, client_secret="a-secret-the-admin-copied")
    assert secret_answer.status_code == 401  # the secret is no longer a way in
    signed = {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": key.assertion(client.client_id, inprocess.ISSUER),
    }
    assert inprocess.token_request(admin_client, request, code, **signed).status_code == 200


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"client_jwks_uri": "https://chatgpt.com/no-such-jwks.json"}, "client_jwks_uri", "could not be used"),
        ({"client_jwks_uri": ""}, "client_jwks_uri", "needs its public keys: a JWKS URL or a pasted JWKS"),
        (
            {"client_jwks_uri": "", "client_jwks": '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'},
            "client_jwks",
            "private",
        ),
        ({"client_jwks_uri": "", "client_jwks": "not json"}, "client_jwks", "not valid JSON"),
    ],
)
def test_unusable_keys_are_refused_on_save(admin_client, stub_fetcher, fields: dict, field: str, words: str) -> None:
    answer = admin_client.post(CLIENTS + "add/", chatgpt_form(token_endpoint_auth_method="private_key_jwt", **fields))
    assert answer.status_code == 200
    assert words in field_errors(answer, field), answer.content.decode()[:3000]
    assert not Client.objects.filter(client_id="chatgpt-here").exists()


def test_a_pasted_jwks_is_saved(admin_client, stub_fetcher) -> None:
    from tests.support.signing import ClientKey

    jwks = json.dumps(ClientKey("EdDSA").jwks())
    answer = admin_client.post(
        CLIENTS + "add/",
        chatgpt_form(token_endpoint_auth_method="private_key_jwt", client_jwks_uri="", client_jwks=jwks),
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert json.loads(Client.objects.get(client_id="chatgpt-here").client_jwks) == json.loads(jwks)
    assert stub_fetcher.fetched == []


def test_a_secret_client_keeps_no_keys(admin_client, stub_fetcher) -> None:
    answer = admin_client.post(CLIENTS + "add/?preset=chatgpt", chatgpt_form(client_jwks_uri=CHATGPT_JWKS))
    assert answer.status_code == 302, answer.content.decode()[:3000]
    client = Client.objects.get(client_id="chatgpt-here")
    assert (client.token_endpoint_auth_method, client.client_jwks_uri) == ("", "")
    assert stub_fetcher.fetched == []
