"""Prompt lookup by name + version + digest, and rendering with request variables."""
from __future__ import annotations

import pytest

from llmreg.registry.prompts import render
from llmreg.serving.api_errors import ApiError
from llmreg.serving.templates import PromptLibrary, check_variables, render_template

from serving_fixtures import PROMPT_TEMPLATE, prompt_sha, write_prompt


def test_finds_the_template_matching_name_version_and_digest(tmp_path):
    write_prompt(tmp_path)
    library = PromptLibrary(tmp_path)
    template = library.get("triage-prompt@v1", prompt_sha())
    assert template.template == PROMPT_TEMPLATE
    rendered = render_template(template, {"text": "my card was charged twice"})
    assert rendered == render(PROMPT_TEMPLATE, text="my card was charged twice") == \
        "ticket : my card was charged twice label :"


def test_edited_template_is_refused_naming_both_digests(tmp_path):
    write_prompt(tmp_path, template="ticket: {text} -> label:")
    library = PromptLibrary(tmp_path)
    with pytest.raises(ApiError) as info:
        library.get("triage-prompt@v1", prompt_sha())
    assert info.value.status == 500
    assert info.value.code == "prompt_mismatch"
    assert prompt_sha()[:12] in info.value.message


def test_two_files_same_version_the_digest_picks_one(tmp_path):
    write_prompt(tmp_path / "a", template="A {text}")
    write_prompt(tmp_path / "b", template=PROMPT_TEMPLATE)
    assert PromptLibrary(tmp_path).get("triage-prompt@v1", prompt_sha()).template == PROMPT_TEMPLATE


def test_missing_template_then_added_is_found_without_restart(tmp_path):
    library = PromptLibrary(tmp_path)
    with pytest.raises(ApiError) as info:
        library.get("triage-prompt@v1", prompt_sha())
    assert info.value.code == "prompt_not_found"
    write_prompt(tmp_path)
    assert library.get("triage-prompt@v1", prompt_sha()).version == "v1"


def test_missing_variable_is_a_400_naming_it(tmp_path):
    write_prompt(tmp_path, version="v2", template="{greeting} ticket : {text}")
    template = PromptLibrary(tmp_path).get("triage-prompt@v2", None)
    with pytest.raises(ApiError) as info:
        render_template(template, {"text": "x"})
    assert info.value.status == 400
    assert info.value.param == "llmreg.variables.greeting"


def test_user_text_is_data_not_a_format_string(tmp_path):
    write_prompt(tmp_path)
    template = PromptLibrary(tmp_path).get("triage-prompt@v1", prompt_sha())
    assert render_template(template, {"text": "{text} {0} {__class__}"}) == "ticket : {text} {0} {__class__} label :"


@pytest.mark.parametrize("bad", [[1], {"1x": "a"}, {"ok": {"nested": 1}}])
def test_variables_must_be_flat_scalars(bad):
    with pytest.raises(ApiError) as info:
        check_variables(bad)
    assert info.value.status == 400 and info.value.param.startswith("llmreg.variables")
