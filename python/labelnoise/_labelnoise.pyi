"""Type stubs of the extension module (crates/labelnoise-py)."""

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = Union[npt.ArrayLike, Sequence[float], Sequence[Sequence[float]]]
PathLike = Union[str, "os.PathLike[str]"]
NetworkLike = Union["Network", PathLike]
Floats = npt.NDArray[np.float64]

class Network:
    @staticmethod
    def mlp(
        input_dim: int,
        hidden: Sequence[int],
        activation: str,
        *,
        skip: bool = False,
        output_bias: bool = False,
        seed: int = 0,
        init_scale: float = 1.0,
        output_init_scale: float = 1.0,
        freeze: Optional[Union[int, str, Sequence[Union[int, str]]]] = None,
    ) -> "Network": ...
    @staticmethod
    def load(path: PathLike, activation: Optional[str] = None) -> "Network": ...
    @staticmethod
    def from_layers(
        input_dim: int,
        layers: List[Tuple[ArrayLike, Optional[ArrayLike], str, bool]],
        skip: Optional[ArrayLike] = None,
        skip_trainable: bool = True,
    ) -> "Network": ...
    @staticmethod
    def from_json(text: str) -> "Network": ...
    def __call__(self, x: ArrayLike) -> Floats: ...
    @property
    def params(self) -> Floats: ...
    def with_params(self, theta: ArrayLike) -> "Network": ...
    def save(self, path: PathLike) -> None: ...
    def to_json(self) -> str: ...
    def describe(self) -> str: ...
    def to_torch(self, dtype: Any = None) -> Any: ...
    @property
    def input_dim(self) -> int: ...
    @property
    def hidden(self) -> List[int]: ...
    @property
    def param_count(self) -> int: ...
    @property
    def layers(self) -> List[Dict[str, Any]]: ...
    @property
    def skip(self) -> Optional[Floats]: ...
    def __eq__(self, other: object) -> bool: ...

class Analysis:
    def to_dict(self) -> Dict[str, Any]: ...
    model: str
    n: int
    params: int
    train_loss: float
    max_abs_residual: float
    reg: float
    reg_grad: Floats
    reg_grad_norm: float
    null_reg_grad: Floats
    null_reg_grad_norm: float
    jacobian_rank: int
    rank_tolerance: float
    singular_values: Floats
    gamma: Floats
    verdict: str
    nonsmooth: List[Dict[str, Any]]
    shape: Optional[Dict[str, Any]]
    shape_not_applicable: Optional[str]
    units: Optional[Dict[str, Any]]

class Settled:
    model: Network
    outcome: str
    outcome_detail: Dict[str, Any]
    reg: float
    start_reg: float
    iterations: int
    fitted_first: bool
    analysis: Analysis
    trace: Dict[str, Any]
    def to_dict(self) -> Dict[str, Any]: ...

class Run:
    model: Network
    initial_model: Network
    metrics: Dict[str, Floats]
    summary: Dict[str, Any]
    seed: int
    dir: Optional[str]

def load_data(spec: PathLike) -> Tuple[Floats, Floats]: ...
def analyze(
    net: NetworkLike,
    x: Union[ArrayLike, PathLike],
    y: Optional[ArrayLike] = None,
    *,
    fit_tol: Optional[float] = None,
    stationarity_tol: Optional[float] = None,
    jump_threshold: Optional[float] = None,
    kink_tol: Optional[float] = None,
    unit_tol: Optional[float] = None,
) -> Analysis: ...
def settle(
    net: NetworkLike,
    x: Union[ArrayLike, PathLike],
    y: Optional[ArrayLike] = None,
    *,
    max_iter: Optional[int] = None,
    fit_tol: Optional[float] = None,
    stationarity_tol: Optional[float] = None,
    active_set: bool = True,
    remedies: bool = False,
    out: Optional[PathLike] = None,
    force: bool = False,
) -> Settled: ...
def train(
    x: Union[ArrayLike, PathLike],
    y: Optional[ArrayLike] = None,
    *,
    lr: float,
    steps: Union[int, float],
    noise: float,
    hidden: Optional[Sequence[int]] = None,
    activation: Optional[str] = None,
    skip: bool = False,
    output_bias: bool = False,
    freeze: Optional[Union[int, str, Sequence[Union[int, str]]]] = None,
    noise_dist: str = "rademacher",
    batch: int = 1,
    two_copies: bool = False,
    copies: Optional[Sequence[float]] = None,
    explicit_reg: float = 0.0,
    explicit_reg_sampled: bool = False,
    init_scale: float = 1.0,
    output_init_scale: float = 1.0,
    net: Optional[NetworkLike] = None,
    seed: int = 0,
    seeds: int = 1,
    log_points: Optional[int] = None,
    checkpoint_every: Optional[Union[int, float]] = None,
    flush_threshold: Optional[float] = None,
    out: Optional[PathLike] = None,
    force: bool = False,
    progress: Optional[Callable[[int, int, int], Any]] = None,
    callback: Optional[Callable[[int, int, Dict[str, Any]], Any]] = None,
) -> List[Run]: ...
def reproduce(name: str, out: PathLike, *, quick: bool = False, force: bool = False) -> Dict[str, Any]: ...
def experiments() -> List[str]: ...
