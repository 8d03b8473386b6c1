"""Vertex AI Training machines and GPUs: which accelerator (as Vertex spells it) fits which machine
type, in which counts. `check_machine` turns a bad `vertex.training.*` block into a ConfigError
before anything is compiled (Vertex would reject the job only when the step starts).

Sources: Vertex AI "Configure compute resources for custom training" (GPU table) and Compute
Engine's GPU machine types. N1 machines take the older GPUs attached in 1/2/4(/8) counts; the
accelerator-optimized families (A2, A3, G2) come with a fixed GPU type and count per machine.
TPUs are not offered: the Trainer's strategies are for GPUs and CPUs (modules/distribution.py).
"""
from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

from pipeline.config.errors import ConfigError

# GPUs attachable to N1 machines: accelerator -> allowed counts per replica.
N1_GPUS: Dict[str, Tuple[int, ...]] = {
    "NVIDIA_TESLA_T4": (1, 2, 4),
    "NVIDIA_TESLA_V100": (1, 2, 4, 8),
    "NVIDIA_TESLA_P100": (1, 2, 4),
    "NVIDIA_TESLA_P4": (1, 2, 4),
}

# Accelerator-optimized machines: exact machine type -> (accelerator, count).
FIXED_GPU_MACHINES: Dict[str, Tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": ("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    "a3-highgpu-8g": ("NVIDIA_H100_80GB", 8),
    **{f"g2-standard-{n}": ("NVIDIA_L4", 1) for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("NVIDIA_L4", 2),
    "g2-standard-48": ("NVIDIA_L4", 4),
    "g2-standard-96": ("NVIDIA_L4", 8),
}

ACCELERATORS = tuple(sorted({*N1_GPUS, *(a for a, _ in FIXED_GPU_MACHINES.values())}))
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")


def check_machine(key: str, machine_type: str, accelerator_type: str, accelerator_count: int,
                  replica_count: int, max_replicas: Optional[int] = None) -> None:
    """ConfigError naming `key` (e.g. vertex.training.trainer) for a combination Vertex AI
    Training rejects. machine_type '' means 'not on Vertex AI Training': then nothing else may be
    set."""
    if not machine_type:
        if accelerator_type or accelerator_count:
            raise ConfigError(f"{key}.machine_type: empty, but {key}.accelerator_type / "
                              f"accelerator_count are set; name the machine the GPU attaches "
                              f"to (e.g. n1-standard-8 with NVIDIA_TESLA_T4)")
        if replica_count != 1:
            raise ConfigError(f"{key}.replica_count: {replica_count} needs {key}.machine_type")
        return
    if not _MACHINE_TYPE.match(machine_type):
        raise ConfigError(f"{key}.machine_type: {machine_type!r} is not a Compute Engine machine "
                          f"type (e.g. n1-standard-8, g2-standard-8, a2-highgpu-1g)")
    if replica_count < 1:
        raise ConfigError(f"{key}.replica_count: expected >= 1, got {replica_count}")
    if max_replicas is not None and replica_count > max_replicas:
        raise ConfigError(f"{key}.replica_count: expected {max_replicas}, got {replica_count} "
                          f"(the Tuner's block is per trial; run trials in parallel with "
                          f"tuner.parallel_trials)")
    if accelerator_count < 0:
        raise ConfigError(f"{key}.accelerator_count: expected >= 0, got {accelerator_count}")
    if accelerator_type and accelerator_type not in ACCELERATORS:
        raise ConfigError(f"{key}.accelerator_type: unknown accelerator {accelerator_type!r} "
                          f"(known: {', '.join(ACCELERATORS)}; spelled as Vertex AI does)")
    if accelerator_type and accelerator_count == 0:
        raise ConfigError(f"{key}.accelerator_count: 0 with accelerator_type "
                          f"{accelerator_type}; expected the GPUs per replica (e.g. 1)")
    if accelerator_count and not accelerator_type:
        raise ConfigError(f"{key}.accelerator_type: empty with accelerator_count "
                          f"{accelerator_count}; name the GPU (e.g. NVIDIA_TESLA_T4)")
    fixed = FIXED_GPU_MACHINES.get(machine_type)
    family = machine_type.split("-")[0]
    if fixed is not None:
        gpu, count = fixed
        if (accelerator_type, accelerator_count) != (gpu, count):
            raise ConfigError(f"{key}: machine_type {machine_type} comes with {count} x {gpu}; "
                              f"set accelerator_type: {gpu} and accelerator_count: {count} (got "
                              f"{accelerator_type or 'none'} x {accelerator_count})")
        return
    if family in ("a2", "a3", "g2"):
        raise ConfigError(f"{key}.machine_type: {machine_type} is not a known GPU machine of the "
                          f"{family.upper()} family (known: "
                          f"{', '.join(m for m in FIXED_GPU_MACHINES if m.startswith(family))})")
    if not accelerator_type:
        return  # a CPU machine
    if family != "n1":
        raise ConfigError(f"{key}: {accelerator_type} attaches to N1 machines only, not "
                          f"{machine_type} (e.g. n1-standard-8)"
                          if accelerator_type in N1_GPUS else
                          f"{key}: {accelerator_type} comes with its own machine family, not "
                          f"{machine_type} (e.g. "
                          f"{next(m for m, (a, _) in FIXED_GPU_MACHINES.items() if a == accelerator_type)})")
    if accelerator_type not in N1_GPUS:
        raise ConfigError(f"{key}: {accelerator_type} does not attach to N1 machines such as "
                          f"{machine_type}; use "
                          f"{next(m for m, (a, _) in FIXED_GPU_MACHINES.items() if a == accelerator_type)}")
    if accelerator_count not in N1_GPUS[accelerator_type]:
        raise ConfigError(f"{key}.accelerator_count: {accelerator_type} attaches in counts of "
                          f"{', '.join(map(str, N1_GPUS[accelerator_type]))} per machine, got "
                          f"{accelerator_count}")
