"""The networks of the PyTorch peer (pytorch_peer.py): the same as our zoo (src/nn/zoo.ts), with the
SGD settings of TRAINING_CASES (runner/tools/training-cases.ts). Apart so the peer's settings,
its packs and pytorch_kernels.py share one definition."""
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """OpenLTH cifar_resnet block: conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU."""

    def __init__(self, cin, cout, down):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if down or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResnet(nn.Module):
    """cifar_resnet_20: conv3x3 16 + BN + ReLU, 3 stages of n blocks (16/32/64), GAP, linear to 10."""

    def __init__(self, n=3, width=16):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, cin = [], width
        for stage, cout in enumerate([width, 2 * width, 4 * width]):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, down=stage > 0 and i == 0))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def lenet_300_100():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


# name -> (constructor, input shape C,H,W, SGD settings of TRAINING_CASES)
MODELS = {
    "mnist_lenet_300_100": (lenet_300_100, (1, 28, 28), dict(lr=0.1, momentum=0.0, weight_decay=0.0)),
    "cifar_resnet_20": (CifarResnet, (3, 32, 32), dict(lr=0.1, momentum=0.9, weight_decay=1e-4)),
}
