"""A function's settings (lambdas/shared/env.py): a missing one and a malformed one fail at cold
start, each with its own exception."""

from __future__ import annotations

import pytest

from lambdas.shared import env


def test_a_required_setting_that_is_not_set_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTVOTE_TEST_SETTING", "")

    with pytest.raises(env.MissingSetting, match="TEXTVOTE_TEST_SETTING must be set"):
        env.required("TEXTVOTE_TEST_SETTING")


def test_a_number_that_is_not_one_is_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTVOTE_TEST_SETTING", "five")

    with pytest.raises(env.BadSetting, match="must be a number, not 'five'"):
        env.number("TEXTVOTE_TEST_SETTING", 5.0)


def test_a_number_is_read_or_defaulted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTVOTE_TEST_SETTING", "2.5")
    assert env.number("TEXTVOTE_TEST_SETTING", 5.0) == 2.5
    monkeypatch.delenv("TEXTVOTE_TEST_SETTING")
    assert env.number("TEXTVOTE_TEST_SETTING", 5.0) == 5.0
