"""Scenario YAML: the bundled files load; every error names the file and the field."""

from __future__ import annotations

import textwrap

import pytest

from errors import UsageError
from simulator import load_scenario

GOOD = """\
- model: weld-defect
  feature: weld_current_ka
  kind: sudden_shift
  start: "+5m"
  magnitude: 2
"""


@pytest.mark.parametrize("name", ["default", "showcase", "none"])
def test_bundled_scenarios_load(name):
    scenario = load_scenario(name)
    assert scenario.name == name


def test_default_scenario_shape():
    s = load_scenario("default")
    kinds = sorted(i.kind for i in s.injections)
    assert kinds == ["gradual_drift", "sudden_shift"]
    assert len({i.model for i in s.injections}) == 2
    assert s.controls


def test_showcase_has_every_kind():
    from simulator.scenario import KINDS

    assert {i.kind for i in load_scenario("showcase").injections} == set(KINDS)


def _load(tmp_path, text):
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return load_scenario(path)


def test_good_file(tmp_path):
    s = _load(tmp_path, "injections:\n" + textwrap.indent(GOOD, "  "))
    assert s.injections[0].start.seconds(0) == 300


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("magnitude: 2", "magnitude: lots"), "injections[0].magnitude"),
        (GOOD.replace('"+5m"', '"+5 parsecs"'), "injections[0].start"),
        (GOOD.replace("sudden_shift", "gradual_drift"), "injections[0].ramp"),
        (GOOD.replace("sudden_shift", "earthquake"), "injections[0].kind"),
        (GOOD.replace("magnitude: 2", "magnitdue: 2"), "injections[0].magnitude"),
        (GOOD.replace("weld-defect", "time-machine"), "injections[0].model"),
        (GOOD.replace("weld_current_ka", "flux_capacitor"), "injections[0].feature"),
        (GOOD.replace("weld_current_ka", "coating"), "injections[0].kind"),
    ],
)
def test_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(UsageError) as err:
        _load(tmp_path, "injections:\n" + textwrap.indent(text, "  "))
    assert f"scenario.yaml: {field}" in str(err.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("controls: [weld-defect]\ninjections:\n" + textwrap.indent(GOOD, "  "), "controls[0]"),
        ("controls: [nope]\n", "controls[0]"),
        ("label_delays: {weld-defect: {median: soon}}\n", "label_delays.weld-defect.median"),
        ("label_delays: {nope: {median: 1h}}\n", "label_delays.nope"),
        ("energy: {weld-defect: {interval_s: 0}}\n", "energy.weld-defect.interval_s"),
        (
            "injections:\n  - {model: paint-defect, feature: paint_supplier, kind: new_category,"
            " category: ppg}\n",
            "injections[0].category",
        ),
        (
            "injections:\n  - {model: panel-mura, feature: coater_rpm, kind: missing_sensor,"
            " magnitude: 1.5}\n",
            "injections[0].magnitude",
        ),
        ("nmae: typo\n", "nmae"),
    ],
)
def test_section_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(UsageError) as err:
        _load(tmp_path, text)
    assert f"scenario.yaml: {field}" in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(UsageError, match=r"scenario.yaml: line \d+: invalid YAML"):
        _load(tmp_path, "name: x\ninjections: [\n")


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.yaml")
