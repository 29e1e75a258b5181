"""Compact CNN, ViT and sequence architectures beyond the book, for the counter's conformance
test (torchvision cannot be installed beside our torch). Each is a small but faithful version of
its family's building blocks; ``ZOO`` maps a name to (constructor, input shape)."""
import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(c_in, c_out, k=3, stride=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """ResNet-50's block (He et al. 2016): 1×1 reduce, 3×3 (stride), 1×1 expand ×4, projection shortcut."""

    def __init__(self, c_in, width, stride):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, width, 1), conv_bn(width, width, 3, stride),
                                  conv_bn(width, 4 * width, 1, act=None))
        self.shortcut = (conv_bn(c_in, 4 * width, 1, stride, act=None)
                         if stride != 1 or c_in != 4 * width else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


def resnet():
    return nn.Sequential(conv_bn(3, 16, 7, 2), nn.MaxPool2d(3, 2, 1), Bottleneck(16, 8, 1),
                         Bottleneck(32, 16, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class DenseLayer(nn.Module):
    """DenseNet (Huang et al. 2017): BN-ReLU-1×1-BN-ReLU-3×3, concatenated to its input."""

    def __init__(self, c_in, growth):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, 4 * growth, 1, bias=False),
                                  nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, 1, 1))

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def densenet():
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), DenseLayer(16, 8), DenseLayer(24, 8),
                         nn.BatchNorm2d(32), nn.Conv2d(32, 16, 1), nn.AvgPool2d(2), DenseLayer(16, 8),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 (Ma et al. 2018): channel split, 1×1-dw3×3-1×1 on one half, concat, shuffle."""

    def __init__(self, c):
        super().__init__()
        half = c // 2
        self.branch = nn.Sequential(conv_bn(half, half, 1), conv_bn(half, half, 3, groups=half, act=None),
                                    conv_bn(half, half, 1))

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        out = torch.cat([a, self.branch(b)], 1)
        n, c, h, w = out.shape
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def shufflenet():
    return nn.Sequential(conv_bn(3, 24, 3, 2), ShuffleUnit(24), nn.ChannelShuffle(2), ShuffleUnit(24),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


class ConvNeXtBlock(nn.Module):
    """ConvNeXt (Liu et al. 2022): dw 7×7, LayerNorm channels-last, Linear ×4, GELU, Linear, layer scale."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x):
        y = self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1)))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


def convnext():
    return nn.Sequential(nn.Conv2d(3, 32, 4, 4), ConvNeXtBlock(32), ConvNeXtBlock(32),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(32), nn.Linear(32, 10))


class ViT(nn.Module):
    """ViT (Dosovitskiy et al. 2021) as torchvision writes it: patch conv, class token, learned
    position embedding, ``nn.TransformerEncoderLayer`` blocks (pre-norm, GELU), head."""

    def __init__(self, patch=16, dim=64, depth=2, heads=4, mlp=128, image=64, num_classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, heads, mlp, activation="gelu", batch_first=True, norm_first=True)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def vit_b16():
    """ViT-B/16 at 224: 12 layers, width 768, 12 heads, MLP 3072."""
    return ViT(16, 768, 12, 12, 3072, 224, 1000)


class Attention(nn.Module):
    """timm's attention: one qkv Linear, heads by reshape, SDPA, output projection."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, dim))


class TimmBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def timm_vit():
    return nn.Sequential(nn.Conv2d(3, 48, 8, 8), nn.Flatten(2), Transpose(), TimmBlock(48, 4),
                         TimmBlock(48, 4), Mean(1), nn.Linear(48, 10))


class Transpose(nn.Module):
    def forward(self, x):
        return x.transpose(1, 2)


class Mean(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.mean(self.dim)


class WindowAttention(nn.Module):
    """Swin (Liu et al. 2021): shifted windows (roll), attention inside each window written with
    einsum and @, relative position bias, window merge."""

    def __init__(self, dim, heads, window):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(heads, window * window, window * window))

    def forward(self, x):  # (N, H, W, C)
        n, h, w, c = x.shape
        s, ws = self.window // 2, self.window
        x = torch.roll(x, (-s, -s), (1, 2))
        windows = x.view(n, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        q, k, v = self.qkv(windows).reshape(-1, ws * ws, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.einsum("bhqd,bhkd->bhqk", q * (c // self.heads) ** -0.5, k) + self.bias
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(-1, ws, ws, c)
        out = out.view(n, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, c)
        return torch.roll(self.proj(out), (s, s), (1, 2))


def swin():
    return nn.Sequential(nn.Conv2d(3, 32, 4, 4), Permute(0, 2, 3, 1), nn.LayerNorm(32),
                         WindowAttention(32, 4, 4), Mean((1, 2)), nn.Linear(32, 10))


class Permute(nn.Module):
    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class Ghost(nn.Module):
    """GhostNet (Han et al. 2020): half the channels by a 1×1 conv, the other half by a cheap dw conv."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.primary = conv_bn(c_in, c_out // 2, 1)
        self.cheap = conv_bn(c_out // 2, c_out // 2, 3, groups=c_out // 2)

    def forward(self, x):
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], 1)


def ghostnet():
    return nn.Sequential(conv_bn(3, 16, 3, 2), Ghost(16, 32), Ghost(32, 32), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10))


def regnet():
    """RegNetX (Radosavovic et al. 2020): residual bottlenecks with grouped 3×3 convs."""
    class XBlock(nn.Module):
        def __init__(self, c, groups):
            super().__init__()
            self.body = nn.Sequential(conv_bn(c, c, 1), conv_bn(c, c, 3, groups=groups), conv_bn(c, c, 1, act=None))

        def forward(self, x):
            return F.relu(x + self.body(x))

    return nn.Sequential(conv_bn(3, 32, 3, 2), XBlock(32, 4), XBlock(32, 8), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10))


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015): down by stride, up by transposed conv and by interpolation,
    skip concatenations."""

    def __init__(self):
        super().__init__()
        self.down1, self.down2 = conv_bn(3, 16), conv_bn(16, 32, 3, 2)
        self.up = nn.ConvTranspose2d(32, 16, 2, 2)
        self.fuse = conv_bn(32, 16)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        a = self.down1(x)
        b = self.down2(a)
        y = self.fuse(torch.cat([a, self.up(b)], 1))
        y = y + F.interpolate(b[:, :16], scale_factor=2, mode="bilinear", align_corners=False)
        return self.out(y)


class Inception(nn.Module):
    """Inception (Szegedy et al. 2016): parallel 1×1, 1×7-7×1 and pool branches, concatenated."""

    def __init__(self, c):
        super().__init__()
        self.a = conv_bn(c, 8, 1)
        self.b = nn.Sequential(conv_bn(c, 8, 1), nn.Conv2d(8, 8, (1, 7), padding=(0, 3)),
                               nn.Conv2d(8, 8, (7, 1), padding=(3, 0)))
        self.c = nn.Sequential(nn.AvgPool2d(3, 1, 1), conv_bn(c, 8, 1))

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x), self.c(x)], 1)


def inception():
    return nn.Sequential(conv_bn(3, 16, 3, 2), Inception(16), nn.MaxPool2d(2), Inception(24),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


class MixerBlock(nn.Module):
    """MLP-Mixer (Tolstikhin et al. 2021): a token-mixing MLP on the transposed tokens, then a
    channel-mixing MLP."""

    def __init__(self, tokens, dim):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.tokens = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Linear(2 * tokens, tokens))
        self.channels = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.norm2(x))


def mixer():
    return nn.Sequential(nn.Conv2d(3, 32, 8, 8), nn.Flatten(2), Transpose(), MixerBlock(16, 32),
                         Mean(1), nn.Linear(32, 10))


class Fire(nn.Module):
    """SqueezeNet (Iandola et al. 2016): squeeze 1×1, expand 1×1 and 3×3 in parallel."""

    def __init__(self, c_in, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(c_in, squeeze, 1)
        self.e1, self.e3 = nn.Conv2d(squeeze, expand, 1), nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.e1(s)), F.relu(self.e3(s))], 1)


def squeezenet():
    return nn.Sequential(nn.Conv2d(3, 32, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
                         Fire(32, 8, 16), Fire(32, 8, 16), nn.Dropout(0.5), nn.Conv2d(32, 10, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


class CRNN(nn.Module):
    """CRNN (Shi et al. 2016): conv features read column by column by a bidirectional LSTM."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(conv_bn(3, 16, 3, 2), conv_bn(16, 32, 3, 2))
        self.rnn = nn.LSTM(32 * 8, 24, num_layers=2, bidirectional=True)
        self.head = nn.Linear(48, 10)

    def forward(self, x):
        f = self.features(x)  # (N, C, H, W) -> columns (W, N, C·H)
        seq = f.permute(3, 0, 1, 2).flatten(2)
        out, _ = self.rnn(seq)
        return self.head(out)


class PerceiverIO(nn.Module):
    """Perceiver (Jaegle et al. 2021): learned latents cross-attend to the input tokens
    (``nn.MultiheadAttention`` with ``need_weights=False``), then a GRU over the latents."""

    def __init__(self, dim=32, latents=6):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 8, 8)
        self.latents = nn.Parameter(torch.zeros(latents, 1, dim))
        self.cross = nn.MultiheadAttention(dim, 4, kdim=dim, vdim=dim)
        self.gru = nn.GRU(dim, dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).permute(2, 0, 1)  # (L, N, E)
        latents = self.latents.expand(-1, x.shape[0], -1)
        z, _ = self.cross(latents, tokens, tokens, need_weights=False)
        z, _ = self.gru(z)
        return self.head(z.mean(0))


def efficientnet_b0_like():
    """EfficientNet (Tan & Le 2019): MBConv with SiLU and squeeze-excite, drop-in torch ops."""
    class MBConv(nn.Module):
        def __init__(self, c, t):
            super().__init__()
            hidden = c * t
            self.expand, self.dw = conv_bn(c, hidden, 1, act=nn.SiLU), conv_bn(hidden, hidden, 3, groups=hidden, act=nn.SiLU)
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(hidden, c // 4, 1), nn.SiLU(),
                                    nn.Conv2d(c // 4, hidden, 1), nn.Sigmoid())
            self.project = conv_bn(hidden, c, 1, act=None)

        def forward(self, x):
            h = self.dw(self.expand(x))
            return x + self.project(h * self.se(h))

    return nn.Sequential(conv_bn(3, 16, 3, 2, act=nn.SiLU), MBConv(16, 4), MBConv(16, 6),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 10))


ZOO = {
    "resnet": (resnet, (2, 3, 64, 64)),
    "densenet": (densenet, (2, 3, 32, 32)),
    "shufflenet_v2": (shufflenet, (2, 3, 32, 32)),
    "convnext": (convnext, (2, 3, 32, 32)),
    "vit (nn.TransformerEncoderLayer)": (ViT, (2, 3, 64, 64)),
    "vit (qkv + sdpa)": (timm_vit, (2, 3, 32, 32)),
    "swin (window attention, einsum)": (swin, (2, 3, 32, 32)),
    "ghostnet": (ghostnet, (2, 3, 32, 32)),
    "regnet_x": (regnet, (2, 3, 32, 32)),
    "unet": (UNet, (1, 3, 32, 32)),
    "inception": (inception, (2, 3, 32, 32)),
    "mlp_mixer": (mixer, (2, 3, 32, 32)),
    "squeezenet": (squeezenet, (2, 3, 64, 64)),
    "crnn (conv + lstm)": (CRNN, (2, 3, 32, 32)),
    "perceiver (mha + gru)": (PerceiverIO, (2, 3, 32, 32)),
    "efficientnet_b0_like": (efficientnet_b0_like, (2, 3, 32, 32)),
}
