"""Reading the networks that dlib's ``serialize()`` writes: the face ResNet's and MMOD detector's files.

dlib's serialization (``dlib/serialize.h``): an integer is a control byte
(low 4 bits: byte count, bit 7: negative) then that many little-endian bytes;
a float is two integers, mantissa then exponent (value = mantissa * 2^exponent);
a bool is the character '1' or '0'; a string is its length then its bytes;
a tensor is version 2, four sizes (n, k, rows, cols) then raw little-endian
float32 data. A network is written from the loss layer inwards: each
``add_layer`` writes its version, then its whole sub-network, then its own
layer (a name such as ``con_6`` and the layer's fields) and cached buffers;
tags and skips write only a version and their sub-network.

`parse_dlib_network` walks the nesting of dlib's face-recognition
``anet_type`` (see `pipeline.faces.resnet`) and returns its layers input
first, each checked against what the network must hold;
`pipeline.faces.mmod_format` reads the CNN face detector's file with the same
reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from pipeline.errors import ModelFileError

T = TypeVar("T")

CHIP_SIZE = 150

# The network's levels, input side first: (channels, blocks, first block downsamples).
LEVELS: tuple[tuple[int, int, bool], ...] = (
    (32, 3, False),
    (64, 4, True),
    (128, 3, True),
    (256, 3, True),
    (256, 1, True),
)


class DlibFormatError(ValueError):
    """The bytes are not the dlib network this module expects (the message says where)."""


# ---------------------------------------------------------------- dlib's serialization


class Reader:
    """Reads dlib's serialized values from a byte buffer, front to back."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, size: int) -> memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise DlibFormatError(f"the file ends early (wanted {size} bytes at byte {self.pos})")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def integer(self) -> int:
        """A signed or unsigned integer: control byte, then up to 8 little-endian bytes."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise DlibFormatError(f"bad integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def floating(self) -> float:
        """A float or double: mantissa and exponent integers (special exponents: inf, -inf, nan)."""
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise DlibFormatError(f"old text-format number at byte {self.pos}")
        mantissa, exponent = self.integer(), self.integer()
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent == 32002:
            return float("nan")
        return float(np.ldexp(float(mantissa), exponent))

    def boolean(self) -> bool:
        ch = bytes(self._take(1))
        if ch not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {ch!r} at byte {self.pos - 1}")
        return ch == b"1"

    def string(self) -> str:
        size = self.integer()
        if size > 256:
            raise DlibFormatError(f"implausible string length {size} at byte {self.pos}")
        return bytes(self._take(size)).decode("ascii", errors="replace")

    def version(self, expected: int, what: str) -> int:
        found = self.integer()
        if found != expected:
            raise DlibFormatError(f"{what}: version {found}, expected {expected}")
        return found

    def tensor(self) -> np.ndarray:
        """A ``resizable_tensor``: [n, k, rows, cols] little-endian float32."""
        self.version(2, "tensor")
        shape = tuple(self.integer() for _ in range(4))
        if any(s < 0 for s in shape):
            raise DlibFormatError(f"negative tensor size {shape}")
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        # A read-only view into the file's bytes: the weights are copied once, into the network.
        return np.frombuffer(raw, dtype="<f4").reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor``: only the shape of a view into a layer's parameters."""
        self.version(1, "alias_tensor")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


@dataclass
class DlibLayer:
    """One computational layer read from the file.

    Attributes:
        kind (str): ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``,
            ``add_prev``, ``fc`` or ``input``.
        arrays (dict[str, np.ndarray]): weights (``weight``, ``bias``, ``gamma``,
            ``beta``, ``means``).
        config (dict[str, int | float | bool]): sizes, strides, paddings, flags.
    """

    kind: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    config: dict[str, int | float | bool] = field(default_factory=dict)


class LayerTaker:
    """Hands out a parsed file's layers in order, each checked to be of the kind asked for
    (how the ported networks take their weights, one layer at a time)."""

    def __init__(self, layers: list[DlibLayer]) -> None:
        self._it = iter(layers)

    def __call__(self, kind: str) -> DlibLayer:
        layer = next(self._it, None)
        if layer is None or layer.kind != kind:
            raise DlibFormatError(f"expected a {kind} layer, found {layer and layer.kind}")
        return layer

    def finish(self) -> None:
        """Check that every layer was taken."""
        if next(self._it, None) is not None:
            raise DlibFormatError("more layers than the network has")


def _forward_plan() -> list[str]:
    """The network's nodes in forward order, as dlib nests its templates (``anet_type``).

    Layers are named by kind; ``tagN``/``skipN`` are dlib's structural nodes.
    """
    plan = ["input", "con", "affine", "relu", "max_pool"]
    for _, blocks, down in LEVELS:
        for b in range(blocks):
            plan += ["tag1", "con", "affine", "relu", "con", "affine"]
            if b == 0 and down:
                plan += ["tag2", "skip1", "avg_pool", "add_prev"]
            else:
                plan += ["add_prev"]
            plan += ["relu"]
    plan += ["avg_pool", "fc"]
    return plan


def _read_window(r: Reader) -> dict[str, int]:
    return {
        "nr": r.integer(),
        "nc": r.integer(),
        "stride_y": r.integer(),
        "stride_x": r.integer(),
        "pad_y": r.integer(),
        "pad_x": r.integer(),
    }


def _read_con(r: Reader, version: str) -> DlibLayer:
    if version not in ("con_4", "con_5", "con_6"):
        raise DlibFormatError(f"unknown convolution version {version!r}")
    params = r.tensor().ravel()
    filters = r.integer()
    window = _read_window(r)
    shape = r.alias()
    bias_shape = r.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.floating()
    use_bias = r.boolean() if version in ("con_5", "con_6") else True
    use_relu = r.boolean() if version == "con_6" else False
    size = int(np.prod(shape))
    if shape[0] != filters or params.size != size + (filters if use_bias else 0):
        raise DlibFormatError(
            f"convolution of {filters} filters {shape} holds {params.size} values"
        )
    arrays = {"weight": params[:size].reshape(shape)}
    if use_bias:
        if int(np.prod(bias_shape)) != filters:
            raise DlibFormatError(f"convolution bias {bias_shape} for {filters} filters")
        arrays["bias"] = params[size:]
    return DlibLayer("con", arrays, {"filters": filters, "relu": use_relu, **window})


def _read_affine(r: Reader, version: str) -> DlibLayer:
    if version == "bn_con2":
        # A batch-norm layer saved from training: dlib turns it into an affine
        # layer with gamma / sqrt(var + eps) and beta - mean * that.
        params = r.tensor().ravel()
        gamma_shape, _beta_shape = r.alias(), r.alias()
        for _ in range(2):  # batch means and inverse deviations of the last step
            r.tensor()
        running_means, running_vars = r.tensor().ravel(), r.tensor().ravel()
        r.integer(), r.integer()  # updates counted, running window
        for _ in range(4):
            r.floating()
        eps = r.floating()
        n = int(np.prod(gamma_shape))
        gamma = (params[:n] / np.sqrt(running_vars + np.float32(eps))).astype(np.float32)
        beta = (params[n : 2 * n] - gamma * running_means).astype(np.float32)
        return DlibLayer("affine", {"gamma": gamma, "beta": beta})
    if version not in ("affine_", "affine_2"):
        raise DlibFormatError(f"unknown affine version {version!r}")
    params = r.tensor().ravel()
    gamma_shape, beta_shape = r.alias(), r.alias()
    mode = r.integer()
    disabled = r.boolean() if version == "affine_2" else False
    n = int(np.prod(gamma_shape))
    if mode != 0 or disabled or params.size != n + int(np.prod(beta_shape)):
        # mode 0 is dlib's CONV_MODE: one scale and shift per channel.
        raise DlibFormatError(
            f"affine layer mode {mode}, disabled {disabled}, {params.size} values"
        )
    return DlibLayer("affine", {"gamma": params[:n], "beta": params[n:]})


def _read_details(r: Reader, expected: str) -> DlibLayer:
    """One layer's own fields; its name in the file must match what the plan expects."""
    version = r.string()
    if expected == "con":
        return _read_con(r, version)
    if expected == "affine":
        return _read_affine(r, version)
    if expected == "relu":
        if version not in ("relu_", "relu_2"):
            raise DlibFormatError(f"expected a relu layer, found {version!r}")
        if version == "relu_2" and r.boolean():
            raise DlibFormatError("a relu layer is disabled")
        return DlibLayer("relu")
    if expected in ("max_pool", "avg_pool"):
        if version != f"{expected}_2":
            raise DlibFormatError(f"expected a {expected} layer, found {version!r}")
        return DlibLayer(expected, config=_read_window(r))
    if expected == "add_prev":
        if version != "add_prev_":
            raise DlibFormatError(f"expected add_prev, found {version!r}")
        return DlibLayer("add_prev")
    if expected == "fc":
        if version not in ("fc_2", "fc_3"):
            raise DlibFormatError(f"expected a fully connected layer, found {version!r}")
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().ravel()
        weights, _biases = r.alias(), r.alias()
        bias_mode = r.integer()
        for _ in range(4):
            r.floating()
        use_bias = r.boolean() if version == "fc_3" else True
        if (
            bias_mode != 1
            or (weights[0], weights[1]) != (inputs, outputs)
            or params.size != inputs * outputs
        ):
            # bias mode 1 is FC_NO_BIAS; the weights are [inputs, outputs] (y = x W).
            raise DlibFormatError(f"fc layer {inputs}->{outputs} mode {bias_mode} bias {use_bias}")
        return DlibLayer("fc", {"weight": params.reshape(inputs, outputs)}, {"outputs": outputs})
    raise AssertionError(expected)


def _read_input(r: Reader) -> DlibLayer:
    version = r.string()
    if version != "input_rgb_image_sized":
        raise DlibFormatError(f"expected input_rgb_image_sized, found {version!r}")
    means = np.array([r.floating(), r.floating(), r.floating()], np.float32)
    rows, cols = r.integer(), r.integer()
    if (rows, cols) != (CHIP_SIZE, CHIP_SIZE):
        raise DlibFormatError(f"input of {rows}x{cols}, expected {CHIP_SIZE}x{CHIP_SIZE}")
    return DlibLayer("input", {"means": means})


def _skip_buffers(r: Reader, version: int, on_input: bool) -> None:
    """The cached state an ``add_layer`` writes after its layer (flags and empty gradients)."""
    for _ in range(3):
        r.boolean()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    if on_input:
        r.tensor()  # grad_final
        if version >= 3:
            r.integer()  # sample expansion factor
    elif version == 2:
        r.tensor()  # params_grad


def read_chain(
    r: Reader, plan: list[str], read_input: Callable[[Reader], DlibLayer]
) -> list[DlibLayer]:
    """The layers of a network nested as `plan` (input first), read after its loss layer."""
    # Headers come outermost first: each add_layer's version, tags' and skips' version 1.
    versions: list[int | None] = [None] * len(plan)
    for i in range(len(plan) - 1, 0, -1):
        node = plan[i]
        if node.startswith(("tag", "skip")):
            r.version(1, node)
        else:
            versions[i] = r.integer()
            allowed = (2, 3) if i == 1 else (1, 2)
            if versions[i] not in allowed:
                raise DlibFormatError(f"layer {i} ({node}): add_layer version {versions[i]}")
    layers = [read_input(r)]
    # Then each layer's own fields, innermost (input side) first.
    for i in range(1, len(plan)):
        node = plan[i]
        if node.startswith(("tag", "skip")):
            continue
        layers.append(_read_details(r, node))
        _skip_buffers(r, int(versions[i] or 0), on_input=i == 1)
    if r.pos != len(r.data):
        raise DlibFormatError(f"{len(r.data) - r.pos} bytes left over after the network")
    return layers


def parse_dlib_network(data: bytes) -> list[DlibLayer]:
    """The layers of dlib's face-recognition ``anet_type`` from its serialized bytes, input first.

    Raises:
        DlibFormatError: the bytes are not that network (truncated, another
            network, an unknown layer version); the message says what was found.
    """
    r = Reader(data)
    r.version(1, "loss layer")
    loss = r.string()
    if loss == "loss_metric_2":
        r.floating(), r.floating()  # margin, distance threshold (training only)
    elif loss != "loss_metric_":
        raise DlibFormatError(f"expected the metric loss, found {loss!r}")
    return read_chain(r, _forward_plan(), _read_input)


def read_model_file(path: Path, what: str, parse: Callable[[bytes], T]) -> T:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            path, f"cannot read {path} ({exc.strerror or exc}); reinstall face_recognition_models."
        ) from exc
    try:
        return parse(data)
    except DlibFormatError as exc:
        raise ModelFileError(
            path,
            f"{path} is not {what} ({exc}); the file is damaged: "
            "reinstall face_recognition_models (pip install --force-reinstall face_recognition_models).",
        ) from exc


def read_dlib_network(path: str | Path) -> list[DlibLayer]:
    """`parse_dlib_network` of a file; errors name the file and say to reinstall its package.

    Raises:
        ModelFileError: the file is missing, unreadable or not dlib's face ResNet.
    """
    return read_model_file(Path(path), "dlib's face recognition ResNet", parse_dlib_network)
