"""DRGERO_SECRETS_KEY is validated at start-up: a malformed key is a clear error, not a 500."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from shared.settings import Settings, secrets_keys


def test_a_malformed_key_stops_the_start_up_with_a_clear_error_that_hides_it():
    good = Fernet.generate_key().decode()
    with pytest.raises(ValidationError) as raised:
        Settings(secrets_key=f"{good},not-a-fernet-key-at-all")
    message = str(raised.value)
    assert "DRGERO_SECRETS_KEY" in message and "key 2 of 2" in message
    assert "not-a-fernet-key-at-all" not in message and good not in message


def test_a_comma_separated_list_is_accepted_first_key_first():
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = Settings(secrets_key=f" {new} , {old} ")
    assert secrets_keys(settings.secrets_key) == [new, old]
    assert Settings(secrets_key="").secrets_key is None


def test_an_instance_with_a_malformed_key_does_not_start():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = os.environ | {"DRGERO_SECRETS_KEY": "zz9-not-a-key"}
    started = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "DRGERO_SECRETS_KEY" in started.stderr and "not a Fernet key" in started.stderr
    assert "zz9-not-a-key" not in started.stderr
