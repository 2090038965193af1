"""Where a bake runs and in which number format: `device` (auto | cpu | cuda) and `dtype` (float32 | bfloat16),
set for a site (the plugin's `device` / `dtype` options, or EXPLORABLES_DEVICE / EXPLORABLES_DTYPE) or for one
block (the spec fields of the same names, which win).

The defaults, cpu and float32, are what every bake did before these settings existed: they add nothing to the
cache key, so existing entries stay valid and payloads keep their bytes. Any other setting is part of the key
(`Precision.key_part`), `auto` resolved first: a CUDA bake is never served to a CPU build as if it were its own.

Resolving `auto` must not import torch (a warm rebuild never does): it asks whether the installed torch was built
with CUDA (its version file) and whether the NVIDIA driver lists a GPU (`/proc/driver/nvidia/gpus`), and the bake,
which imports torch anyway, checks `torch.cuda.is_available()` before it runs (`require`).

Methods that take gradients (saliency, explanations) lose accuracy in bfloat16 (8 bits of mantissa: integrated
gradients' completeness gap grows by orders of magnitude); they still run, and the build log and the payload's
`precision.notes` say so (`notes`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from .methods.registry import Method
    from .spec import SpecBase

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16")
DEFAULT_DEVICE = "cpu"
DEFAULT_DTYPE = "float32"
ENV_DEVICE = "EXPLORABLES_DEVICE"
ENV_DTYPE = "EXPLORABLES_DTYPE"
SITE_SETTING = {"device": f"the site's device setting (plugin option 'device' in mkdocs.yml, {ENV_DEVICE}, or "
                          "--device)",
                "dtype": f"the site's dtype setting (plugin option 'dtype' in mkdocs.yml, {ENV_DTYPE}, or --dtype)"}


@dataclass(frozen=True)
class Precision:
    """A resolved setting: device 'cpu' or 'cuda', dtype 'float32' or 'bfloat16', and whether each came from the
    block ('spec') or the site ('site'), so that an error can name the setting to change."""

    device: str = DEFAULT_DEVICE
    dtype: str = DEFAULT_DTYPE
    device_from: str = "site"
    dtype_from: str = "site"

    @property
    def default(self) -> bool:
        return self.device == DEFAULT_DEVICE and self.dtype == DEFAULT_DTYPE

    def key_part(self) -> str | None:
        """What this setting adds to the cache key: None for the defaults (keys made before stay valid)."""
        return None if self.default else f"device={self.device};dtype={self.dtype}"

    def describe(self) -> dict:
        return {"device": self.device, "dtype": self.dtype}


def site_defaults(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """The site's (device, dtype): the plugin options when given, else the environment, else cpu and float32.
    Raises ValueError naming the setting for a value outside DEVICES / DTYPES."""
    device = device or os.environ.get(ENV_DEVICE) or DEFAULT_DEVICE
    dtype = dtype or os.environ.get(ENV_DTYPE) or DEFAULT_DTYPE
    if device not in DEVICES:
        raise ValueError(f"{SITE_SETTING['device']} is {device!r}: use one of {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise ValueError(f"{SITE_SETTING['dtype']} is {dtype!r}: use one of {', '.join(DTYPES)}")
    return device, dtype


def resolve(spec: "SpecBase", site_device: str = DEFAULT_DEVICE, site_dtype: str = DEFAULT_DTYPE) -> Precision:
    """The block's setting over the site's; `auto` becomes cuda when a GPU is present (without importing torch)."""
    device = getattr(spec, "device", None) or site_device
    dtype = getattr(spec, "dtype", None) or site_dtype
    if device == "auto":
        device = "cuda" if cuda_present() else "cpu"
    return Precision(device, dtype, "spec" if getattr(spec, "device", None) else "site",
                     "spec" if getattr(spec, "dtype", None) else "site")


def cuda_present() -> bool:
    """Whether this process can run on a CUDA GPU, answered without importing torch when it is not imported yet:
    torch built with CUDA (torch/version.py) and a GPU listed by the NVIDIA driver, not hidden by
    CUDA_VISIBLE_DEVICES."""
    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return torch_build()[1] is not None and gpus.is_dir() and any(gpus.iterdir())


def placed_error(spec: "SpecBase", precision: Precision, setting: str, message: str, hint: str):
    """A SpecError at the block's `device`/`dtype` field when the block set it, else at the block, naming the
    site's setting."""
    if getattr(precision, f"{setting}_from") == "spec":
        return spec.error(setting, message, hint=hint)
    from .errors import SpecError

    block = spec.error("model", message)     # placed at the block (its model line)
    return SpecError(f"{SITE_SETTING[setting]}: {message}", file=block.file, line=block.line, hint=hint)


def torch_build() -> tuple[str | None, str | None]:
    """(torch's version, the CUDA version it was built with, or None), without importing torch when it is not
    imported yet (its torch/version.py, read as text); (None, None) when torch is not installed."""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        return torch.__version__, torch.version.cuda
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    try:
        text = (Path(list(spec.submodule_search_locations)[0]) / "version.py").read_text()
    except OSError:
        return None, None
    version = re.search(r"^__version__\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
    built = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([0-9.]+)['\"]", text, re.M)
    return (version.group(1) if version else "(unknown version)"), (built.group(1) if built else None)


def check_device(spec: "SpecBase", precision: Precision) -> None:
    """CUDA asked for but absent is an error naming the setting (placed at the block's `device`, or at the block
    naming the site's setting). Without torch imported (`explorables check`, the bake's check before the load) the
    answer is `cuda_present`'s, read from files; once torch is imported, `torch.cuda.is_available()`'s. The two
    agree where there is no GPU or torch lacks CUDA; a GPU the driver lists that torch still cannot use passes the
    first and fails the second (`require`), with the same message."""
    if precision.device != "cuda" or cuda_present():
        return
    version, built = torch_build()
    why = ("" if built else f" (and torch {version} was built without CUDA)" if version else
           " (and torch is not installed)")
    raise placed_error(spec, precision, "device", "cuda was asked for, but this machine has no usable CUDA GPU" + why,
                       hint="set device: cpu (or auto: cuda where there is one, else cpu), or bake on a GPU machine "
                            "with `explorables bake` and build from that cache")


def require(spec: "SpecBase", precision: Precision) -> None:
    """Before a bake (torch imported, so `torch.cuda.is_available()` answers): `check_device`."""
    import torch  # noqa: F401 (imported: cuda_present asks torch itself)

    check_device(spec, precision)


def notes(precision: Precision, methods: Iterable["Method"]) -> list[str]:
    """Warnings for the log and the payload: a method that needs float32 accuracy, baked in bfloat16."""
    if precision.dtype == "float32":
        return []
    return [f"{method.name}: gradients taken in {precision.dtype} (8-bit mantissa): scores are approximate, and "
            "integrated gradients' completeness gap is far larger than in float32; bake with dtype: float32 for "
            "exact figures" for method in methods if method.needs.gradients]
