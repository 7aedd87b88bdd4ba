"""`workbook bench`: every stage measured side by side on this machine, in one run.

One module per concern:
- config: where settings and results live, load_config, summary;
- wrk: the load generator (Lua request scripts, wrk's own CPU time, 127.0.0.1 only);
- cgroup: a container's CPU throttling and peak memory from its cgroup (v1 and v2);
- stack: a stage's Compose stack, web recreated per variant through an override file;
- figures: one stage's figures (start-up, image, builds, the loads measured apart);
- pairs: stage 04's variants in interleaved pairs, their proofs, the control pair;
- workers: the worker-count sweep; rollout: stage 05's rolling update;
- gates: the ratios and the gates of [thresholds]; run: the whole run;
- report: the results page of the docs.
"""

from .config import CONFIG_FILE, RESULTS_FILE, RESULTS_FORMAT, load_config, summary
from .figures import naive_dockerfile
from .gates import check, gates, ratios
from .rollout import _swarm_time
from .run import SECTIONS, measure_stage, run_benchmark, run_only
from .workers import GUNICORN_DEFAULT_WORKERS, measure_workers, worker_count

__all__ = ["CONFIG_FILE", "GUNICORN_DEFAULT_WORKERS", "RESULTS_FILE", "RESULTS_FORMAT", "SECTIONS",
           "_swarm_time", "check", "gates", "load_config", "measure_stage", "measure_workers",
           "naive_dockerfile", "ratios", "run_benchmark", "run_only", "summary", "worker_count"]
