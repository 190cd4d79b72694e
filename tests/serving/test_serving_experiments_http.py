"""A/B experiments over real HTTP with the openai client: the gateway assigns callers to
variants (sticky, proportional), each variant resolves through the registry like a direct
request (a canary inside it still applies, independently), and every response and
gateway_calls row names the experiment and the variant."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from llmreg.registry.errors import BadInput
from llmreg.serving.app import create_app
from llmreg.serving.assignment import bucket, experiment_salt, split_salt
from llmreg.serving.call_log import read_rows
from llmreg.serving.call_metrics import summarize_calls
from llmreg.serving.config import GatewayConfig
from serving_fixtures import BOTH_STORES, NAME, make_spec, promote_through, release, wait_until

MSG = [{"role": "user", "content": "my card was charged twice"}]
V2 = "support-triage-v2"
CONTROL_MODEL, CANDIDATE_MODEL = "gpt-5-mini-2026-01-01", "gpt-5-nano-2026-02-01"


def experiments(control: float = 0.5, candidate: float = 0.5, *, candidate_entry: str = V2,
                candidate_stage: str = "production"):
    return GatewayConfig.from_dict({"experiments": {"triage-ab": {"variants": {
        "control": {"entry": NAME, "stage": "production", "weight": control},
        "candidate": {"entry": candidate_entry, "stage": candidate_stage, "weight": candidate},
    }}}}).experiments


def two_entries(registry):
    control = release(registry, make_spec(model=CONTROL_MODEL))
    candidate = release(registry, make_spec(name=V2, model=CANDIDATE_MODEL))
    return control, candidate


def served_model(response) -> str:
    return json.loads(response.choices[0].message.content)["model"]


@BOTH_STORES
def test_split_is_proportional_deterministic_and_every_row_names_the_variant(registry, start_gateway):
    control, candidate = two_entries(registry)
    gw = start_gateway(experiments=experiments(0.3, 0.7))
    client = gw.client()
    callers = [f"user-{i}" for i in range(400)]

    def call(caller: str):
        raw = client.chat.completions.with_raw_response.create(model="triage-ab", messages=MSG, user=caller)
        return caller, raw.headers, raw.parse()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, callers))
    salt = experiment_salt("triage-ab", "default")
    in_control = {c for c, _, r in results if r.llmreg["experiment"] == {"name": "triage-ab", "variant": "control"}}
    assert in_control == {c for c in callers if bucket(c, salt) < 0.3}  # assignment is a function of the key
    assert abs(len(in_control) / len(callers) - 0.3) < 0.07
    for caller, headers, response in results:
        arm = "control" if caller in in_control else "candidate"
        entry, version, model = ((NAME, control.version, CONTROL_MODEL) if arm == "control"
                                 else (V2, candidate.version, CANDIDATE_MODEL))
        assert (response.llmreg["entry"], response.llmreg["version"]) == (entry, version)
        assert response.llmreg["variant"] == "production"  # the rollout role inside the variant's entry
        assert headers["x-llmreg-experiment"] == f"triage-ab/{arm}"
        assert headers["x-llmreg-version"] == f"{entry}@{version}"
        assert served_model(response) == model  # the variant's entry really served it

    gw.flush()
    rows = {r["request_id"]: r for r in read_rows(gw.engine)}
    assert len(rows) == len(results)
    for _, headers, response in results:
        row = rows[headers["x-request-id"]]
        assert (row["experiment"], row["name"], row["version"], row["variant"], row["status"]) == (
            f"triage-ab/{response.llmreg['experiment']['variant']}", response.llmreg["entry"],
            response.llmreg["version"], "production", 200)

    by_arm = {s.experiment: s for s in summarize_calls(gw.store_url, None, "default", experiment="triage-ab")}
    assert set(by_arm) == {"triage-ab/control", "triage-ab/candidate"}
    assert by_arm["triage-ab/control"].count == len(in_control)
    assert by_arm["triage-ab/candidate"].count == len(callers) - len(in_control)
    assert (by_arm["triage-ab/candidate"].name, by_arm["triage-ab/candidate"].version) == (V2, candidate.version)


def test_the_same_caller_always_gets_the_same_variant(registry, start_gateway):
    two_entries(registry)
    client = start_gateway(experiments=experiments()).client()
    salt = experiment_salt("triage-ab", "default")
    for caller in ("alice@example.com", "bob@example.com", "carol@example.com", "dan@example.com"):
        seen = {client.chat.completions.create(model="triage-ab", messages=MSG, user=caller).llmreg["experiment"]["variant"]
                for _ in range(10)}
        assert seen == {"control" if bucket(caller, salt) < 0.5 else "candidate"}
    # the caller header wins over `user`: one tenant key, many users -> one variant
    seen = {client.chat.completions.create(model="triage-ab", messages=MSG, user=f"u{i}",
                                           extra_headers={"X-LLMReg-Caller": "tenant-42"}).llmreg["experiment"]["variant"]
            for i in range(10)}
    assert seen == {"control" if bucket("tenant-42", salt) < 0.5 else "candidate"}


def test_a_canary_inside_a_variant_still_applies_independently(registry, start_gateway):
    stable = release(registry, make_spec(model=CONTROL_MODEL))
    canary = release(registry, make_spec(model=CONTROL_MODEL, params={"max_tokens": 6}), to="canary", weight=0.5)
    release(registry, make_spec(name=V2, model=CANDIDATE_MODEL))
    gw = start_gateway(experiments=experiments())
    client = gw.client()
    callers = [f"caller-{i}" for i in range(600)]

    def call(caller: str):
        return caller, client.chat.completions.create(model="triage-ab", messages=MSG, user=caller)

    with ThreadPoolExecutor(8) as pool:
        results = dict(pool.map(call, callers))
    canary_salt = split_salt(NAME, "default")
    cells = {(arm, hit): 0 for arm in ("control", "candidate") for hit in (False, True)}
    for caller, response in results.items():
        arm = response.llmreg["experiment"]["variant"]
        in_canary_share = bucket(caller, canary_salt) < 0.5
        cells[(arm, in_canary_share)] += 1
        if arm == "control":  # the control arm's entry has a canary: the caller's canary draw decides
            want = (canary.version, "canary", 6) if in_canary_share else (stable.version, "production", 5)
            sent = json.loads(response.choices[0].message.content)
            assert (response.llmreg["version"], response.llmreg["variant"], sent["max_tokens"]) == want
        else:
            assert (response.llmreg["entry"], response.llmreg["variant"]) == (V2, "production")
    # independent draws: each (arm, canary share) cell holds about a quarter of the callers
    assert all(abs(n / len(callers) - 0.25) < 0.05 for n in cells.values()), cells

    gw.flush()
    split = {(s.experiment, s.variant): s.count
             for s in summarize_calls(gw.store_url, NAME, "default", by_experiment=True)}
    assert split == {("triage-ab/control", "canary"): cells[("control", True)],
                     ("triage-ab/control", "production"): cells[("control", False)]}


def test_a_missing_variant_entry_is_a_404_naming_the_variant_until_it_is_registered(registry, start_gateway):
    release(registry, make_spec(model=CONTROL_MODEL))
    gw = start_gateway(experiments=experiments(candidate_entry="support-triage-v3"))
    client = gw.client()
    arms_drawn = set()
    for caller in ("u1", "u2", "u3", "u4", "u5", "u6"):  # every caller, whichever arm it drew
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model="triage-ab", messages=MSG, user=caller)
        arms_drawn.add(info.value.response.headers["x-llmreg-experiment"])
        error = info.value.body
        assert error["code"] == "model_not_found" and error["param"] == "model"
        assert "experiment 'triage-ab' variant 'candidate'" in error["message"]
        assert "support-triage-v3" in error["message"] and "\n" not in error["message"]
    assert arms_drawn == {"triage-ab/control", "triage-ab/candidate"}  # control callers are refused too
    listed = {m.id: m for m in client.models.list().data}
    assert listed["triage-ab:default"].llmreg["serving"] is False
    with pytest.raises(openai.NotFoundError, match="variant 'candidate'"):
        client.models.retrieve("triage-ab")
    gw.flush()
    rows = [r for r in read_rows(gw.engine) if r["experiment"]]
    assert len(rows) == 6 and {r["status"] for r in rows} == {404}
    assert all("variant 'candidate'" in r["error"] for r in rows)

    release(registry, make_spec(name="support-triage-v3", model=CANDIDATE_MODEL))  # no restart needed

    def serves() -> bool:
        try:
            return bool(client.chat.completions.create(model="triage-ab", messages=MSG, user="u1").llmreg)
        except openai.NotFoundError:
            return False

    wait_until(serves, timeout=2)
    arms = {client.chat.completions.create(model="triage-ab", messages=MSG, user=f"u{i}").llmreg["experiment"]["variant"]
            for i in range(30)}
    assert arms == {"control", "candidate"}


def test_a_variant_stage_nobody_holds_is_a_404_naming_the_variant(registry, start_gateway):
    two_entries(registry)
    client = start_gateway(experiments=experiments(candidate_stage="canary")).client()
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="triage-ab", messages=MSG, user="u1")
    assert "variant 'candidate' (support-triage-v2@canary:default, gateway config" in info.value.body["message"]
    assert "nothing holds canary in env 'default'" in info.value.body["message"]
    with pytest.raises(openai.NotFoundError, match="variant 'control'"):  # nothing deployed in eu at all
        client.chat.completions.create(model="triage-ab:eu", messages=MSG, user="u1")


def test_models_list_and_retrieve_experiments(registry, start_gateway):
    control, candidate = two_entries(registry)
    promote_through(registry, candidate, env="eu")
    client = start_gateway(experiments=experiments(0.3, 0.7)).client()
    listed = {m.id: m for m in client.models.list().data}
    assert f"{NAME}@production:default" in listed  # entries are still listed
    default = listed["triage-ab:default"].llmreg
    assert default["serving"] is True and default["experiment"] == "triage-ab"
    assert [(v["variant"], v["entry"], v["weight"], v["version"]) for v in default["variants"]] == [
        ("control", NAME, 0.3, control.version), ("candidate", V2, 0.7, candidate.version)]
    eu = listed["triage-ab:eu"].llmreg  # the candidate is deployed in eu, the control is not
    assert eu["serving"] is False
    assert {v["variant"]: v["version"] for v in eu["variants"]} == {"control": None, "candidate": candidate.version}

    one = client.models.retrieve("triage-ab")
    assert one.id == "triage-ab" and one.llmreg["env"] == "default"
    assert {v["variant"]: v["version"] for v in one.llmreg["variants"]} == {"control": control.version,
                                                                             "candidate": candidate.version}


def test_experiment_addresses_are_checked(registry, start_gateway):
    two_entries(registry)
    gw = start_gateway(experiments=experiments())
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="triage-ab@production", messages=MSG)
    assert info.value.body["param"] == "model" and "write 'triage-ab' or 'triage-ab:ENV'" in info.value.body["message"]
    # streaming responses carry the experiment too
    r = httpx.post(gw.base_url + "/v1/chat/completions", json={"model": "triage-ab", "messages": MSG, "user": "u9",
                                                                "stream": True})
    first = json.loads(r.text.split("\n\n")[0].removeprefix("data: "))
    assert first["llmreg"]["experiment"]["name"] == "triage-ab"
    assert r.headers["x-llmreg-experiment"] == "triage-ab/" + first["llmreg"]["experiment"]["variant"]
    # a direct request keeps its old shape: no experiment field, no header
    raw = client.chat.completions.with_raw_response.create(model=NAME, messages=MSG)
    assert "experiment" not in raw.parse().llmreg and "x-llmreg-experiment" not in raw.headers


def test_an_experiment_named_like_a_registry_entry_is_refused_at_start(registry, store_url, prompts_dir):
    release(registry, make_spec(model=CONTROL_MODEL))
    config = GatewayConfig.from_dict({"store_url": store_url, "prompts_dir": str(prompts_dir), "experiments": {
        NAME: {"variants": {"a": {"entry": V2, "weight": 0.5}, "b": {"entry": "support-triage-v3", "weight": 0.5}}}}})
    with pytest.raises(BadInput) as info:
        create_app(config)
    assert info.value.field == f"experiments.{NAME}" and "a registry entry has this name" in str(info.value)
