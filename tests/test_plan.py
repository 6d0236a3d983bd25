"""The plan: a Teachable Machine model flattened into fused steps the page runs without tf-layers.

Whether the page's runner predicts what tf-layers predicts is checked in Chromium
(test_plan_browser.py, and test_agreement.py against Teachable Machine's own library); here,
what the build hands it.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter

import pytest
from conftest import (
    BATCH_NORM,
    EXAMPLE_EXPORT,
    IMAGE_EXPORTS,
    functional_layer,
    real_export,
    tiny_model,
    tiny_model_base,
    write_export,
)

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.export.read import read_export
from tmbuild.model.plan import Unsupported, build_plan, check_plan


def _entries(export) -> list[dict]:
    return [entry for entries, _ in export.weight_groups for entry in entries]


def _plan(export):
    plan, reason = build_plan(export.model_json["modelTopology"], _entries(export))
    assert plan is not None, reason
    return plan


def _kinds(plan) -> Counter:
    return Counter(
        step["op"]
        + ("+bn" if "batchnorm" in step else "")
        + (f"+{step['activation']}" if "activation" in step and step["op"] != "activation" else "")
        for step in plan.steps
    )


def _weight_names(step: dict) -> list[str]:
    names = [step[key] for key in ("kernel", "bias", "gamma", "beta", "mean", "variance")
             if key in step]  # fmt: skip
    norm = step.get("batchnorm", {})
    names += [norm[key] for key in ("gamma", "beta", "mean", "variance") if key in norm]
    return names


@pytest.mark.parametrize("name", sorted(IMAGE_EXPORTS))
def test_real_mobilenet_v2_exports_become_71_fused_steps(name):
    plan = _plan(read_export(real_export(name)))
    assert _kinds(plan) == {
        "conv+bn+relu6": 18,  # expand convolutions and the first and last ones
        "depthwise+bn+relu6": 17,
        "conv+bn": 17,  # projections: no activation in MobileNetV2
        "add": 10,  # residual connections
        "pad": 5,  # before each stride-2 'valid' convolution
        "mean": 1,
        "dense+relu": 1,
        "dense": 1,
        "activation": 1,  # the softmax
    }
    assert plan.steps[-1] == {"op": "activation", "in": [70], "activation": "softmax", "free": [70]}
    assert plan.output == 71


@pytest.mark.parametrize("name", ["example", *sorted(IMAGE_EXPORTS)])
def test_every_weight_is_used_once_and_every_value_is_read_before_it_is_freed(name):
    path = EXAMPLE_EXPORT if name == "example" else real_export(name)
    export = read_export(path)
    plan = _plan(export)
    used = [weight for step in plan.steps for weight in _weight_names(step)]
    assert sorted(used) == sorted(entry["name"] for entry in _entries(export))
    assert plan.weights == _entries(export)  # the shards' layout, in manifest order

    freed: set[int] = set()
    for index, step in enumerate(plan.steps, start=1):
        assert all(0 <= value < index and value not in freed for value in step["in"])
        freed.update(step.get("free", []))
    assert 0 not in freed and plan.output not in freed  # the caller's input, the result
    # Everything but the input and the output is freed by the end: no tensor outlives a call.
    assert freed == set(range(1, len(plan.steps) + 1)) - {plan.output}


def test_the_example_model_has_no_residual_blocks():
    kinds = _kinds(_plan(read_export(EXAMPLE_EXPORT)))
    assert kinds["add"] == 0 and kinds["conv+bn+relu6"] == 7 and kinds["depthwise+bn+relu6"] == 6


def test_a_plan_is_plain_json_and_the_same_every_time():
    export = read_export(EXAMPLE_EXPORT)
    first = json.dumps(_plan(export).as_json(), sort_keys=True)
    assert first == json.dumps(_plan(read_export(EXAMPLE_EXPORT)).as_json(), sort_keys=True)


def test_an_image_plan_is_well_formed_for_the_runners():
    check_plan(_plan(read_export(EXAMPLE_EXPORT)).as_json())


# A pose plan's shape: conv, conv, concat of both; the frame; one named output.
_POSE_LIKE = {
    "steps": [{"op": "conv", "in": [0]}, {"op": "conv", "in": [0]},
              {"op": "concat", "in": [1, 2], "free": [1]}],
    "output": 3, "outputs": {"second": 2},
    "input": {"shape": [33, 33, 3], "divisor": 127.5, "offset": -1.0},
}  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p["steps"][2].update({"in": [1]}), "step 2 is a concat of 1 value"),
        (lambda p: p["steps"][1].update({"in": [2]}), "step 1 reads [2], not values made before"),
        (lambda p: p["steps"][2].update({"in": [1, -1]}), "step 2 reads [1, -1]"),
        (lambda p: p.update(output=4), "the output 4 is no step's value"),
        (lambda p: p["input"].update(divisor=0), "is not a frame"),
        (lambda p: p["input"].update(offset=float("nan")), "is not a frame"),
        (lambda p: p["input"].update(shape=[33, 33]), "is not a frame"),
        (lambda p: p["input"].update(shape=[33, 0, 3]), "is not a frame"),
        (lambda p: p["input"].update(shape=[33, 33, 4]), "is not a frame"),
        (lambda p: p["input"].update(divisor=True), "is not a frame"),
        (lambda p: p.update(input=[33, 33, 3]), "is not a frame"),
        (lambda p: p.update(outputs=[2]), "not a mapping"),
        (lambda p: p["steps"][0].pop("in"), "a malformed plan (KeyError: 'in')"),
        (lambda p: p["outputs"].update(first=0), "the output first is no step's value"),
        (lambda p: p["outputs"].update(first=1), "the output first is freed by a step"),
    ],
)
def test_a_malformed_concat_input_or_outputs_is_refused_with_the_reason(mutate, reason):
    check_plan(copy.deepcopy(_POSE_LIKE))
    plan = copy.deepcopy(_POSE_LIKE)
    mutate(plan)
    with pytest.raises(Unsupported, match=re.escape(reason)):
        check_plan(plan)


def _tiny():
    topology, entries, _ = tiny_model()
    return topology, entries


def test_the_conftest_model_fuses_its_relu_convolution():
    topology, entries = _tiny()
    plan, reason = build_plan(topology, entries)
    assert reason == ""
    ops = [(step["op"], step.get("activation")) for step in plan.steps]
    assert ops == [("conv", "relu"), ("mean", None), ("dense", "relu"), ("dense", None),
                   ("activation", "softmax")]  # fmt: skip


def test_a_convolution_read_twice_keeps_its_batch_norm_apart():
    # conv → bn, and conv → add(bn, conv): folding the norm would change what add reads.
    topology, entries = _tiny()
    model = tiny_model_base(topology)
    model["layers"] += [
        functional_layer("BatchNormalization", "norm", ["Conv1"], **BATCH_NORM),
        functional_layer("Add", "sum", ["norm", "Conv1"]),
    ]
    model["output_layers"] = [["sum", 0, 0]]
    entries += [{"name": f"norm/{key}", "shape": [8], "dtype": "float32"}
                for key in ("gamma", "beta", "moving_mean", "moving_variance")]  # fmt: skip
    plan, reason = build_plan(topology, entries)
    assert reason == ""
    assert [step["op"] for step in plan.steps[:3]] == ["conv", "batchnorm", "add"]
    assert plan.steps[2]["in"] == [2, 1]


def test_layers_listed_out_of_order_are_followed_by_their_inputs():
    topology, entries = _tiny()
    model = tiny_model_base(topology)
    model["layers"].reverse()
    plan, reason = build_plan(topology, entries)
    assert reason == "" and plan.steps[0]["op"] == "conv"


def _change(mutate):
    topology, entries = _tiny()
    mutate(topology, entries)
    return build_plan(topology, entries)


def _set_conv(key, value):
    def mutate(topology, _):
        tiny_model_base(topology)["layers"][1]["config"][key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_set_conv("data_format", "channels_first"), "layer Conv1 is channels_first"),
        (_set_conv("padding", "causal"), "convolution Conv1 with padding causal"),
        (_set_conv("activation", "selu"), "activation selu"),
        (lambda _, entries: entries.pop(0), "weight Conv1/kernel is not in the manifest"),
        (
            lambda _, entries: entries.append({"name": "extra", "shape": [1], "dtype": "float32"}),
            "the manifest's weight extra belongs to no layer",
        ),
        (
            lambda _, entries: entries[0].__setitem__("shape", [1]),
            "weight Conv1/kernel has shape",
        ),
        (lambda _, entries: entries[0].__setitem__("dtype", "int32"), "is not float32"),
        (
            lambda topology, _: tiny_model_base(topology)["layers"][1]["inbound_nodes"].append(
                [["input_1", 0, 0, {}]]
            ),
            "layer Conv1 is shared",
        ),
        (
            lambda topology, _: tiny_model_base(topology)["layers"][1].__setitem__(
                "class_name", "AveragePooling2D"
            ),
            "layer kind AveragePooling2D (Conv1)",
        ),
        (lambda topology, _: topology.__setitem__("config", None), "unexpected topology"),
    ],
)
def test_what_the_runner_cannot_run_gives_no_plan_and_says_why(mutate, reason):
    plan, why = _change(mutate)
    assert plan is None
    assert reason in why


def test_an_audio_model_gets_a_plan_of_convolutions_poolings_and_its_head():
    audio = real_export("audio2-2020") / "model.json"
    model = json.loads(audio.read_text())
    entries = [w for group in model["weightsManifest"] for w in group["weights"]]
    plan, why = build_plan(copy.deepcopy(model["modelTopology"]), entries)
    assert plan is not None, why
    steps = [(step["op"], step.get("activation"), step.get("pool"), step.get("strides"))
             for step in plan.steps]  # fmt: skip
    assert steps == [
        ("conv", "relu", None, [1, 1]), ("maxpool", None, [2, 2], [2, 2]),
        ("conv", "relu", None, [1, 1]), ("maxpool", None, [2, 2], [2, 2]),
        ("conv", "relu", None, [1, 1]), ("maxpool", None, [2, 2], [2, 2]),
        ("conv", "relu", None, [1, 1]), ("maxpool", None, [2, 2], [1, 2]),
        ("flatten", None, None, None), ("dense", "relu", None, None),
        ("dense", None, None, None), ("activation", "softmax", None, None),
    ]  # fmt: skip
    # The head's nested Sequential is the model's output through its second node: the one the
    # functional model made when it applied it (its first came from its own input layer).
    assert model["modelTopology"]["config"]["output_layers"][0][1] == 1


def test_a_model_without_a_plan_builds_with_tf_layers_and_says_so(tmp_path, caplog):
    topology, entries, _ = tiny_model()
    tiny_model_base(topology)["layers"][1]["config"]["activation"] = "selu"  # no fused op for it
    export = write_export(
        tmp_path / "export",
        model_json={"modelTopology": topology,
                    "weightsManifest": [{"paths": ["weights.bin"], "weights": entries}]},
    )  # fmt: skip
    config, _ = load_config(None, {"model_path": export, "output": tmp_path / "site"})
    result = build(config, write=False)
    assert result.model.plan is None
    assert any("tf-layers" in path for path in result.files)
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert message.endswith("the page will load tf-layers (86 kB more, slower predictions) to "
                            "run this model: activation selu")  # fmt: skip
