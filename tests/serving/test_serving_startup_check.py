"""The gateway refuses to start on a store that does not verify against its newest published
checkpoint (checkpoints.repo), starts when nothing is published (and says so), and serves
anyway only when told to (checkpoints.verify: false). Real SQLite (and PostgreSQL) stores, real
git repository."""
from __future__ import annotations

import subprocess

import pytest

from llmreg.registry.errors import IntegrityError
from llmreg.registry.witness import take_checkpoint, write_checkpoint_to_git
from llmreg.serving.app import create_app
from llmreg.serving.config import GatewayConfig
from serving_fixtures import BOTH_STORES, make_spec, release


def _config(store_url: str, repo, **checkpoints) -> GatewayConfig:
    return GatewayConfig.from_dict({"store_url": store_url, "slo_guard": {"enabled": False},
                                    "checkpoints": {"repo": str(repo), **checkpoints}})


def _tamper(store_url: str, *statements: str) -> None:
    """An attacker with write access to the database: append-only triggers off, then `statements`."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER IF EXISTS events_append_only_update"))
                conn.execute(text("DROP TRIGGER IF EXISTS events_append_only_delete"))
            else:
                conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture
def published(registry, store_url, tmp_path):
    """A released version and a checkpoint of it committed to a git repository."""
    repo = tmp_path / "checkpoints-repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    release(registry, make_spec())
    cp = take_checkpoint(registry, registry.keys.key_for("release-bot"))  # embedded: a key that signed events
    write_checkpoint_to_git(str(repo), cp)
    return repo


@BOTH_STORES
def test_an_untampered_store_starts(registry, store_url, published, caplog):
    caplog.set_level("INFO", logger="llmreg.gateway")
    registry.register(make_spec(params={"max_tokens": 9}), actor="alice")  # the log grows past the checkpoint
    app = create_app(_config(store_url, published), registry=registry)
    assert app.state.gateway is not None
    assert "store verified against its newest checkpoint" in caplog.text


def test_nothing_published_starts_and_says_so(registry, store_url, tmp_path, caplog):
    caplog.set_level("INFO", logger="llmreg.gateway")
    release(registry, make_spec())
    create_app(_config(store_url, tmp_path / "no-repo"), registry=registry)
    assert "no published checkpoint yet" in caplog.text


@BOTH_STORES
@pytest.mark.parametrize("sql", [
    # who approved, rewritten (hashes left alone: the chain catches it)
    ("UPDATE events SET actor = 'mallory' WHERE type = 'approval.granted'",),
    # truncation below the checkpoint, with the head row reset
    ("DELETE FROM events WHERE seq > 3", "UPDATE head SET seq = 3, hash = (SELECT hash FROM events WHERE seq = 3)"),
])
def test_a_tampered_store_is_refused_in_one_line(registry, store_url, published, sql):
    _tamper(store_url, *sql)
    with pytest.raises(IntegrityError) as info:
        create_app(_config(store_url, published), registry=registry)
    message = str(info.value)
    assert message.startswith("gateway not started: ") and "\n" not in message
    assert "checkpoint" in message or "audit FAILED" in message


def test_a_tampered_store_serves_only_with_the_explicit_opt_out(registry, store_url, published, caplog):
    caplog.set_level("INFO", logger="llmreg.gateway")
    _tamper(store_url, "UPDATE events SET actor = 'mallory' WHERE type = 'approval.granted'")
    create_app(_config(store_url, published, verify=False), registry=registry)
    assert "checkpoint check off" in caplog.text
