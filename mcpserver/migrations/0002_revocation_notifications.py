"""PostgreSQL triggers that announce revocations to every worker's token cache.

Whatever removes or changes an access token, a client or a user in a way that could change the
verdict on a token (DOT's revoke, refresh rotation, the admin's "disable and revoke", a user's
revoke on connected apps, `cleartokens`, a cascade, plain SQL) sends a NOTIFY on
`revocations.CHANNEL`, delivered when its transaction commits: the token's checksum, or "*"
for "forget everything". Triggers rather than Django signals, because signals are only heard by
the process that made the change (mcpserver/revocations.py). Other databases get nothing: their
token cache has no listener and is off unless asked for.
"""

from django.conf import settings
from django.db import migrations
from oauth2_provider.settings import oauth2_settings

from mcpserver.revocations import CHANNEL, EVERYTHING

# Past this many tokens removed by one statement (an expired-token cleanup), one "*" instead of a
# notification per token.
MANY = 100


def _sql(apps) -> tuple[list[str], list[str]]:
    tokens = apps.get_model(oauth2_settings.ACCESS_TOKEN_MODEL)._meta.db_table
    clients = apps.get_model(oauth2_settings.APPLICATION_MODEL)._meta.db_table
    users = apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table
    install = [
        f"""
        CREATE OR REPLACE FUNCTION mcp_access_tokens_removed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT count(*) FROM removed) > {MANY} THEN
                PERFORM pg_notify('{CHANNEL}', '{EVERYTHING}');
            ELSE
                PERFORM pg_notify('{CHANNEL}', token_checksum) FROM removed;
            END IF;
            RETURN NULL;
        END $$""",
        f"""
        CREATE OR REPLACE FUNCTION mcp_access_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', OLD.token_checksum);
            RETURN NULL;
        END $$""",
        f"""
        CREATE OR REPLACE FUNCTION mcp_tokens_owner_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '{EVERYTHING}');
            RETURN NULL;
        END $$""",
        f"""
        CREATE TRIGGER mcp_access_tokens_removed AFTER DELETE ON "{tokens}"
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION mcp_access_tokens_removed()""",
        f"""
        CREATE TRIGGER mcp_access_tokens_emptied AFTER TRUNCATE ON "{tokens}" FOR EACH STATEMENT
        EXECUTE FUNCTION mcp_tokens_owner_changed()""",
        f"""
        CREATE TRIGGER mcp_access_token_changed AFTER UPDATE ON "{tokens}" FOR EACH ROW
        WHEN ((OLD.token_checksum, OLD.expires, OLD.scope, OLD.resource, OLD.user_id, OLD.application_id)
              IS DISTINCT FROM
              (NEW.token_checksum, NEW.expires, NEW.scope, NEW.resource, NEW.user_id, NEW.application_id))
        EXECUTE FUNCTION mcp_access_token_changed()""",
        f"""
        CREATE TRIGGER mcp_client_changed AFTER UPDATE ON "{clients}" FOR EACH ROW
        WHEN ((OLD.client_id, OLD.is_enabled, OLD.approval) IS DISTINCT FROM (NEW.client_id, NEW.is_enabled, NEW.approval))
        EXECUTE FUNCTION mcp_tokens_owner_changed()""",
        f"""
        CREATE TRIGGER mcp_client_removed AFTER DELETE ON "{clients}" FOR EACH STATEMENT
        EXECUTE FUNCTION mcp_tokens_owner_changed()""",
        f"""
        CREATE TRIGGER mcp_user_changed AFTER UPDATE ON "{users}" FOR EACH ROW
        WHEN ((OLD.is_active, OLD.username) IS DISTINCT FROM (NEW.is_active, NEW.username))
        EXECUTE FUNCTION mcp_tokens_owner_changed()""",
        f"""
        CREATE TRIGGER mcp_user_removed AFTER DELETE ON "{users}" FOR EACH STATEMENT
        EXECUTE FUNCTION mcp_tokens_owner_changed()""",
    ]
    remove = [
        f'DROP TRIGGER IF EXISTS mcp_access_tokens_removed ON "{tokens}"',
        f'DROP TRIGGER IF EXISTS mcp_access_tokens_emptied ON "{tokens}"',
        f'DROP TRIGGER IF EXISTS mcp_access_token_changed ON "{tokens}"',
        f'DROP TRIGGER IF EXISTS mcp_client_changed ON "{clients}"',
        f'DROP TRIGGER IF EXISTS mcp_client_removed ON "{clients}"',
        f'DROP TRIGGER IF EXISTS mcp_user_changed ON "{users}"',
        f'DROP TRIGGER IF EXISTS mcp_user_removed ON "{users}"',
        "DROP FUNCTION IF EXISTS mcp_access_tokens_removed()",
        "DROP FUNCTION IF EXISTS mcp_access_token_changed()",
        "DROP FUNCTION IF EXISTS mcp_tokens_owner_changed()",
    ]
    return install, remove


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in _sql(apps)[0]:
            schema_editor.execute(statement)


def remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in _sql(apps)[1]:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("mcpserver", "0001_initial"),
        ("authserver", "0002_selfregisteredclient"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(install, remove)]
