"""Handlers of the ops that carry multiply-accumulates: convolutions, every matrix product,
attention and recurrent layers. Each states its formula; each formula equals what
``torch.utils.flop_counter.FlopCounterMode`` counts (FLOPs / 2) for the same op on meta tensors,
wherever that tool counts the op at all (it does not count ``mv``, ``dot``, ``outer``, ``addbmm``
or ``bilinear``; their formulas are checked by hand in the tests).

=========  =================================================================================
kind       MACs
=========  =================================================================================
conv k×k   N · C_out · H_out · W_out · (C_in / groups) · k_h · k_w ("depthwise k×k" when
           groups = C_in, "grouped k×k" otherwise); a transposed conv scatters every input
           pixel: N · C_in · H_in · W_in · (C_out / groups) · k_h · k_w
linear     (output elements) · (input features): ``linear``, ``addmm``; ``bilinear``
           y_k = x1ᵀ·A_k·x2, as torch computes it: N · out · in2 · (in1 + 1)
matmul     (output elements) · (inner dimension K): ``matmul``, ``@`` (either side), ``mm``,
           ``bmm``, ``baddbmm``, ``inner``, ``tensordot``; ``addbmm`` B·M·K·P (the batch is
           summed); ``mv``/``addmv`` M·K; ``dot`` K; ``outer`` M·N (inner dimension 1);
           ``multi_dot`` the cheapest bracketing, as torch picks it; ``einsum`` the pairwise
           contractions torch runs, left to right (a pair that contracts nothing is an
           element-wise multiply there: it adds ``ops``, not MACs)
attention  ``scaled_dot_product_attention``: Q·Kᵀ and softmax(·)·V, B·H·L·S·(E + E_v);
           ``nn.MultiheadAttention``: its in-projections (N·L·E·E for q, N·S·kdim·E and
           N·S·vdim·E for k and v), 2·N·L·S·E for attention and N·L·E·E for the output
           projection. ``ops``: one softmax op per attention score
recurrent  LSTM, GRU, RNN and their cells: every weight matrix multiplies each time step of
           each sequence once, (time steps · batch) · Σ numel(W); ``ops``: one per element a
           weight matrix outputs (the gate sums and nonlinearities that follow it)
=========  =================================================================================

Bias additions are never MACs (DESIGN.md).
"""
from __future__ import annotations

import string

import torch

from mnlab.analysis.ops import Count, OpCall, as_tuple, prod


def conv(call: OpCall) -> Count:
    x, weight, out = call.arg("input"), call.arg("weight"), call.out
    groups = call.arg("groups", 1)
    w = weight.shape
    kernel = tuple(w[2:])
    per_output = prod(w[1:])  # (C_in / groups) · k_h · k_w
    if "transpose" in call.op:  # weight (C_in, C_out / groups, k...): each input pixel scatters
        c_in, macs = w[0], x.numel() * per_output
    else:
        c_in, macs = w[1] * groups, out.numel() * per_output
    size = "×".join(map(str, kernel))
    kind = f"conv {size}" if groups == 1 else f"depthwise {size}" if groups == c_in else f"grouped {size}"
    return Count(kind, macs=macs, kernel=kernel, stride=as_tuple(call.arg("stride", 1), len(kernel)),
                 groups=groups, bias=call.arg("bias") is not None)


def linear(call: OpCall) -> Count:
    x = call.arg("input")
    return Count("linear", macs=call.out.numel() * x.shape[-1], bias=call.arg("bias") is not None)


def addmm(call: OpCall) -> Count:  # addmm(bias, x, W^T): a linear layer as traced code writes it
    return Count("linear", macs=call.out.numel() * call.arg("mat1").shape[-1], bias=True)


def bilinear(call: OpCall) -> Count:
    weight = call.arg("weight")  # (out, in1, in2)
    rows = call.out.numel() // weight.shape[0]
    return Count("linear", macs=rows * weight.shape[0] * weight.shape[2] * (weight.shape[1] + 1),
                 bias=call.arg("bias") is not None)


def matmul(call: OpCall) -> Count:
    """a @ b: every output element sums K = a.shape[-1] products (1-D operands included)."""
    a = call.arg("other") if call.op == "__rmatmul__" else call.arg("input")  # b.__rmatmul__(a) = a @ b
    return Count("matmul", macs=call.out.numel() * a.shape[-1])


def batch_product(call: OpCall) -> Count:  # baddbmm(input, batch1, batch2)
    return Count("matmul", macs=call.out.numel() * call.arg("batch1").shape[-1])


def addbmm(call: OpCall) -> Count:  # Σ_b batch1[b] @ batch2[b]: B·M·K·P
    return Count("matmul", macs=call.arg("batch1").numel() * call.arg("batch2").shape[-1])


def matrix_vector(call: OpCall) -> Count:  # mv(A, v), addmv(y, A, v): M·K
    return Count("matmul", macs=call.arg("mat" if call.op == "addmv" else "input").numel())


def dot(call: OpCall) -> Count:
    return Count("matmul", macs=call.arg("input").numel())


def outer(call: OpCall) -> Count:
    return Count("matmul", macs=call.out.numel())


def tensordot(call: OpCall) -> Count:
    a, dims = call.arg("a"), call.arg("dims", 2)
    if isinstance(dims, torch.Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        contracted = a.shape[a.dim() - dims:] if dims else ()
    else:
        contracted = [a.shape[d] for d in dims[0]]
    return Count("matmul", macs=call.out.numel() * prod(contracted))


def multi_dot(call: OpCall) -> Count:
    """The cheapest bracketing of the chain (the matrix-chain dynamic programme torch runs)."""
    tensors = call.arg("tensors")
    if isinstance(tensors, torch.Tensor):  # chain_matmul(*matrices)
        tensors = [t for t in call.args if isinstance(t, torch.Tensor)]
    sizes = [tensors[0].shape[0] if tensors[0].dim() == 2 else 1]
    sizes += [t.shape[-1] if t.dim() == 2 or i < len(tensors) - 1 else 1 for i, t in enumerate(tensors)]
    n = len(tensors)
    cost = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = min(cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                             for k in range(i, j))
    return Count("matmul", macs=cost[0][n - 1])


def einsum(call: OpCall) -> Count:
    terms, output, sizes = _einsum_terms(call)
    macs = ops = 0
    for i in range(1, len(terms)):  # torch contracts left to right (without opt_einsum)
        left, right = terms[0], terms[i]
        needed = set(output).union(*terms[i + 1:])
        left = {c for c in left if c in right or c in needed}  # the rest is summed first
        right = {c for c in right if c in left or c in needed}
        joined = left | right
        if (left & right) - needed:  # a contraction: one batched matrix product
            macs += prod(sizes[c] for c in joined)
        else:  # nothing summed: torch multiplies element-wise
            ops += prod(sizes[c] for c in joined)
        terms[0] = "".join(sorted(joined & needed))
    return Count("matmul", macs=macs, ops=ops)


def _einsum_terms(call: OpCall):
    """The operand subscripts, the output subscripts and each index's size. Ellipses become
    indices of their own (right-aligned, as they broadcast); implicit outputs are the indices
    used once, in alphabetical order."""
    if isinstance(call.args[0], str):
        equation = call.args[0].replace(" ", "")
        operands = [t for t in call.args[1:] if isinstance(t, torch.Tensor)]
        if len(call.args) == 2 and isinstance(call.args[1], (list, tuple)):
            operands = list(call.args[1])
    else:  # sublist form: einsum(a, [0, 1], b, [1, 2], [0, 2])
        operands, equation = list(call.args[0::2]), _sublist_equation(call.args)
    inputs, _, output = equation.partition("->")
    terms = inputs.split(",")
    ellipsis = max((t.dim() - len(s.replace("...", "")) for s, t in zip(terms, operands) if "..." in s),
                   default=0)
    extra = "".join(chr(0x100 + i) for i in range(ellipsis))
    terms = [s.replace("...", extra[len(extra) - (t.dim() - len(s) + 3):]) if "..." in s else s
             for s, t in zip(terms, operands)]
    if "->" not in equation:
        counts = "".join(terms)
        output = extra + "".join(sorted(c for c in set(counts) - set(extra) if counts.count(c) == 1))
    output = output.replace("...", extra)
    sizes: dict[str, int] = {}
    for subscripts, tensor in zip(terms, operands):
        for c, n in zip(subscripts, tensor.shape):
            sizes[c] = max(sizes.get(c, 1), n)
    return terms, output, sizes


def _sublist_equation(args) -> str:
    letters = string.ascii_letters

    def term(sub):
        return "".join("..." if s is Ellipsis else letters[s] for s in sub)

    pairs = list(args)
    output = term(pairs.pop()) if len(pairs) % 2 else None
    equation = ",".join(term(sub) for sub in pairs[1::2])
    return equation if output is None else f"{equation}->{output}"


def sdpa(call: OpCall) -> Count:
    """softmax(Q·Kᵀ/√E)·V: (B·H·L) query rows, S keys, E and E_v the q/k and v widths."""
    q, k, v = call.arg("query"), call.arg("key"), call.arg("value")
    rows, keys = q.numel() // q.shape[-1], k.shape[-2]
    return Count("attention", macs=rows * keys * (q.shape[-1] + v.shape[-1]), ops=rows * keys)


def multi_head_attention(call: OpCall) -> Count:
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs): projections,
    attention and output projection. Query (L, N, E) or unbatched (L, E); key/value (S, N, ·)."""
    q, k, v = call.arg("query"), call.arg("key"), call.arg("value")
    embed = q.shape[-1]
    batch = q.shape[1] if q.dim() == 3 else 1
    length, keys = q.shape[0], k.shape[0]
    macs = batch * length * embed * embed * 2  # the q and output projections
    static_k, static_v = call.arg("static_k"), call.arg("static_v")
    if static_k is None:
        macs += batch * keys * k.shape[-1] * embed
    else:
        keys = static_k.shape[1]
    if static_v is None:
        macs += batch * v.shape[0] * v.shape[-1] * embed
    keys += (call.arg("bias_k") is not None) + bool(call.arg("add_zero_attn"))
    macs += 2 * batch * length * keys * embed  # Q·Kᵀ and softmax(·)·V, all heads together
    return Count("attention", macs=macs, ops=batch * call.arg("num_heads") * length * keys)


def recurrent(call: OpCall) -> Count:
    """``_VF.lstm/gru/rnn_*`` (what ``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` run) and their cells:
    every 2-D weight (input-hidden, hidden-hidden, LSTM projection) multiplies every row."""
    x = call.args[0]
    rows = x.numel() // x.shape[-1]  # time steps · batch, or the packed sequence's rows
    packed = call.op in _SEQUENCES and _is_batch_sizes(call.args[1])
    if call.op in _SEQUENCES:
        weights = call.args[3 if packed else 2]
    else:  # cells: (input, hx, w_ih, w_hh, b_ih, b_hh)
        weights = call.args[2:4]
    matrices = [w for w in weights if isinstance(w, torch.Tensor) and w.dim() == 2]
    return Count("recurrent", macs=rows * sum(w.numel() for w in matrices),
                 ops=rows * sum(w.shape[0] for w in matrices))


_SEQUENCES = ("lstm", "gru", "rnn_tanh", "rnn_relu")


def _is_batch_sizes(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 1 and not value.is_floating_point()


def table() -> dict[str, tuple]:
    """The MAC ops: name -> (handler, parameter names, primary input parameter)."""
    conv_params = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    transpose_params = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                        "dilation")
    entries: dict[str, tuple] = {}
    entries.update({f"conv{d}d": (conv, conv_params, None) for d in (1, 2, 3)})
    entries.update({f"conv_transpose{d}d": (conv, transpose_params, None) for d in (1, 2, 3)})
    entries["linear"] = (linear, ("input", "weight", "bias"), None)
    entries["addmm"] = (addmm, ("input", "mat1", "mat2"), "mat1")
    entries["bilinear"] = (bilinear, ("input1", "input2", "weight", "bias"), None)
    for name in ("matmul", "__matmul__", "linalg_matmul", "mm", "bmm", "inner"):
        entries[name] = (matmul, ("input", "other"), None)
    entries["__rmatmul__"] = (matmul, ("input", "other"), "other")
    entries["baddbmm"] = (batch_product, ("input", "batch1", "batch2"), "batch1")
    entries["addbmm"] = (addbmm, ("input", "batch1", "batch2"), "batch1")
    entries["mv"] = (matrix_vector, ("input", "vec"), None)
    entries["addmv"] = (matrix_vector, ("input", "mat", "vec"), "mat")
    entries["dot"] = entries["vdot"] = (dot, ("input", "other"), None)
    entries["outer"] = entries["ger"] = (outer, ("input", "vec2"), None)
    entries["tensordot"] = (tensordot, ("a", "b", "dims"), None)
    entries["linalg_multi_dot"] = entries["multi_dot"] = (multi_dot, ("tensors",), None)
    entries["chain_matmul"] = (multi_dot, ("tensors",), None)
    entries["einsum"] = (einsum, ("equation",), None)
    entries["scaled_dot_product_attention"] = (
        sdpa, ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale"), None)
    entries["multi_head_attention_forward"] = (multi_head_attention, (
        "query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
        "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias",
        "training", "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight",
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "static_k", "static_v"), None)
    for name in (*_SEQUENCES, "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"):
        entries[name] = (recurrent, ("input",), None)
    return entries
