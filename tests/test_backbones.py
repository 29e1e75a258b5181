"""MobileNets as backbones: feature taps, SSD/SSDLite, DeepLabv3, R-ASPP, LR-ASPP, and the
chapter's study (mnlab.studies.backbones), against hand counts and the published tables."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

import mnlab
from mnlab.claims import ClaimFailed, check
from mnlab.models.backbones import LastOutput, backbone
from mnlab.models.detection import ssd
from mnlab.models.segmentation import deeplabv3, lraspp, raspp
from mnlab.papers import figure
from mnlab.studies import backbones as study


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- backbones

# The module docstring's table: (channels, stride) of each tap, counted by hand from the papers' tables.
TAPS = {
    "mobilenet_v1": {"stride8": (256, 8), "stride8_dw": (256, 8), "C4": (512, 16), "penultimate": (1024, 32), "C5": (1024, 32)},
    "mobilenet_v2": {"stride8": (32, 8), "stride8_dw": (192, 8), "C4": (576, 16), "penultimate": (320, 32), "C5": (1280, 32)},
    "mobilenet_v3_large": {"stride8": (40, 8), "stride8_dw": (120, 8), "C4": (672, 16), "penultimate": (160, 32), "C5": (960, 32)},
    "mobilenet_v3_small": {"stride8": (24, 8), "stride8_dw": (88, 8), "C4": (288, 16), "penultimate": (96, 32), "C5": (576, 32)},
}


@pytest.mark.parametrize("name", TAPS)
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_taps_channels_and_strides(name, output_stride):
    model = backbone(name, taps=tuple(TAPS[name]), output_stride=output_stride).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 256))
    assert list(out) == list(TAPS[name])
    for tap, (channels, stride) in TAPS[name].items():
        expected_stride = min(stride, output_stride)
        assert out[tap].shape == (1, channels, 256 // expected_stride, 256 // expected_stride), tap
        assert model.taps[tap].stride == expected_stride and model.channels[tap] == channels


@pytest.mark.parametrize("name, classifier", [("mobilenet_v2", "mobilenet_v2"),
                                              ("mobilenet_v3_large", "mobilenet_v3_large")])
def test_backbone_computes_the_classifiers_features(name, classifier):
    """C5 is the classifier's features; C4 is the expansion inside the last stride-2 block; a tap
    inside a residual block (stride8_dw) does not disturb what follows it."""
    reference = mnlab.create_model(classifier).eval()
    model = backbone(name, taps=("stride8_dw", "C4", "C5")).eval()
    model.features.load_state_dict(reference.features.state_dict())
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out["C5"], reference.features(x), rtol=0, atol=0)
        c4 = model.taps["C4"].index
        torch.testing.assert_close(out["C4"], reference.features[c4].block.expand(reference.features[:c4](x)))


def test_dilation_keeps_weights_and_resolution():
    plain, dilated = backbone("mobilenet_v2", taps=("C5",)), backbone("mobilenet_v2", taps=("C5",), output_stride=8)
    assert n_params(plain) == n_params(dilated)
    rates = sorted({m.dilation[0] for m in dilated.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1})
    assert rates == [1, 2, 4]
    with torch.no_grad():
        assert dilated.eval()(torch.randn(1, 3, 128, 128))["C5"].shape[-1] == 16
    assert mnlab.analyze(dilated, 224).totals["macs"] > 3 * mnlab.analyze(plain, 224).totals["macs"]


def test_reduced_tails():
    """V3 Sec. 6.3 († rows): C4 keeps its 672 channels, C5 halves to 480; deeplab's RF2 halves C4
    too; MobileNetV2's tail halves its 160/320 stages and its last conv."""
    det = backbone("mobilenet_v3_large", taps=("C4", "C5"), reduced_tail="detection")
    seg = backbone("mobilenet_v3_large", taps=("C4", "C5"), reduced_tail="segmentation")
    v2 = backbone("mobilenet_v2", taps=("C4", "penultimate", "C5"), reduced_tail="detection")
    assert det.channels == {"C4": 672, "C5": 480} and seg.channels == {"C4": 336, "C5": 480}
    assert v2.channels == {"C4": 576, "penultimate": 160, "C5": 640}


def test_thin_backbone_thins_its_last_conv():
    assert backbone("mobilenet_v2", taps=("C5",), width_mult=0.5).channels["C5"] == 640
    assert backbone("mobilenet_v2", taps=("C5",), width_mult=1.4).channels["C5"] == 1792


# --------------------------------------------------------------------------- heads

def test_torchvision_reference_counts_exactly():
    for name, side in [("ssdlite320_mobilenet_v3_large", 320), ("deeplabv3_mobilenet_v3_large", 520),
                       ("lraspp_mobilenet_v3_large", 520)]:
        model = mnlab.create_model(name).eval()
        assert n_params(model) == figure(f"torchvision/{name}/params").value
        ops = figure(f"torchvision/{name}/ops")
        assert abs(mnlab.analyze(model, side).totals["macs"] / 1e9 - ops.value) <= ops.half_unit


def test_lraspp_head_by_hand():
    """torchvision's LR-ASPP head on V3-Large's 960-wide C5 and 40-wide stride-8 skip, 21 classes:
    1×1 conv + BN (960·128 + 2·128), gate conv (960·128), two classifiers with bias."""
    model = mnlab.create_model("lraspp_mobilenet_v3_large")
    assert n_params(model.head) == 960 * 128 + 2 * 128 + 960 * 128 + (40 * 21 + 21) + (128 * 21 + 21)
    wide = lraspp("mobilenet_v3_large", filters=256, skip="stride8")
    assert n_params(wide.head) - n_params(lraspp("mobilenet_v3_large", skip="stride8").head) == \
        2 * 960 * 128 + 2 * 128 + 128 * 19


def test_aspp_heads_by_hand():
    """MobileNetV2 Table 7's V2* heads on 320 channels, 21 classes: without ASPP a 1×1 branch and
    the image pooling branch (each 320·256 + BN), the projection 512·256 + BN, the classifier."""
    bn, cls = 2 * 256, 256 * 21 + 21
    no_aspp = 2 * (320 * 256 + bn) + (512 * 256 + bn) + cls
    assert n_params(deeplabv3("mobilenet_v2", aspp=False).head) == no_aspp
    with_aspp = no_aspp + 3 * (9 * 320 * 256 + bn) + 3 * 256 * 256
    assert n_params(deeplabv3("mobilenet_v2").head) == with_aspp
    assert n_params(raspp("mobilenet_v2", num_classes=21).head) == no_aspp


def test_ssdlite_predictor_and_boxes():
    """Each SSDLite predictor: 3×3 depthwise + BN on c channels, then a 1×1 conv with bias; boxes per
    map = anchors × positions (20², 10², 5², 3², 2², 1² at 320)."""
    model = ssd("mobilenet_v2", num_classes=81, anchors=(3, 6, 6, 6, 6, 6)).eval()
    c = 576
    assert n_params(model.class_head[0]) == c * 9 + 2 * c + c * 81 * 3 + 81 * 3
    assert n_params(model.box_head[0]) == c * 9 + 2 * c + c * 4 * 3 + 4 * 3
    with torch.no_grad():
        out = model(torch.randn(2, 3, 320, 320))
    boxes = 3 * 400 + 6 * (100 + 25 + 9 + 4 + 1)
    assert out["bbox_regression"].shape == (2, boxes, 4) and out["cls_logits"].shape == (2, boxes, 81)
    regular = ssd("mobilenet_v2", head="ssd", num_classes=81, anchors=(3, 6, 6, 6, 6, 6))
    assert n_params(regular.class_head[0]) == 9 * c * 81 * 3 + 81 * 3


def test_segmenters_return_logits_at_input_size():
    for model in (mnlab.create_model("deeplabv3_mobilenet_v3_large"), lraspp("mobilenet_v3_small"),
                  deeplabv3("mobilenet_v1", output_stride=8)):
        with torch.no_grad():
            out = model.eval()(torch.randn(1, 3, 96, 128))
        assert out["out"].shape[-2:] == (96, 128)
    assert set(out) == {"out"} and "aux" in mnlab.create_model("deeplabv3_mobilenet_v3_large").eval()(
        torch.randn(1, 3, 64, 64))



def test_last_output_gives_one_tensor_of_each_kind_of_network():
    """LastOutput (what a deployed backend times): the detector's boxes and scores side by side,
    the segmenter's logits, the backbone's last tap."""
    x = torch.randn(1, 3, 96, 96)
    detector = ssd("mobilenet_v3_small", num_classes=5).eval()
    segmenter, features = lraspp("mobilenet_v3_small", num_classes=3).eval(), backbone("mobilenet_v2").eval()
    with torch.no_grad():
        boxes = detector(x)
        assert torch.equal(LastOutput(detector)(x), torch.cat([boxes["bbox_regression"], boxes["cls_logits"]], 2))
        assert LastOutput(detector)(x).shape[-1] == 4 + 5
        assert torch.equal(LastOutput(segmenter)(x), segmenter(x)["out"])
        assert torch.equal(LastOutput(features)(x), features(x)["C5"])

@pytest.mark.parametrize("call, argument", [
    (lambda: backbone("mobilenet_v2", output_stride=12), "output_stride"),
    (lambda: deeplabv3("mobilenet_v2", output_stride=4), "output_stride"),
    (lambda: lraspp("mobilenet_v3_large", filters=0), "filters"),
    (lambda: raspp("mobilenet_v3_large", filters=-8), "filters"),
    (lambda: deeplabv3("mobilenet_v2", filters=2.5), "filters"),
    (lambda: backbone("resnet50"), "backbone"),
    (lambda: ssd("efficientnet_lite0"), "backbone"),
    (lambda: lraspp("mobilenet_v4"), "backbone"),
    (lambda: backbone("mobilenet_v2", taps=("C3",)), "taps"),
    (lambda: backbone("mobilenet_v1", reduced_tail="detection"), "reduced_tail"),
    (lambda: backbone("mobilenet_v2", reduced_tail=True), "reduced_tail"),
    (lambda: ssd("mobilenet_v2", head="yolo"), "head"),
    (lambda: ssd("mobilenet_v2", anchors=(6, 6)), "anchors"),
    (lambda: ssd("mobilenet_v2", num_classes=0), "num_classes"),
    (lambda: lraspp("mobilenet_v3_large", skip="C4"), "skip"),
    (lambda: backbone("mobilenet_v2", width_mult=0), "width_mult"),
    (lambda: mnlab.list_models("tracking"), "task"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_registry_names_the_task_models():
    assert mnlab.list_models("detection") == ["ssdlite320_mobilenet_v3_large"]
    assert mnlab.list_models("segmentation") == ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
    assert "ssdlite320_mobilenet_v3_large" not in mnlab.list_models()
    assert mnlab.default_resolution("ssdlite320_mobilenet_v3_large") == 320
    assert mnlab.family("lraspp_mobilenet_v3_large") == "LR-ASPP"


# --------------------------------------------------------------------------- the study

def test_tf_atrous_macs_pads_to_the_rate():
    conv = nn.Sequential(nn.Conv2d(1, 1, 3, padding=2, dilation=2, bias=False))
    assert mnlab.analyze(conv, (1, 1, 5, 5)).totals["macs"] == 25 * 9
    assert study.tf_atrous_macs(conv, (1, 1, 5, 5)) == 36 * 9   # 5 × 5 padded to 6 × 6


def test_multiscale_sides():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(x.shape[-1])
            return x

    assert study.multiscale_macs(Probe()) == 0
    assert seen == [257, 385, 513, 641, 769, 897]   # (513 − 1)·s + 1
    conv = nn.Conv2d(3, 1, 1, bias=False)
    assert study.multiscale_macs(conv) == 2 * study.multiscale_macs(conv, flip=False) == \
        2 * 3 * sum(side * side for side in seen)


def test_part_costs_add_up():
    model = ssd("mobilenet_v3_large")
    parts = study.part_costs(model, 320)
    assert list(parts.index) == ["backbone", "extra", "box_head", "class_head"]
    assert parts.params.sum() == n_params(model)
    assert parts.macs.sum() == mnlab.analyze(model, 320).totals["macs"]


@pytest.fixture(scope="module")
def results():
    return {"table5": study.table5(), "detectors": study.detector_table(), "deeplab": study.deeplab_table(),
            "lraspp": study.lraspp_table(), "torchvision": study.torchvision_table()}


def ssd_head_params(lite: bool, maps=(576, 1280, 512, 256, 256, 128), anchors=(3, 6, 6, 6, 6, 6),
                    scores=81) -> int:
    """V2 Table 5's head by hand: extra layers (1×1 to half, stride-2 3×3 — SSDLite: depthwise +
    1×1 — each with BN) and per map a box and a class predictor (SSD: 3×3 conv with bias;
    SSDLite: 3×3 depthwise + BN, then 1×1 with bias)."""
    total = 0
    for cin, cout in zip(maps[1:], maps[2:]):
        mid = cout // 2
        total += cin * mid + 2 * mid + (9 * mid + 2 * mid + mid * cout + 2 * cout if lite else 9 * mid * cout + 2 * cout)
    for c, a in zip(maps, anchors):
        for outputs in (4 * a, scores * a):
            total += (9 * c + 2 * c + c * outputs + outputs) if lite else (9 * c * outputs + outputs)
    return total


def test_table5_heads_by_hand(results):
    assert results["table5"].params.to_dict() == {"SSD": ssd_head_params(False), "SSDLite": ssd_head_params(True)}
    det = results["detectors"].set_index("row")
    assert det.params["MNet V2 + SSDLite"] == 3_504_872 - 1_281_000 + ssd_head_params(True)   # V2 minus its FC


def test_every_published_count_reproduced_or_documented(results):
    """Every count of V2 Tables 5–7, V3 Tables 6–7 and torchvision within 3% or the printed
    rounding, except the documented gaps — which must really be gaps (else drop them)."""
    claims = study.claims(results)
    counted = [c for c in claims if c.gap is not None]
    assert len(counted) == 2 * (2 + 10 + 6 + 11) + 6
    check(claims)
    documented = {c.what for c in counted if not c.must_hold}
    assert len(documented) == len(study.DOCUMENTED)
    assert all(not c.holds for c in counted if not c.must_hold), "a documented gap now holds"


def test_claims_fail_loudly_on_a_wrong_count(results):
    broken = dict(results, detectors=results["detectors"].copy())
    broken["detectors"].loc[broken["detectors"].row == "V3", "params"] *= 1.1
    with pytest.raises(ClaimFailed, match="V3 Table 6 · V3 · params"):
        check(study.claims(broken))


def test_latency_claims_are_never_must_hold(results, tmp_path):
    rows = [{"model": m, "total_ms": 10.0 + i, "backbone_ms": 6.0, "head_ms": 4.0 + i, "upsample_ms": 1.0,
             "cpu": "x", "torch": "2.13.0"} for i, m in enumerate(study.LATENCY_MODELS)]
    path = tmp_path / "latency.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    latency = study.stored_latency_split(path, remeasure=False)
    assert (latency["head share"] == latency.head_ms / latency.total_ms).all()
    timed = [c for c in study.claims(dict(results, latency=latency)) if "faster" in c.what and "(this CPU)" in c.observed]
    assert len(timed) == 3 and not any(c.must_hold for c in timed)
    assert all(c.verdict.endswith("timing on x") for c in timed)   # the stored table's machine
    pd.DataFrame(rows[:2]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="remeasure"):
        study.stored_latency_split(path, remeasure=False)


def test_exported_figures_label_real_taps_and_draw_every_model():
    """``make figures`` exports chapter 4b's three figures; the attachment labels name taps the
    backbones have, and the cost split draws one bar pair per model of the chapter's breakdown."""
    from mnlab.models.backbones import TAPS
    from mnlab.plots import backbones as plots

    assert set(plots.FIGURES) == {"backbones_attachments", "backbones_cost_split", "backbones_latency_split"}
    for name, labels in plots.HEADS_AT_TAPS.items():
        assert set(labels) <= set(TAPS) and name in mnlab.models.backbones.BACKBONES
    latency = plots.FIGURES["backbones_latency_split"]()
    bars = [p for p in latency.axes[0].patches if p.get_width() > 0]
    assert len(bars) == 2 * len(study.LATENCY_MODELS) and latency.axes[0].get_xlabel() == plots.LATENCY_XLABEL
