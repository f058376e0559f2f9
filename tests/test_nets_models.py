"""The models of symsgd.nets.models against hand counts, hand formulas and torch's own layers."""

import math

import pytest

torch = pytest.importorskip("torch")

from torch.func import functional_call, grad, vmap  # noqa: E402

from symsgd.errors import (BackendError, InputTypeError, MethodError, RangeError,  # noqa: E402
                           ShapeError)
from symsgd.nets.models import MLP, ConvNet, LogisticRegression, _conv  # noqa: E402


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# Counts by hand: conv (out * in * k * k + out), dense (out * in + out); a stride-2 convolution
# maps a side s to (s + 2 p - k) // 2 + 1.
@pytest.mark.parametrize("in_shape, classes, options, padding, count", [
    # 8 -> (8 + 2 - 5) // 2 + 1 = 3 -> (3 + 2 - 5) // 2 + 1 = 1: 260 + 2510 + 110 + 110
    ((1, 8, 8), 10, {}, 1, 2990),
    # 28 -> 12 -> 4 (the paper's Fashion-MNIST net, ~4,500): 260 + 2510 + (160 * 10 + 10) + 110
    ((1, 28, 28), 10, {}, 0, 4490),
    # 32 -> 14 -> 5: (75 * 10 + 10) + 2510 + (250 * 10 + 10) + 110
    ((3, 32, 32), 10, {}, 0, 5890),
    # 8 -> 4 -> 2: 260 + 2510 + (40 * 10 + 10) + 110
    ((1, 8, 8), 10, {"padding": 2}, 2, 3290),
    # kernel 3: 8 -> 3 -> 1: (4 * 9 + 4) + (4 * 4 * 9 + 4) + (6 * 4 + 6) + (3 * 6 + 3)
    ((1, 8, 8), 3, {"channels": 4, "hidden": 6, "kernel": 3}, 0, 239),
])
def test_convnet_parameter_count_by_hand(in_shape, classes, options, padding, count):
    net = ConvNet(in_shape, classes, **options)
    assert net.padding == padding
    assert n_params(net) == count
    assert [name for name, _ in net.named_parameters()] == [
        "weight0", "bias0", "weight1", "bias1", "weight2", "bias2", "weight3", "bias3"]


def test_dense_parameter_counts_by_hand():
    assert n_params(MLP([5, 7, 3])) == 5 * 7 + 7 + 7 * 3 + 3
    assert [tuple(p.shape) for p in MLP([5, 7, 3]).parameters()] == [(7, 5), (7,), (3, 7), (3,)]
    assert n_params(LogisticRegression(64, 10)) == 64 * 10 + 10


@pytest.mark.parametrize("model", [MLP([300, 100, 10]), ConvNet((1, 28, 28), 10, seed=3)],
                         ids=["mlp", "convnet"])
def test_every_parameter_is_standard_normal(model):
    theta = flat(model)
    n = theta.numel()
    assert abs(float(theta.mean())) < 5 / math.sqrt(n)                # sd of the mean: 1/sqrt(n)
    assert abs(float(theta.var()) - 1) < 5 * math.sqrt(2 / n)         # sd of the variance
    assert abs(float((theta ** 4).mean()) - 3) < 5 * math.sqrt(96 / n)  # E z^8 - 9 = 96
    for p in model.parameters():                                        # no scale on any tensor
        assert abs(float(p.detach().var()) - 1) < 6 * math.sqrt(2 / p.numel())


def test_seeds_reproduce_and_differ():
    a, b, c = (ConvNet((1, 8, 8), 10, seed=s) for s in (5, 5, 6))
    assert torch.equal(flat(a), flat(b))
    assert not torch.equal(flat(a), flat(c))
    assert c.reset(5) is c and torch.equal(flat(c), flat(a))
    assert torch.equal(flat(MLP([4, 3], seed=0)), flat(MLP([4, 3])))
    single = ConvNet((1, 8, 8), 10, seed=5, dtype=torch.float32)
    assert single.weight0.dtype == torch.float32
    assert torch.equal(flat(single), flat(a).to(torch.float32))


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 16, 16), (3, 32, 32)])
def test_forward_shapes(in_shape):
    x = torch.rand(3, *in_shape, dtype=torch.float64)
    assert ConvNet(in_shape, 7)(x).shape == (3, 7)
    features = math.prod(in_shape)
    assert MLP([features, 5, 4])(x).shape == (3, 4)
    assert LogisticRegression(features, 10)(x.reshape(3, -1)).shape == (3, 10)
    assert ConvNet(in_shape, 7)(x).dtype == torch.float64


ACTIVATIONS = {"tanh": math.tanh, "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
               "softplus": lambda z: math.log1p(math.exp(z)), "identity": lambda z: z,
               "relu": lambda z: max(z, 0.0)}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_applies_the_xavier_scale_in_the_forward_pass(activation):
    """A 3-2-2 network by hand: weights (2, 3) and (2, 2), biases (2,): scales sqrt(2 / (2 + 3)),
    sqrt(2 / (2 + 2)) and sqrt(2 / (2 + 1))."""
    net = MLP([3, 2, 2], activation=activation, seed=11)
    w0, b0, w1, b1 = (p.detach().tolist() for p in net.parameters())
    act = ACTIVATIONS[activation]
    x = [0.3, -1.2, 0.8]
    h = [act(math.sqrt(2 / 5) * sum(w0[i][j] * x[j] for j in range(3)) + math.sqrt(2 / 3) * b0[i])
         for i in range(2)]
    out = [math.sqrt(2 / 4) * sum(w1[i][j] * h[j] for j in range(2)) + math.sqrt(2 / 3) * b1[i]
           for i in range(2)]
    got = net(torch.tensor([x], dtype=torch.float64))[0].tolist()
    assert got == pytest.approx(out, rel=1e-13, abs=1e-14)


def test_logistic_regression_by_hand():
    net = LogisticRegression(4, 3, seed=2)
    w, b = (p.detach() for p in net.parameters())
    x = torch.rand(5, 2, 2, dtype=torch.float64)
    expected = math.sqrt(2 / (3 + 4)) * x.reshape(5, 4) @ w.T + math.sqrt(2 / (3 + 1)) * b
    assert torch.allclose(net(x), expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 16, 16), (3, 32, 32)])
def test_convnet_equals_torch_layers_with_scaled_weights(in_shape):
    c_in, side = in_shape[0], in_shape[1]
    net = ConvNet(in_shape, 10, seed=4)
    padding = 1 if side == 8 else 0
    after = (((side + 2 * padding - 5) // 2 + 1) + 2 * padding - 5) // 2 + 1
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(c_in, 10, 5, stride=2, padding=padding), torch.nn.Tanh(),
        torch.nn.Conv2d(10, 10, 5, stride=2, padding=padding), torch.nn.Tanh(),
        torch.nn.Flatten(), torch.nn.Linear(10 * after * after, 10), torch.nn.Tanh(),
        torch.nn.Linear(10, 10)).double()
    scales = [math.sqrt(2 / (10 + c_in * 25)), math.sqrt(2 / (10 + 1)),
              math.sqrt(2 / (10 + 10 * 25)), math.sqrt(2 / (10 + 1)),
              math.sqrt(2 / (10 + 10 * after * after)), math.sqrt(2 / (10 + 1)),
              math.sqrt(2 / (10 + 10)), math.sqrt(2 / (10 + 1))]
    with torch.no_grad():
        for target, p, s in zip(reference.parameters(), net.parameters(), scales, strict=True):
            target.copy_(s * p)
    x = torch.rand(4, *in_shape, dtype=torch.float64)
    assert torch.allclose(net(x), reference(x), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("make, in_shape", [(lambda: ConvNet((1, 8, 8), 10), (1, 8, 8)),
                                            (lambda: MLP([64, 16, 10]), (64,)),
                                            (lambda: LogisticRegression(64, 10), (1, 8, 8))],
                         ids=["convnet", "mlp", "logistic"])
def test_vmap_of_functional_call_matches_the_batch(make, in_shape):
    net = make()
    params = {k: v.detach() for k, v in net.named_parameters()}
    x = torch.rand(6, *in_shape, dtype=torch.float64)
    y = torch.arange(6) % 10

    def logits(p, xi):
        return functional_call(net, p, (xi.unsqueeze(0),)).squeeze(0)

    per_sample = vmap(logits, in_dims=(None, 0))(params, x)
    assert (per_sample - net(x)).abs().max() < 1e-12

    def loss(p, xi, yi):
        return torch.nn.functional.cross_entropy(logits(p, xi).unsqueeze(0), yi.unsqueeze(0))

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    for i in range(6):
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x[i:i + 1]), y[i:i + 1]).backward()
        for name, p in net.named_parameters():
            assert (grads[name][i] - p.grad).abs().max() < 1e-12


@pytest.mark.parametrize("make, error", [
    (lambda: ConvNet("1,8,8", 10), InputTypeError),
    (lambda: ConvNet((1, 8), 10), ShapeError),
    (lambda: ConvNet((1, 0, 8), 10), RangeError),
    (lambda: ConvNet((1, 8.0, 8), 10), InputTypeError),
    (lambda: ConvNet((1, 8, 8), 10.0), InputTypeError),
    (lambda: ConvNet((1, 8, 8), True), InputTypeError),
    (lambda: ConvNet((1, 8, 8), 0), RangeError),
    (lambda: ConvNet((1, 8, 8), 10, channels=-1), RangeError),
    (lambda: ConvNet((1, 8, 8), 10, hidden="10"), InputTypeError),
    (lambda: ConvNet((1, 8, 8), 10, padding=-1), RangeError),
    (lambda: ConvNet((1, 8, 8), 10, padding=0), ShapeError),
    (lambda: ConvNet((1, 8, 8), 10, dtype=torch.int64), InputTypeError),
    (lambda: ConvNet((1, 8, 8), 10, dtype="float64"), InputTypeError),
    (lambda: ConvNet((1, 8, 8), 10, device="no-such-device"), BackendError),
    (lambda: MLP([5]), ShapeError),
    (lambda: MLP("53"), InputTypeError),
    (lambda: MLP(5), InputTypeError),
    (lambda: MLP([5, 0]), RangeError),
    (lambda: MLP([5, 3], activation="gelu"), MethodError),
    (lambda: MLP([5, 3], activation=torch.tanh), InputTypeError),
    (lambda: MLP([5, 3], dtype=torch.complex128), InputTypeError),
    (lambda: MLP([5, 3], seed=-1), RangeError),
    (lambda: MLP([5, 3], seed=2 ** 64), RangeError),
    (lambda: MLP([5, 3], seed="0"), InputTypeError),
    (lambda: MLP([5, 3], seed=1.0), InputTypeError),
    (lambda: LogisticRegression(0, 10), RangeError),
    (lambda: LogisticRegression(64, "10"), InputTypeError),
])
def test_bad_constructor_input_raises_typed_errors(make, error):
    with pytest.raises(error):
        make()


def test_bad_forward_input_raises_typed_errors():
    with pytest.raises(ShapeError, match="1, 8, 8"):
        ConvNet((1, 8, 8), 10)(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ShapeError):
        MLP([64, 10])(torch.zeros(2, 63))
    with pytest.raises(ShapeError):
        MLP([64, 10])(torch.zeros(64))
    with pytest.raises(InputTypeError):
        MLP([64, 10])([[0.0] * 64])
    with pytest.raises(RangeError):
        MLP([2, 2]).reset(-3)


@pytest.mark.parametrize("side, kernel, padding", [
    (s, k, p) for s in (1, 2, 3, 5, 8, 9) for k in (1, 2, 3, 5) for p in range(k // 2 + 1)
    if (s + 2 * p - k) // 2 + 1 > 0])
def test_dense_convolution_equals_conv2d_values_and_gradients(side, kernel, padding):
    # Every small geometry: the Toeplitz matrix against torch's convolution, forward and
    # backward, alone and under vmap over a batch of weights (the Monte Carlo's use).
    gen = torch.Generator().manual_seed(side * 100 + kernel * 10 + padding)
    x = torch.randn(3, 2, side, side + 1, dtype=torch.float64, generator=gen)
    w = torch.randn(4, 4, 2, kernel, kernel, dtype=torch.float64, generator=gen)
    b = torch.randn(4, 4, dtype=torch.float64, generator=gen)

    def conv(dense):
        return lambda wi, bi: _conv(x, wi, bi, padding, dense=dense)

    want, got = torch.func.vmap(conv(False))(w, b), torch.func.vmap(conv(True))(w, b)
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    grads = [torch.func.vmap(torch.func.grad(lambda wi, bi, d=d: conv(d)(wi, bi).sin().sum(),
                                             argnums=(0, 1)))(w, b) for d in (False, True)]
    for g_conv, g_dense in zip(*grads, strict=True):
        assert torch.allclose(g_dense, g_conv, rtol=1e-12, atol=1e-12)


def test_convnet_chooses_the_dense_form_only_on_small_inputs():
    # Inputs of at most 4 * 5 * 5 pixels are dense: 8x8 digits (then 3x3) both; 16x16 then
    # 6x6 only the second; 28x28 then 12x12 neither.
    assert ConvNet((1, 8, 8), 10)._dense == (True, True)
    assert ConvNet((1, 16, 16), 10)._dense == (False, True)
    assert ConvNet((1, 28, 28), 10)._dense == (False, False)
    assert ConvNet((3, 32, 32), 10)._dense == (False, False)
