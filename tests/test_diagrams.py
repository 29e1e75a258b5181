"""The diagrams say what the models say: every labelled number, width and branch count is checked
against the model (or a hand count), and ``make figures`` writes the same bytes on every run."""
import os
import pathlib
import subprocess
import sys

import pytest
from torch import nn

from mnlab.diagrams import DIAGRAMS, chapter_diagrams, render, render_all
from mnlab.diagrams import lineage, mobileone, residual, scaling, separable
from mnlab.diagrams.read import layers
from mnlab.models import mobilenet_v2, mobilenet_v3_large, mobileone_s0, mobileone_s1
from mnlab.models.efficientnet_lite import SCALING, efficientnet_lite
from mnlab.models.layers import DepthwiseSeparable, InvertedResidual, conv_bn_act

ROOT = pathlib.Path(__file__).resolve().parents[1]


def by_gid(fig) -> dict:
    """Every artist with a gid, by gid (a gid used several times maps to a list)."""
    found: dict = {}
    for ax in fig.axes:
        for artist in [*ax.patches, *ax.lines]:
            gid = artist.get_gid()
            if gid:
                found.setdefault(gid, []).append(artist)
    return {gid: artists[0] if len(artists) == 1 else artists for gid, artists in found.items()}


def texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_every_chapter_has_two_diagrams_and_one_key_idea():
    for chapter in range(1, 8):
        shown = chapter_diagrams(chapter)
        assert len(shown) >= 2, chapter
        first = next(iter(shown.values()))
        assert first.key_idea and first.chapters[0] == chapter, chapter
        assert sum(d.key_idea and d.chapters[0] == chapter for d in shown.values()) == 1


def test_bad_names_and_chapters_raise():
    with pytest.raises(ValueError, match="unknown diagram 'nope'"):
        render("nope")
    with pytest.raises(ValueError, match="chapter must be an integer 1–7, got 8"):
        chapter_diagrams(8)
    with pytest.raises(ValueError, match="module must be an nn.Module"):
        layers("conv", (1, 3, 8, 8))


def test_figures_folder_holds_every_diagram():
    on_disk = {p.stem for p in (ROOT / "figures").glob("*.svg")}
    assert set(DIAGRAMS) <= on_disk, set(DIAGRAMS) - on_disk


def test_make_figures_is_deterministic(tmp_path):
    """Same SVG bytes from a fresh process with another hash seed as from this one; no date inside."""
    here = render_all(tmp_path / "here")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-m", "mnlab.diagrams", str(tmp_path / "there")], check=True, env=env,
                   capture_output=True, timeout=600)
    for path in here:
        data = path.read_bytes()
        assert data == (tmp_path / "there" / path.name).read_bytes(), path.name
        assert b"<dc:date>" not in data and data.startswith(b"<?xml")


def test_layers_reads_shapes_bn_and_activations():
    conv, = layers(conv_bn_act(8, 16, 3, stride=2, activation=nn.ReLU6), (1, 8, 10, 10))
    assert (conv.kind, conv.in_channels, conv.out_channels, conv.kernel, conv.stride, conv.size) == \
        ("conv", 8, 16, 3, 2, 5)
    assert conv.batchnorm and conv.activation == "ReLU6" and conv.macs == 5 * 5 * 16 * 8 * 9
    dw, pw = layers(DepthwiseSeparable(8, 4, linear_pointwise=True), (1, 8, 6, 6))
    assert (dw.kind, dw.macs, dw.params) == ("depthwise", 6 * 6 * 8 * 9, 8 * 9)
    assert (pw.kind, pw.activation, pw.label) == ("pointwise", None, "1×1 conv, 8→4")


def test_convolution_kinds_labels_the_hand_counted_macs():
    shown = texts(separable.convolution_kinds())
    for macs in (3 * 3 * 512 * 512 * 14 * 14, 3 * 3 * 512 * 14 * 14, 512 * 512 * 14 * 14):
        assert f"{macs:,} MACs" in shown
    assert f"{(3 * 3 * 512 + 512 * 512) * 14 * 14:,} MACs" in shown


def test_separable_cost_bars_are_to_scale():
    gids = by_gid(separable.separable_cost())
    standard = gids["cost:macs:standard"].get_width()
    assert gids["cost:macs:pointwise"].get_width() / standard == pytest.approx(1 / 9)
    assert gids["cost:macs:depthwise"].get_width() / standard == pytest.approx(1 / 512)
    assert gids["cost:params:pointwise"].get_width() / gids["cost:params:standard"].get_width() == \
        pytest.approx(512 * 512 / (9 * 512 * 512))


def test_inverted_residual_widths_are_the_models_channels():
    block = mobilenet_v2().features[residual.V2_BLOCK].block
    channels = [block.expand[0].in_channels, block.expand[0].out_channels, block.depthwise[0].out_channels,
                block.project[0].out_channels]
    assert channels == [24, 144, 144, 24]
    fig = residual.inverted_residual()
    gids = by_gid(fig)
    widths = [gids[f"inverted:tensor:{i}"].get_width() for i in range(4)]
    for w, c in zip(widths, channels):
        assert w / widths[1] == pytest.approx(c / channels[1])
    classic = [gids[f"classic:tensor:{i}"].get_width() for i in range(4)]   # the same widths, mirrored
    assert classic == pytest.approx([widths[1], widths[0], widths[0], widths[1]])
    assert gids["inverted:tensor:3"].get_hatch() and not gids["inverted:tensor:2"].get_hatch()
    assert not gids["classic:tensor:3"].get_hatch()
    assert "linear bottleneck" in texts(fig) and "BN · linear" in texts(fig)


def test_v2_network_draws_every_block_to_scale():
    model = mobilenet_v2()
    blocks = [m for m in model.features if isinstance(m, InvertedResidual)]
    gids = by_gid(residual.v2_network())
    assert sum(g.startswith("v2:out:") for g in gids) == len(blocks) == 17
    for i, b in enumerate(blocks):
        hidden = b.block.depthwise[0].out_channels
        out = b.block.project[0].out_channels
        assert gids[f"v2:out:{i}"].get_height() / gids[f"v2:hidden:{i}"].get_height() == pytest.approx(out / hidden)


def test_v3_block_shows_se_at_a_quarter_and_h_swish():
    block = mobilenet_v3_large().features[residual.V3_BLOCK].block
    fig = residual.v3_block()
    shown, gids = texts(fig), by_gid(fig)
    assert block.se.reduce.out_channels == block.expand[0].out_channels // 4 == 240
    assert f"{block.expand[0].out_channels}→{block.se.reduce.out_channels}, ReLU" in shown
    assert "h-sigmoid" in shown and "BN · h-swish" in shown and "v3:se" in gids
    assert gids["v3:tensor:1"].get_width() / gids["v3:tensor:0"].get_width() == pytest.approx(960 / 160)


def test_v3_last_stage_counts_match_a_hand_count():
    original = 7 * 7 * (160 * 960 + 960 * 9 + 960 * 320 + 320 * 1280) + 1280 * 1000
    efficient = 7 * 7 * 160 * 960 + 960 * 1280 + 1280 * 1000
    shown = texts(residual.v3_last_stage())
    assert f"saves {(original - efficient) / 1e6:.1f}M" in shown
    assert f"{original / 1e6:.1f}M\nMACs" in shown and f"{efficient / 1e6:.1f}M\nMACs" in shown


def test_compound_scaling_draws_the_scaling_tables_networks():
    lite0, lite4 = SCALING["efficientnet_lite0"], SCALING["efficientnet_lite4"]
    nets = {n.name: n for n in scaling.scaling_networks()}
    assert (nets["compound"].width, nets["compound"].depth, nets["compound"].resolution) == \
        (lite4.width, lite4.depth, lite4.resolution)
    gids = by_gid(scaling.compound_scaling())
    for name, net in nets.items():
        model = efficientnet_lite(width_mult=net.width, depth=net.depth)
        blocks = [m for m in model.features if isinstance(m, (InvertedResidual, DepthwiseSeparable))]
        assert sum(g.startswith(f"{name}:block:") for g in gids) == len(blocks)
    assert len(nets["baseline"].block_channels) == 1 + 2 + 2 + 3 + 3 + 4 + 1            # B0's repeats
    assert len(nets["deeper"].block_channels) == 1 + 4 + 4 + 6 + 6 + 8 + 1              # ceil(1.8 n), ends fixed
    widest = [gids[f"wider:block:{j}"].get_width() for j in range(16)]
    assert max(widest) / gids["baseline:block:15"].get_width() == pytest.approx(448 / 320)
    assert gids["compound:input"].get_width() / gids["baseline:input"].get_width() == \
        pytest.approx(lite4.resolution / lite0.resolution)


def test_lite_block_removes_se_and_swish():
    fig = scaling.lite_block()
    gids, shown = by_gid(fig), texts(fig)
    assert "b0:se" in gids and "lite:se" not in gids
    assert "BN · swish" in shown and "BN · ReLU6" in shown and "240→10, swish" in shown


def test_mobileone_block_draws_the_blocks_branches():
    dw, pw = mobileone_s0().features[2][2], mobileone_s0().features[2][3]
    gids = by_gid(mobileone.mobileone_block())
    assert sum(g.startswith("dw:branch:conv:") for g in gids) == len(dw.conv_branches) == 4
    assert sum(g.startswith("pw:branch:conv:") for g in gids) == len(pw.conv_branches) == 4
    assert {"dw:branch:scale", "dw:branch:identity", "pw:branch:identity", "dw:fused", "pw:fused"} <= set(gids)
    assert "pw:branch:scale" not in gids                      # a 1×1 block has no 1×1 scale branch
    s1 = [gid for gid, _ in mobileone.branches(mobileone_s1().features[2][2])]
    assert s1 == ["conv:0", "scale", "identity"]


def test_mobileone_variants_are_the_papers_widths():
    expected = {"S0": [48, 128, 256, 1024], "S1": [96, 192, 512, 1280], "S2": [96, 256, 640, 2048],
                "S3": [128, 320, 768, 2048], "S4": [192, 448, 896, 2048]}   # int(64, 128, 256, 512 × α)
    gids = by_gid(mobileone.mobileone_variants())
    for name, widths in expected.items():
        assert [gids[f"{name}:stage:{s}"].get_height() for s in range(1, 5)] == widths


def test_width_resolution_reads_the_multipliers():
    fig = separable.width_resolution()
    gids = by_gid(fig)
    assert max(gids["alpha:0.5"].get_ydata()) == 512 and max(gids["alpha:1.0"].get_ydata()) == 1024
    assert gids["rho:160"].get_ydata()[0] == 80 and gids["rho:224"].get_ydata()[-1] == 7


def test_lineage_years_come_from_references_bib():
    years = lineage.bib_years()
    assert years["howard2017mobilenets"] == 2017 and years["vasu2023mobileone"] == 2022   # arXiv 2206
    assert years["efficientnetlite2020"] == 2020 and years["qin2024mobilenetv4"] == 2024
    assert {p.key for p in lineage.PAPERS} <= set(years)
    gids = by_gid(lineage.lineage())
    shown = {g.split(":", 1)[1] for g in gids if g.startswith("paper:")}
    assert shown == {p.key for p in lineage.PAPERS if years[p.key] <= 2022}
    x = {key: gids[f"paper:{key}"].get_x() for key in shown}
    assert x["howard2017mobilenets"] < x["sandler2018mobilenetv2"] < x["howard2019searching"] \
        < x["efficientnetlite2020"] < x["ding2021repvgg"] < x["vasu2023mobileone"]
    later = {g for g in by_gid(lineage.lineage(2019, 2024)) if g.startswith("paper:")}
    assert "paper:qin2024mobilenetv4" in later and "paper:howard2017mobilenets" not in later
