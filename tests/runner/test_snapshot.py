"""Snapshots: canonical JSON, config_id and diffs."""

from __future__ import annotations

from conftest import BOTS, compile_yaml
from hypothesis import given
from hypothesis import strategies as st

from runner.compile import compile_file
from runner.snapshot import canonical_json, config_id, diff

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=6))
def test_canonical_json_ignores_key_order(data: dict[str, object]) -> None:
    reordered = dict(reversed(list(data.items())))
    assert canonical_json(reordered) == canonical_json(data)
    assert config_id(reordered) == config_id(data)


def test_formatting_and_comments_do_not_change_config_id() -> None:
    path = BOTS / "ema_cross.yaml"
    original = compile_file(path)
    reformatted = compile_yaml(
        "# a comment\n"
        + path.read_text().replace("{fee_bps: 2, slippage_bps: 0}", "\n      fee_bps: 2.0\n      slippage_bps: 0")
    )
    assert reformatted.config_id == original.config_id


def test_defaults_are_filled_so_omitting_them_changes_nothing() -> None:
    path = BOTS / "ema_cross.yaml"
    explicit = compile_yaml(
        path.read_text().replace("size: {fraction: 1.0}", "size: {fraction: 1.0}, allow_short: false")
    )
    assert explicit.config_id == compile_file(path).config_id
    assert explicit.snapshot["pipeline"][3]["with"]["allow_short"] is False


def test_failure_settings_are_in_the_snapshot_only_when_set() -> None:
    """Bots deployed before steps had timeouts and retries keep their config_id; setting one changes it."""
    path = BOTS / "ema_cross.yaml"
    plain = compile_file(path)
    line = "with: {fast: ema_fast, slow: ema_slow, size: {fraction: 1.0}}"
    defaults = compile_yaml(path.read_text().replace(line, line + "\n    on_error: skip_cycle\n    retries: 0"))
    assert defaults.config_id == plain.config_id
    guarded = compile_yaml(path.read_text().replace(line, line + "\n    timeout: 60s\n    retries: 2\n    backoff: 2s"))
    assert guarded.config_id != plain.config_id
    assert diff(plain.snapshot, guarded.snapshot) == [
        '+ pipeline[3].backoff: "2s"',
        "+ pipeline[3].retries: 2",
        '+ pipeline[3].timeout: "1m"',
    ]


def test_mode_and_description_are_not_part_of_the_deployment() -> None:
    text = (BOTS / "noop.yaml").read_text()
    a = compile_yaml(text)
    b = compile_yaml(text.replace("description: Reads", "mode: dry-run\ndescription: Still reads"))
    assert a.config_id == b.config_id


def test_a_changed_parameter_changes_config_id_and_shows_in_diff() -> None:
    path = BOTS / "ema_cross.yaml"
    old = compile_file(path)
    new = compile_yaml(path.read_text().replace("period: 50", "period: 55"))
    assert new.config_id != old.config_id
    assert diff(old.snapshot, new.snapshot) == ["~ pipeline[2].with.period: 50 -> 55"]


def test_diff_reports_added_and_removed_keys() -> None:
    assert diff({"a": 1, "b": [1, 2]}, {"b": [1, 3], "c": True}) == ["- a: 1", "~ b[1]: 2 -> 3", "+ c: true"]
