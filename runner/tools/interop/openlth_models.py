"""OpenLTH's networks as torch.nn.Modules whose state_dict names and shapes are exactly those of
earlyphase's model zoo (src/nn/zoo.ts), so our weights files load with load_state_dict(strict=True).

Written from the architectures as OpenLTH defines them (models/mnist_lenet.py, cifar_resnet.py,
cifar_vgg.py) and Frankle & Carbin 2019 (Conv-2/4/6), not copied: each first layer is sized to the
images (as our zoo does: cifar_resnet_20 also runs on 1x28x28 Fashion-MNIST), and WRN depths
(6n+4, e.g. cifar_resnet_16_128) are read as our zoo reads them. ResNet-18 (`cifar_resnet18`)
uses torchvision's names with a 3x3 stride-1 stem and no max-pool.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MNIST_INPUT = (1, 28, 28)
CIFAR_INPUT = (3, 32, 32)
# The image shape of each dataset a run's hparams.json can name.
DATASET_INPUT = {'mnist': MNIST_INPUT, 'fashion_mnist': MNIST_INPUT, 'cifar10': CIFAR_INPUT, 'synthetic': CIFAR_INPUT}


class LeNet(nn.Module):
    """mnist_lenet_N1[_N2...]: fc_layers.i (Linear + ReLU), then fc."""

    def __init__(self, plan, input_shape=MNIST_INPUT, classes=10):
        super().__init__()
        sizes = [input_shape[0] * input_shape[1] * input_shape[2], *plan]
        self.fc_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.fc = nn.Linear(sizes[-1], classes)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.fc_layers:
            x = F.relu(layer(x))
        return self.fc(x)


class ResNetBlock(nn.Module):
    """conv1-bn1-relu-conv2-bn2 plus a shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, f_in, f_out, stride, shortcut_stride, shortcut_name='shortcut'):
        super().__init__()
        self.shortcut_name = shortcut_name  # OpenLTH: shortcut; torchvision: downsample
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        reshape = stride != 1 or f_in != f_out
        setattr(self, shortcut_name, nn.Sequential(nn.Conv2d(f_in, f_out, 1, stride=shortcut_stride, bias=False), nn.BatchNorm2d(f_out))
                if reshape else nn.Sequential())

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + getattr(self, self.shortcut_name)(x))


class CifarResNet(nn.Module):
    """cifar_resnet_D[_W]: conv, bn, three segments of n blocks (widths W, 2W, 4W), global average, fc."""

    def __init__(self, blocks, width=16, input_shape=CIFAR_INPUT, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], width, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        layers, f_in = [], width
        for segment, f in enumerate([width, 2 * width, 4 * width]):
            for i in range(blocks):
                down = segment > 0 and i == 0
                # OpenLTH's shortcut conv has stride 2 whenever it exists.
                layers.append(ResNetBlock(f_in, f, 2 if down else 1, 2))
                f_in = f
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x):
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(out.mean((2, 3)))


class VggModule(nn.Module):
    def __init__(self, f_in, f_out):
        super().__init__()
        self.conv = nn.Conv2d(f_in, f_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(f_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


VGG_PLANS = {
    11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512],
    13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512],
    16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512],
    19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512],
}


class CifarVgg(nn.Module):
    """cifar_vgg_{11,13,16,19}: layers.i = conv+BN+ReLU or 2x2 max-pool, a 2x2 average pool, fc."""

    def __init__(self, n, input_shape=CIFAR_INPUT, classes=10):
        super().__init__()
        layers, f_in = [], input_shape[0]
        for spec in VGG_PLANS[n]:
            if spec == 'M':
                layers.append(nn.MaxPool2d(2))
            else:
                layers.append(VggModule(f_in, spec))
                f_in = spec
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512 * (input_shape[1] // 32) * (input_shape[2] // 32), classes)

    def forward(self, x):
        return self.fc(F.avg_pool2d(self.layers(x), 2).flatten(1))


class CifarConv(nn.Module):
    """cifar_conv_{2,4,6}: pairs of 3x3 convs (64, 128, 256) each followed by a 2x2 max-pool, then fc 256-256-10."""

    def __init__(self, n, input_shape=CIFAR_INPUT, classes=10):
        super().__init__()
        convs, c, h, w = [], *input_shape
        for f in [64, 128, 256][:n // 2]:
            convs += [nn.Conv2d(c, f, 3, padding=1, bias=True), nn.Conv2d(f, f, 3, padding=1, bias=True)]
            c, h, w = f, h // 2, w // 2
        self.conv_layers = nn.ModuleList(convs)
        self.fc_layers = nn.ModuleList([nn.Linear(c * h * w, 256), nn.Linear(256, 256)])
        self.fc = nn.Linear(256, classes)

    def forward(self, x):
        for i, conv in enumerate(self.conv_layers):
            x = F.relu(conv(x))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        x = x.flatten(1)
        for layer in self.fc_layers:
            x = F.relu(layer(x))
        return self.fc(x)


class ResNet18Cifar(nn.Module):
    """cifar_resnet18: torchvision's names (conv1, bn1, layer1..4 of two blocks, downsample, fc), 3x3 stem."""

    def __init__(self, input_shape=CIFAR_INPUT, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        f_in = 64
        for s, f in enumerate([64, 128, 256, 512]):
            blocks = []
            for i in range(2):
                stride = 2 if s > 0 and i == 0 else 1
                blocks.append(ResNetBlock(f_in, f, stride, stride, 'downsample'))
                f_in = f
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def resnet_blocks(depth):
    """Blocks per segment: D = 6n+2 (OpenLTH), or 6n+4 for WRN names that count the shortcut convs."""
    if depth > 2 and (depth - 2) % 6 == 0:
        return (depth - 2) // 6
    if depth > 4 and (depth - 4) % 6 == 0:
        return (depth - 4) // 6
    return None


def build_model(name, input_shape=None, classes=10):
    """The network our zoo calls `name`, its first layer sized to input_shape (C, H, W)."""
    parts = name.split('_')
    ints = [int(p) for p in parts[2:] if p.isdigit() and int(p) > 0]
    if name.startswith('mnist_lenet_') and len(parts) > 2 and len(ints) == len(parts) - 2:
        return LeNet(ints, input_shape or MNIST_INPUT, classes)
    shape = input_shape or CIFAR_INPUT
    if name == 'cifar_resnet18':
        return ResNet18Cifar(shape, classes)
    if name.startswith('cifar_resnet_') and len(parts) in (3, 4) and len(ints) == len(parts) - 2 and resnet_blocks(ints[0]):
        return CifarResNet(resnet_blocks(ints[0]), ints[1] if len(ints) > 1 else 16, shape, classes)
    if name.startswith('cifar_vgg_') and len(parts) == 3 and ints and ints[0] in VGG_PLANS:
        return CifarVgg(ints[0], shape, classes)
    if name in ('cifar_conv_2', 'cifar_conv_4', 'cifar_conv_6'):
        return CifarConv(int(parts[2]), shape, classes)
    raise ValueError(f'unknown model {name!r}; expected mnist_lenet_N1[_N2...], cifar_resnet_D[_W], cifar_vgg_N, cifar_conv_N or cifar_resnet18')
