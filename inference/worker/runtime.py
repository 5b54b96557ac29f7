"""The process-global models of a model worker: loaded once, shared by its threads.

``get_runtime()`` returns the one :class:`Runtime` of this process, loading the active
profile's three roles on first use (thread-safe: concurrent callers wait for the single
load). The worker calls :func:`load_runtime` at start-up (see ``inference/worker/process.py``), so
tasks never pay the load and no task ever loads a model itself.

Swapping models while serving: ``load_runtime(warm=True)`` loads and warms a NEW runtime
while the old one keeps serving, then replaces it in one assignment. Tasks take
``get_runtime()`` once at their start and use that runtime to the end, and the batchers
group requests by the model objects themselves (``inference/worker/batching.py``), so a request
on the old models and one on the new never share a forward pass. The worker's release
watcher uses this when the demo build publishes its final models after the early
checkpoint.

Never call this in a process that will fork afterwards (torch and CUDA are not fork-safe);
the worker runs the threads or solo pool, so the process that loads is the one that serves.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from inference.contract import kinds, registry
from inference.worker.loading import (
    Loaded,
    ModelsMissing,
    choose_device,
    load_role,
    set_offline_env,
)

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    profile: str
    device: str
    roles: dict[str, Loaded] = field(default_factory=dict)
    # The demo build's release these models came from (``registry.demo_release()``, read
    # before the folders were loaded); None for the other profiles.
    release: dict | None = None

    @property
    def release_id(self) -> str | None:
        return (self.release or {}).get("id")

    @property
    def bert(self) -> Loaded:
        return self.roles["bert"]

    @property
    def gpt(self) -> Loaded:
        return self.roles["gpt"]

    @property
    def encoder(self) -> Loaded:
        return self.roles["encoder"]

    def models_info(self) -> dict[str, dict]:
        """For the heartbeat: ``{role: {"name", "parameters", "device", "dtype"}}``."""
        return {
            role: {key: loaded.info[key] for key in ("name", "parameters", "device", "dtype")}
            for role, loaded in self.roles.items()
        }

    def warm_up(self) -> None:
        """Run each kind's tiny warm-up input (its row in ``kinds``) through its runner, alone
        (first calls allocate and compile kernels), and one sentence through the encoder."""
        from inference.worker.engine import embeddings  # torch
        from inference.worker.runners import Job

        for kind in kinds.all_kinds():
            if kind.warm_up is not None:
                kind.runner()(self, dict(kind.warm_up), Job(batch=False))
        embeddings.sentence_embeddings_batch(self.encoder, ["warm up"])


_runtime: Runtime | None = None
_lock = threading.RLock()  # re-entrant: get_runtime() loads while holding it


def load_runtime(
    *, profile: str | None = None, device: str | None = None, warm: bool = False
) -> Runtime:
    """Load the profile's models into this process (replacing any loaded before).

    With ``warm`` the new runtime is warmed up (:meth:`Runtime.warm_up`) before it replaces
    the current one, so tasks keep getting the old runtime until the new one is ready. A
    load or warm-up that fails raises and leaves the current runtime in place.
    """
    global _runtime
    set_offline_env()
    with _lock:
        profile = profile or registry.active_profile_name()
        # Read before the folders: a publish that lands during the load shows up as a newer
        # release on the next check, never as an older one.
        release = registry.demo_release() if profile == "demo" else None
        specs = registry.profile_specs(profile)
        missing = registry.missing_specs(specs)
        if missing:
            folders = ", ".join(str(spec.path) for spec in missing)
            raise ModelsMissing(f"The {profile} profile's models are missing: {folders}")
        device = device or choose_device()
        roles = {
            role: load_role(spec, device=device, profile=profile) for role, spec in specs.items()
        }
        loaded = Runtime(profile=profile, device=device, roles=roles, release=release)
        if warm:
            loaded.warm_up()
        _runtime = loaded
        return loaded


def get_runtime() -> Runtime:
    """This process's runtime, loaded on first use."""
    runtime = _runtime
    if runtime is not None:
        return runtime
    with _lock:
        if _runtime is not None:
            return _runtime
        return load_runtime()


def is_loaded() -> bool:
    return _runtime is not None


def current_runtime() -> Runtime | None:
    """The runtime loaded in this process, without loading one."""
    return _runtime


def reset_runtime() -> None:
    """Forget the loaded models (tests)."""
    global _runtime
    with _lock:
        _runtime = None
