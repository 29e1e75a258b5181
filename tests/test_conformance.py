"""The counter against the oracle: for every op that torch.utils.flop_counter.FlopCounterMode
counts on meta tensors, analyze's MACs equal its FLOPs / 2. Over a zoo well beyond the book:
torch's nn.Transformer family on every attention path, recurrent layers, every matrix product,
functional calls with keywords, and sixteen CNN/ViT/sequence architectures (tests/architectures.py)."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import module as module_hooks
from torch.utils.flop_counter import FlopCounterMode

from architectures import ZOO, ViT, vit_b16
from mnlab.analysis import analyze


def oracle_macs(model: nn.Module, shape) -> int:
    """FlopCounterMode around the same meta-tensor forward pass: FLOPs / 2."""
    meta = {name: torch.empty(t.shape, dtype=t.dtype, device="meta")
            for name, t in [*model.named_parameters(), *model.named_buffers()]}
    with FlopCounterMode(display=False) as counter:
        torch.func.functional_call(model, meta, (torch.empty(shape, device="meta"),))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def real_module_outputs(model: nn.Module, shape) -> dict:
    names = {id(m): n for n, m in model.named_modules()}
    shapes = {}

    def record(module, args, out):
        if isinstance(out, torch.Tensor) and id(module) in names:
            shapes[names[id(module)]] = tuple(out.shape)

    hook = module_hooks.register_module_forward_hook(record)
    try:
        with torch.no_grad():
            model(torch.randn(shape))
    finally:
        hook.remove()
    return shapes


def assert_conforms(model: nn.Module, shape, *, unused=0):
    report = analyze(model, shape)
    assert report.totals["macs"] == oracle_macs(model, shape) > 0
    assert report.unknown_ops == []
    assert report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert report.totals["params_unused"] == unused
    return report


# ---- sixteen architectures -------------------------------------------------------------------

@pytest.mark.parametrize("name", ZOO)
def test_architecture_matches_the_oracle_and_a_real_forward(name):
    build, shape = ZOO[name]
    model = build().eval()
    report = assert_conforms(model, shape)
    real = real_module_outputs(model, shape)  # a fused fast path may skip some submodules
    assert real and {name: report.module_outputs[name] for name in real} == real


def test_vit_b16_is_counted_in_full():
    """ViT-B/16 runs its attention through nn.MultiheadAttention with need_weights=False, which
    used to vanish (about 36% of the MACs). 17.56 GMACs is fvcore's and timm's figure."""
    model = vit_b16().eval()
    report = assert_conforms(model, (1, 3, 224, 224))
    assert round(report.totals["macs"] / 1e9, 2) == 17.56
    attention = report.layers[report.layers["kind"] == "attention"]
    assert len(attention) == 12 and (attention["op"] == "multi_head_attention_forward").all()


# ---- torch's Transformer family, both attention paths -----------------------------------------

class Sequence(nn.Module):
    """Feeds an (N, C, H, W) input to a sequence model as (N, H·W, C) tokens (batch first) or
    (H·W, N, C); a decoder also gets a shorter memory/target."""

    def __init__(self, layer, batch_first=True, decoder=False):
        super().__init__()
        self.layer, self.batch_first, self.decoder = layer, batch_first, decoder

    def forward(self, x):
        tokens = x.flatten(2).transpose(1, 2)
        if not self.batch_first:
            tokens = tokens.transpose(0, 1)
        if self.decoder:
            other = tokens[:, :5] if self.batch_first else tokens[:5]
            return self.layer(tokens, other)
        out = self.layer(tokens, tokens, tokens) if isinstance(self.layer, nn.MultiheadAttention) \
            else self.layer(tokens)
        return out[0] if isinstance(out, tuple) else out


TRANSFORMERS = {
    "encoder layer, post-norm, relu": lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
    "encoder layer, pre-norm, gelu": lambda: nn.TransformerEncoderLayer(
        32, 4, 64, activation="gelu", norm_first=True, batch_first=True),
    "encoder, 2 layers, nested tensors enabled": lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2, enable_nested_tensor=True),
    "encoder layer, sequence first": lambda: nn.TransformerEncoderLayer(32, 4, 64),
}


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_transformer_encoders(name, training):
    layer = TRANSFORMERS[name]()
    model = Sequence(layer, batch_first=layer.layers[0].self_attn.batch_first if hasattr(layer, "layers")
                     else layer.self_attn.batch_first).train(training)
    assert_conforms(model, (2, 32, 3, 3))


@pytest.mark.parametrize("layer", [
    lambda: nn.TransformerDecoderLayer(32, 4, 64, batch_first=True),
    lambda: nn.TransformerDecoderLayer(32, 4, 64, norm_first=True, batch_first=True),
    lambda: nn.Transformer(32, 4, 2, 2, 64, batch_first=True),
], ids=["decoder layer", "decoder layer, pre-norm", "nn.Transformer"])
def test_transformer_decoders(layer):
    assert_conforms(Sequence(layer(), decoder=True).eval(), (2, 32, 3, 3))


@pytest.mark.parametrize("fused,layer", [
    ("_transformer_encoder_layer_fwd", lambda: nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)),
    ("_native_multi_head_attention", lambda: nn.MultiheadAttention(32, 4, batch_first=True)),
], ids=["encoder layer", "multi-head attention"])
def test_fast_path_counts_like_the_slow_path(monkeypatch, fused, layer):
    """In eval mode, batch first, without grad, a real forward takes PyTorch's fused fast path;
    counted, it is the same layer as in training mode (the slow path)."""
    calls = []
    kernel = getattr(torch, fused)
    monkeypatch.setattr(torch, fused, lambda *a, **k: calls.append(1) or kernel(*a, **k))
    model = Sequence(layer()).eval()
    with torch.inference_mode():
        model(torch.randn(2, 32, 3, 3))
    assert calls, "this configuration must exercise the fast path"
    eval_count = assert_conforms(model, (2, 32, 3, 3)).totals["macs"]
    assert analyze(model.train(), (2, 32, 3, 3)).totals["macs"] == eval_count


class Attend(nn.Module):
    def __init__(self, attention, batch_first=False, unbatched=False, **call):
        super().__init__()
        self.attention, self.batch_first, self.unbatched, self.call = attention, batch_first, unbatched, call

    def forward(self, x):
        tokens = x.flatten(2).transpose(1, 2)  # (N, L, C)
        if not self.batch_first:
            tokens = tokens.transpose(0, 1)
        if self.unbatched:
            tokens = tokens[:, 0]
        keys = tokens[..., :16] if self.attention.kdim == 16 else tokens
        out, _ = self.attention(tokens, keys, keys[..., :self.attention.vdim], **self.call)
        return out


MHA_CASES = {
    "need_weights=False": (dict(), dict(need_weights=False)),
    "need_weights=True": (dict(), dict(need_weights=True)),
    "per-head weights": (dict(), dict(need_weights=True, average_attn_weights=False)),
    "batch first": (dict(batch_first=True), dict(need_weights=False)),
    "kdim, vdim": (dict(kdim=16, vdim=8), dict(need_weights=False)),
    "bias_k/v, zero attention": (dict(add_bias_kv=True, add_zero_attn=True), dict(need_weights=False)),
    "causal mask": (dict(), dict(need_weights=False, attn_mask=torch.triu(torch.ones(9, 9, dtype=torch.bool), 1))),
    "unbatched": (dict(), dict(need_weights=False)),
}


@pytest.mark.parametrize("name", MHA_CASES)
def test_multihead_attention(name):
    build, call = MHA_CASES[name]
    if "attn_mask" in call:
        call = dict(call, attn_mask=call["attn_mask"].to("meta"))
    attention = nn.MultiheadAttention(32, 4, **build)
    model = Attend(attention, batch_first=build.get("batch_first", False), unbatched=name == "unbatched", **call)
    report = assert_conforms(model, (2, 32, 3, 3))
    row = report.layers[report.layers["kind"] == "attention"].iloc[0]
    assert row["params"] == sum(p.numel() for p in attention.parameters())  # no parameter "unused"


def test_multihead_attention_hand_count():
    """4 projections of N·L·E² and Q·Kᵀ, A·V of N·L²·E each; one softmax op per score."""
    n, length, e, heads = 2, 9, 32, 4
    report = analyze(Attend(nn.MultiheadAttention(e, heads), need_weights=False), (n, e, 3, 3))
    row = report.layers[report.layers["kind"] == "attention"].iloc[0]
    assert row["macs"] == 4 * n * length * e * e + 2 * n * length * length * e
    assert row["ops"] == n * heads * length * length


# ---- recurrent layers --------------------------------------------------------------------------

class Recur(nn.Module):
    def __init__(self, rnn, batch_first=False, cell=False):
        super().__init__()
        self.rnn, self.batch_first, self.cell = rnn, batch_first, cell

    def forward(self, x):
        if self.cell:
            out = self.rnn(x.flatten(1))
            return out[0] if isinstance(out, tuple) else out
        seq = x.flatten(2).transpose(1, 2)
        out, _ = self.rnn(seq if self.batch_first else seq.transpose(0, 1))
        return out


RNNS = {
    "lstm 2 layers bidirectional": (lambda: nn.LSTM(32, 20, 2, bidirectional=True), False),
    "lstm projection, batch first": (lambda: nn.LSTM(32, 20, proj_size=7, batch_first=True), True),
    "gru 3 layers": (lambda: nn.GRU(32, 20, 3), False),
    "gru no bias, bidirectional": (lambda: nn.GRU(32, 20, bias=False, bidirectional=True), False),
    "rnn tanh": (lambda: nn.RNN(32, 20), False),
    "rnn relu, 2 layers": (lambda: nn.RNN(32, 20, 2, nonlinearity="relu"), False),
}


@pytest.mark.parametrize("name", RNNS)
def test_recurrent_layers(name):
    build, batch_first = RNNS[name]
    rnn = build()
    report = assert_conforms(Recur(rnn, batch_first), (2, 32, 3, 3))
    # every weight matrix multiplies each of the 9 time steps of the 2 sequences once
    matrices = sum(p.numel() for p in rnn.parameters() if p.dim() == 2)
    assert report.totals["macs"] == 2 * 9 * matrices
    assert report.layers["kind"].tolist().count("recurrent") == 1


@pytest.mark.parametrize("cell", [nn.LSTMCell(32, 20), nn.GRUCell(32, 20), nn.RNNCell(32, 20)],
                         ids=["lstm cell", "gru cell", "rnn cell"])
def test_recurrent_cells(cell):
    report = assert_conforms(Recur(cell, cell=True), (3, 32, 1, 1))
    assert report.totals["macs"] == 3 * (cell.weight_ih.numel() + cell.weight_hh.numel())


# ---- every matrix product, and functional calls with keywords ---------------------------------

class Call(nn.Module):
    """Runs ``fn(x, w, v)`` with two parameters: w (32, 16) and v (4, 32, 32)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.w = nn.Parameter(torch.randn(32, 16))
        self.v = nn.Parameter(torch.randn(4, 32, 32))

    def forward(self, x):
        return self.fn(x, self.w, self.v)


PRODUCTS = {  # x is (2, 32, 3, 3)
    "matmul": lambda x, w, v: torch.matmul(x.transpose(1, 3), w),
    "@ broadcast batch": lambda x, w, v: v[:, None] @ x.flatten(2)[None].expand(4, 2, 32, 9),
    "linalg.matmul": lambda x, w, v: torch.linalg.matmul(x.flatten(2).transpose(1, 2), w),
    "Tensor.matmul": lambda x, w, v: x.flatten(2).transpose(1, 2).matmul(w),
    "__rmatmul__": lambda x, w, v: torch.Tensor.__rmatmul__(w, x.flatten(2).transpose(1, 2)),
    "matmul 1-D @ 2-D": lambda x, w, v: x.flatten()[:32] @ w,
    "mm": lambda x, w, v: torch.mm(x.flatten(1)[:, :32], w),
    "bmm": lambda x, w, v: torch.bmm(v, v),
    "baddbmm": lambda x, w, v: torch.baddbmm(v, v, v, beta=0.5),
    "addmm": lambda x, w, v: torch.addmm(w[0], x.flatten(1)[:, :32], w),
    "inner": lambda x, w, v: torch.inner(x.flatten(1)[:, :32], w.t()),
    "tensordot dims=2": lambda x, w, v: torch.tensordot(x, x.permute(2, 3, 0, 1), dims=2),
    "tensordot dim lists": lambda x, w, v: torch.tensordot(x, v[:, :, :9], dims=([1], [1])),
    "multi_dot": lambda x, w, v: torch.linalg.multi_dot([x.flatten(1)[:, :32], w, w.t(), w]),
    "multi_dot with vectors": lambda x, w, v: torch.linalg.multi_dot([x.flatten()[:32], v[0], w, w[0]]),
    "einsum 1×1 conv": lambda x, w, v: torch.einsum("nchw,ck->nkhw", x, w),
    "einsum attention": lambda x, w, v: torch.einsum("bqd,bkd->bqk", v, v),
    "einsum ellipsis": lambda x, w, v: torch.einsum("...ij,...jk->...ik", x, x),
    "einsum three operands": lambda x, w, v: torch.einsum("ij,jk,kl->il", v[0], w, w.t()),
    "einsum implicit output": lambda x, w, v: torch.einsum("ij,jk", v[0], w),
    "einsum sublists": lambda x, w, v: torch.einsum(v[0], [0, 1], w, [1, 2], [0, 2]),
    "einsum one operand summed first": lambda x, w, v: torch.einsum("ij,jk->i", v[0], w),
    "sdpa": lambda x, w, v: F.scaled_dot_product_attention(v[None], v[None], v[None, :, :, :16]),
    "sdpa 3-D": lambda x, w, v: F.scaled_dot_product_attention(v, v, v),
    "sdpa causal": lambda x, w, v: F.scaled_dot_product_attention(v[None], v[None], v[None], is_causal=True),
    "sdpa grouped query": lambda x, w, v: F.scaled_dot_product_attention(
        v[None], v[None, :2], v[None, :2], enable_gqa=True),
    "F.conv2d(input=, weight=)": lambda x, w, v: F.conv2d(input=x, weight=v[:8, :, :3, None], stride=2),
    "F.conv2d(x, weight=, padding=)": lambda x, w, v: F.conv2d(x, weight=v[:, :, :9].reshape(4, 32, 3, 3),
                                                               bias=None, padding=1),
    "F.linear(input=, weight=)": lambda x, w, v: F.linear(input=x.flatten(2).transpose(1, 2), weight=w.t()),
    "F.conv_transpose2d(input=, weight=)": lambda x, w, v: F.conv_transpose2d(
        input=x, weight=v[0, :, :16].reshape(32, 4, 2, 2), stride=2),
    "torch.matmul(input=, other=)": lambda x, w, v: torch.matmul(input=x.flatten(1)[:, :32], other=w),
    "sdpa(query=, key=, value=)": lambda x, w, v: F.scaled_dot_product_attention(query=v, key=v, value=v),
}


@pytest.mark.parametrize("name", PRODUCTS)
def test_matrix_products_and_keyword_calls(name):
    model = Call(PRODUCTS[name])
    report = analyze(model, (2, 32, 3, 3))
    assert report.totals["macs"] == oracle_macs(model, (2, 32, 3, 3)) > 0
    assert report.unknown_ops == []
    macs = report.layers[report.layers["macs"] > 0]
    assert len(macs) == 1 and macs.iloc[0]["kind"] in ("matmul", "linear", "attention") or \
        macs.iloc[0]["kind"].startswith(("conv", "depthwise", "grouped"))


def test_keyword_conv_row_describes_the_input_not_the_weight():
    model = Call(lambda x, w, v: F.conv2d(weight=v[:, :, :3, None], input=x))
    row = analyze(model, (2, 32, 3, 3)).layers.iloc[-1]
    assert row["op"] == "conv2d" and row["kind"] == "conv 3×1"
    assert row["input_shape"] == (2, 32, 3, 3) and row["output_shape"] == (2, 4, 1, 3)
    assert row["macs"] == 2 * 4 * 1 * 3 * 32 * 3 * 1


def test_rmatmul_uses_the_left_operands_inner_dimension():
    """b.__rmatmul__(a) is a @ b: (9, 32) @ (32, 16) sums 32 products per output, not 16."""
    model = Call(lambda x, w, v: torch.Tensor.__rmatmul__(w, x.flatten(2)[0].t()))
    row = analyze(model, (1, 32, 3, 3)).layers.iloc[-1]
    assert row["macs"] == 9 * 16 * 32 and row["input_shape"] == (9, 32)


def test_vit_from_the_test_zoo_at_two_batch_sizes():
    model = ViT().eval()
    one, two = analyze(model, (1, 3, 64, 64)), analyze(model, (2, 3, 64, 64))
    assert two.totals["macs"] == 2 * one.totals["macs"] == 2 * oracle_macs(model, (1, 3, 64, 64))
