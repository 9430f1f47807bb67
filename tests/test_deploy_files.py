"""The deployment files, checked without a container engine: the Dockerfile (hadolint, and what
the final image holds), its collectstatic step (run for real on a copy of the build context), the
compose files' structure (PyYAML), the Caddyfile (caddy validate), the scripts, and .env.example
documenting every variable the stack reads. docker/check.sh (run by .ci/run) also validates the
compose files with the real Compose implementation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import VENV_BIN
from tests.support.server import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.split.yml")
# The server's own code: every environment variable it reads must be documented.
SERVER_SOURCES = [
    ROOT / "config",
    ROOT / "authserver",
    ROOT / "mcpserver",
    ROOT / "gunicorn.conf.py",
    ROOT / "docker",
]
ENV_READ = re.compile(
    r"""(?:env_(?:bool|int|list|str)|os\.environ\.get|os\.environ\[|getenv)\(?\s*\(?\s*f?["']([A-Z][A-Z0-9_]+)["']"""
)
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]+)")


def compose(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.MULTILINE))


def final_stage(dockerfile: str) -> str:
    return re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[-1]


def tool(name: str) -> str:
    path = shutil.which(name, path=VENV_BIN)
    assert path, f"{name} is missing: `make setup` installs it (requirements-dev.txt)"
    return path


# --- Dockerfile ----------------------------------------------------------------------------------
def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_final_image_is_slim_non_root_and_self_checking() -> None:
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", DOCKERFILE, flags=re.MULTILINE)
    assert stages == [("python:3.11-slim-bookworm", "build"), ("python:3.11-slim-bookworm", "")]
    final = final_stage(DOCKERFILE)
    # No compiler or package manager run in the final stage; the virtualenv comes built.
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", final)
    assert "COPY --from=build /opt/venv /opt/venv" in final
    user = re.findall(r"^USER (\S+)$", final, flags=re.MULTILINE)
    assert user == ["10001:10001"]
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \["python", "/app/docker/healthcheck.py", "/healthz"\]$', final, re.M)
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in final
    assert "collectstatic --noinput" in final
    assert "BIND=0.0.0.0:8000" in final
    # No secret baked into the image's environment.
    for env_block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", DOCKERFILE, flags=re.MULTILINE):
        assert not re.search(r"SECRET|PASSWORD", env_block)


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "tests", "db.sqlite3*", "staticfiles"):
        assert entry in ignored


def test_the_images_collectstatic_step_produces_the_manifest_whitenoise_serves(tmp_path: Path) -> None:
    context = tmp_path / "app"
    shutil.copytree(
        ROOT,
        context,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "tests", "staticfiles", "__pycache__", "*.sqlite3*", "node_modules", "test-artifacts"
        ),
    )
    (step,) = [
        line
        for line in re.findall(r"^RUN ((?:.*\\\n)*.*)$", final_stage(DOCKERFILE), flags=re.MULTILINE)
        if "collectstatic" in line
    ]
    env = {"PATH": VENV_BIN + os.pathsep + "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["sh", "-c", step.replace("\\\n", " ")], cwd=context, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((context / "staticfiles" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert re.fullmatch(r"admin/css/base\.[0-9a-f]{12}\.css", hashed)
    assert (context / "staticfiles" / (hashed + ".gz")).exists()
    # With the manifest in place, the settings switch to it and templates link the hashed name.
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "from django.templatetags.static import static; "
        "print(settings.STATIC_COLLECTED, settings.STORAGES['staticfiles']['BACKEND'], static('admin/css/base.css'))"
    )
    shown = subprocess.run(
        ["python", "-c", probe],
        cwd=context,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x", "DEBUG": "0"},
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        "True",
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "/static/" + hashed,
    ]


# --- Scripts -------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", ["entrypoint.sh", "cleanup.sh", "check.sh"])
def test_scripts_are_executable_posix_shell(script: str) -> None:
    path = ROOT / "docker" / script
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/bin/sh\n")
    assert subprocess.run(["sh", "-n", str(path)], timeout=30).returncode == 0


def test_the_entrypoint_does_what_the_container_does_on_start() -> None:
    lines = [line.strip() for line in (ROOT / "docker" / "entrypoint.sh").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands[-2:] == [
        "python docker/prestart.py",
        "exec python -m gunicorn config.asgi:application -c gunicorn.conf.py",
    ]
    prestart = (ROOT / "docker" / "prestart.py").read_text()
    order = [prestart.index(step) for step in ('run("migrate"', 'run("createcachetable")', 'run("seed_users")')]
    assert order == sorted(order) and prestart.index("wait_for_database(settings") < order[0]


# --- Compose files -------------------------------------------------------------------------------
def test_the_default_stack() -> None:
    stack = compose("docker-compose.yml")
    services = stack["services"]
    assert set(services) == {"db", "web", "cleanup", "proxy"}
    assert [name for name, service in services.items() if "profiles" not in service] == ["db", "web", "cleanup"]

    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"] and "pgdata" in stack["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    web = services["web"]
    assert web["build"] == "."
    assert web["ports"] == ["${WEB_PORTS:-127.0.0.1:8000:8000}"]
    assert web["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert web["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py", "/readyz"]
    assert web["environment"]["DEBUG"] == "0"
    assert "command" not in web and "entrypoint" not in web  # the image's entrypoint

    cleanup = services["cleanup"]
    assert cleanup["entrypoint"] == ["/app/docker/cleanup.sh"]
    assert cleanup["depends_on"] == {"web": {"condition": "service_healthy"}}
    assert cleanup["image"] == web["image"]

    proxy = services["proxy"]
    assert proxy["profiles"] == ["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert set(proxy["ports"]) == {"80:80", "443:443", "443:443/udp"}
    assert "./docker/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]


def test_the_split_stack() -> None:
    services = compose("docker-compose.split.yml")["services"]
    assert set(services) == {"db", "auth", "mcp", "cleanup"}
    auth, resource = services["auth"]["environment"], services["mcp"]["environment"]
    assert auth["SERVER_ROLE"] == "authorization" and resource["SERVER_ROLE"] == "resource"
    assert services["auth"]["image"] == services["mcp"]["image"]  # the same image
    assert auth["RESOURCE_SERVER_URL"].startswith("${MCP_PUBLIC_URL:?")
    assert resource["PUBLIC_URL"].startswith("${MCP_PUBLIC_URL:?")
    assert resource["AUTH_SERVER_URL"].startswith("${PUBLIC_URL:?")
    assert resource["INTROSPECTION_URL"] == "http://auth:8000/introspect"
    assert "auth" in auth["EXTRA_ALLOWED_HOSTS"].split(",")
    assert auth["DATABASE_URL"] != resource["DATABASE_URL"]  # they share no table
    assert resource["DEMO_USERNAME"] == "" and resource["ADMIN_USERNAME"] == ""
    assert services["mcp"]["depends_on"] == {"auth": {"condition": "service_healthy"}}
    assert services["cleanup"]["environment"]["SERVER_ROLE"] == "authorization"
    init = services["db"]["volumes"][1].split(":")[0]
    assert (ROOT / init).read_text().count("CREATE DATABASE mcp_resource") == 1


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_no_secret_has_a_default(name: str) -> None:
    text = (ROOT / name).read_text()
    for variable in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        assert "${" + variable + ":?" in text
    assert not re.search(r"\$\{\w*(SECRET|PASSWORD)\w*:?-", text)
    # Every literal value of a secret-looking key is a reference to .env, never a value.
    for service in compose(name)["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD", key):
                assert str(value).startswith("${") and ":?" in str(value), (key, value)


@pytest.mark.parametrize("name", [*COMPOSE_FILES, "docker/Caddyfile"])
def test_every_variable_the_deployment_files_use_is_documented(name: str) -> None:
    used = set(SHELL_READ.findall((ROOT / name).read_text())) | set(
        re.findall(r"\{\$([A-Z][A-Z0-9_]+)\}", (ROOT / name).read_text())
    )
    missing = sorted(used - documented() - {"POSTGRES_USER", "POSTGRES_DB"})
    assert not missing, f"add these to .env.example: {missing}"


def test_every_variable_the_server_reads_is_documented() -> None:
    read: set[str] = set()
    for source in SERVER_SOURCES:
        for path in [source] if source.is_file() else source.rglob("*"):
            if path.suffix in (".py", ".sh") and "migrations" not in path.parts:
                text = path.read_text()
                read |= set(ENV_READ.findall(text))
                # env_limit("NAME", …) in settings reads three variables.
                for name in re.findall(r'env_limit\("([A-Z][A-Z0-9_]+)"', text):
                    read |= {f"{name}_RATE_LIMIT", f"{name}_GLOBAL_RATE_LIMIT", f"{name}_RATE_WINDOW"}
                if path.suffix == ".sh":
                    read |= set(SHELL_READ.findall(text))
    assert {"SECRET_KEY", "PUBLIC_URL", "SERVER_ROLE", "BIND", "CLEANUP_INTERVAL", "TOKEN_RATE_LIMIT"} <= read
    missing = sorted(read - documented() - {"DJANGO_SETTINGS_MODULE", "CI"})
    assert not missing, f"add these to .env.example: {missing}"


def test_the_env_example_holds_no_secret_value() -> None:
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", ENV_EXAMPLE, flags=re.MULTILINE))
    for name, value in values.items():
        if re.search(r"SECRET|PASSWORD", name):
            assert value == "", name


# --- Caddyfile -----------------------------------------------------------------------------------
def test_the_caddyfile_is_valid_and_balances_the_web_replicas(tmp_path: Path) -> None:
    env = {"PUBLIC_URL": "https://mcp.example.com", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    caddy = tool("caddy")
    adapted = subprocess.run(
        [caddy, "adapt", "--config", "docker/Caddyfile", "--adapter", "caddyfile"],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert adapted.returncode == 0, adapted.stderr
    server = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert server["routes"][0]["match"] == [{"host": ["mcp.example.com"]}]
    (proxy,) = server["routes"][0]["handle"][0]["routes"][0]["handle"]
    assert proxy["handler"] == "reverse_proxy"
    assert proxy["dynamic_upstreams"] == {
        "source": "a",
        "name": "web",
        "port": "8000",
        "refresh": 5_000_000_000,
        "resolver": {"addresses": ["127.0.0.11"]},  # Docker's embedded DNS
    }
    assert proxy["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert proxy["flush_interval"] == -1
    validated = subprocess.run(
        [caddy, "validate", "--config", "docker/Caddyfile", "--adapter", "caddyfile"],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validated.returncode == 0, validated.stderr
