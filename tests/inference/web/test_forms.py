from __future__ import annotations

import pytest

from inference.contract import kinds, validation
from inference.contract.validation import DemoInputError
from inference.web.forms import GenerateForm, ReshapeForm, form_class


@pytest.fixture(autouse=True)
def _no_models(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "no-models"
    settings.INFERENCE_PROFILE = "tiny"


def initial_data(form_class) -> dict[str, str]:
    form = form_class()
    data = {}
    for name, field in form.fields.items():
        value = form.get_initial_for_field(field, name)
        if value not in (None, False):
            data[name] = str(value)
    return data


@pytest.mark.parametrize("kind", sorted(kinds.names()))
def test_every_form_is_valid_with_its_defaults_and_cleans_through_validation(kind):
    data = initial_data(form_class(kind))
    form = form_class(kind)(data)
    assert form.is_valid(), form.errors
    assert form.params == kinds.validate(kind, data)


@pytest.mark.parametrize("kind", sorted(kinds.names()))
def test_every_field_has_a_label(kind):
    for field in form_class(kind)():
        assert field.label
        assert f'for="{field.id_for_label}"' in field.label_tag()


def test_messages_are_the_validators_own():
    data = {"text": "No blank here", "top_k": "5"}
    form = form_class("fill-mask")(data)
    assert not form.is_valid()
    with pytest.raises(DemoInputError) as info:
        validation.validate_fill_mask(**data)
    assert form.errors == {"text": [info.value.message]}


def test_empty_text_gets_the_friendly_message_not_djangos_required():
    form = form_class("tokenize")({"text": ""})
    assert not form.is_valid()
    assert form.errors["text"] == ["Type a sentence first."]


def test_numeric_error_goes_to_its_field():
    form = GenerateForm({"prompt": "Hi", "do_sample": "on", "temperature": "nan"})
    assert not form.is_valid()
    assert form.errors == {"temperature": ["Temperature must be a number from 0.01 to 5."]}


def test_generate_checkbox_off_ignores_sampling_fields():
    form = GenerateForm({"prompt": "Hi", "max_new_tokens": "5", "temperature": "-3"})
    assert form.is_valid(), form.errors
    assert form.params["do_sample"] is False
    assert form.params["temperature"] == 1.0


def test_generate_groups_its_sampling_fields():
    form = GenerateForm()
    assert [f.name for f in form.sampling_bound_fields()] == [
        "temperature",
        "top_k",
        "top_p",
        "seed",
    ]
    assert "temperature" not in [f.name for f in form.main_fields()]
    assert form_class("fill-mask")().sampling_bound_fields() == []


def test_number_widgets_carry_the_limits():
    html = str(GenerateForm()["max_new_tokens"])
    assert 'min="1"' in html
    assert 'max="48"' in html


def test_text_widgets_carry_the_character_limit():
    assert 'maxlength="400"' in str(form_class("fill-mask")()["text"])


@pytest.mark.parametrize(
    ("data", "knobs"),
    [
        ({}, {"temperature": 1.0, "top_k": 0, "top_p": 1.0}),
        (
            {"temperature": "0.5", "top_k": "10", "top_p": "0.9"},
            {"temperature": 0.5, "top_k": 10, "top_p": 0.9},
        ),
    ],
)
def test_reshape_form_knobs(data, knobs):
    form = ReshapeForm(data)
    assert form.is_valid()
    assert form.knobs == knobs


@pytest.mark.parametrize(
    ("data", "field"),
    [({"temperature": "0"}, "temperature"), ({"top_k": "-1"}, "top_k"), ({"top_p": "2"}, "top_p")],
)
def test_reshape_form_refuses_bad_knobs(data, field):
    form = ReshapeForm(data)
    assert not form.is_valid()
    assert list(form.errors) == [field]
