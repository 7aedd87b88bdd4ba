"""The workbook's command line: `workbook doctor | images | start | stop | notebooks | bench |
cis | cleanup | translations` (`workbook COMMAND --help` for each)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import REPO_ROOT, docs_server, doctor, images, stages
from .bench.config import RESULTS_FILE
from .cis import RECORD_FILE as CIS_RECORD_FILE
from .docker import docker, remove_leftovers
from .errors import WorkbookError

# `make start` runs the most advanced finished stage under this compose project name.
START_PROJECT = "workbook"
DOCS_PORT = 8001


def cmd_doctor(args) -> int:
    results = doctor.checks()
    for check in results:
        print(check.line())
    return 0 if all(check.ok for check in results) else 1


def cmd_images(args) -> int:
    for image in images.OFFICIAL_IMAGES:
        if args.check:
            print(f"{image.ref:<26} {images.status(image)}")
        else:
            print(f"{image.ref:<26} {images.ensure(image, log=lambda m: print(m, flush=True))}", flush=True)
    return 0


def cmd_start(args) -> int:
    stage = stages.latest()
    docker("info")  # with no engine, one clear line before anything is written into the stage
    for line in stages.prepare(stage):
        print(line)
    print(f"starting {stage.name} (compose project '{args.project}') ...", flush=True)
    docker("compose", "--project-name", args.project, "up", "--build", "--detach", "--wait",
           cwd=stage, timeout=900)
    app_url = stages.entry_url(docker("compose", "--project-name", args.project, "ps", "--format",
                                      "json", cwd=stage).stdout)
    docs_url = docs_server.start(args.docs_port)
    print(f"app:  {app_url}/   ({stage.name})")
    print(f"docs: {docs_url}   (stop both with 'make stop')")
    return 0


def cmd_stop(args) -> int:
    docker("compose", "--project-name", args.project, "down", "--remove-orphans", cwd=stages.latest())
    print(f"stopped compose project '{args.project}' (its volumes are kept)")
    print("stopped the docs server" if docs_server.stop(args.docs_port) else "no docs server was running")
    return 0


def cmd_cleanup(args) -> int:
    removed = remove_leftovers()
    print("nothing to remove" if not removed else
          "removed " + "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in removed.items()))
    return 0


def cmd_translations(args) -> int:
    """Stamp the named translations, or list every page's translation state."""
    from . import translations
    if args.notebooks:
        missing = {stage: translations.untranslated_cells(stage) for stage in stages.names()}
        for stage, cells in missing.items():
            if cells:
                translations.notebook_template(stage)
                print(f"notebooks/zh/{stage}.json: {len(cells)} cell(s) without Chinese (added with an "
                      "empty \"zh\": fill them in, then run this again)")
        if any(missing.values()):
            return 1
        for path in translations.write_chinese_notebooks(stages.names()):
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    if args.stamp:
        for name in args.stamp:
            path = Path(name).resolve()
            if path == translations.README_ZH:
                translations.stamp_readme()
            else:
                translations.stamp(path)
            print(f"stamped {name}")
        return 0
    states = {str(page.relative_to(translations.DOCS_DIR)): translations.state(page)
              for page in translations.english_pages()}
    states["README.md (README.zh-CN.md)"] = translations.readme_state()
    for page, state in states.items():
        print(f"{state:8} {page}")
    return 0 if all(state == "current" for state in states.values()) else 1


def cmd_notebooks(args) -> int:
    """JupyterLab on 127.0.0.1 only, in notebooks/, with this venv's Python as the kernel; or, with
    --record, every notebook run and written with its outputs for the docs site."""
    if args.record:
        from . import notebooks, translations

        for path in notebooks.record(stages.names()):
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        # The Chinese notebooks: the new recording with the prose of notebooks/zh/.
        for stage in stages.names():
            if translations.untranslated_cells(stage):
                print(f"not written: docs/notebooks/{stage}.zh.ipynb (cells without Chinese in "
                      f"notebooks/zh/{stage}.json: `workbook translations --notebooks` lists them)")
                continue
            for path in translations.write_chinese_notebooks([stage]):
                print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={args.port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={REPO_ROOT / 'notebooks'}"]
    if args.token is not None:
        command.append(f"--IdentityProvider.token={args.token}")
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    os.execv(command[0], command)


def cmd_bench(args) -> int:
    from . import bench

    started = time.monotonic()

    def progress(stage: str, step: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {stage}: {step}", flush=True)

    mode = "quick" if args.quick else "full"
    overrides = {key: value for key in ("load_seconds", "repetitions")
                 if (value := getattr(args, key)) is not None}
    if args.only:
        results = bench.run_only(args.only, mode, Path(args.output), progress, overrides)
        print(f"\nmerged the {args.only} section into {args.output} ({mode}, "
              f"{results[args.only]['seconds']:.0f} s)")
    else:
        results = bench.run_benchmark(mode, Path(args.output), progress, overrides)
        print(f"\nwrote {args.output} ({mode}, {results['meta']['seconds']:.0f} s)")
        for stage, figures in results["stages"].items():
            print(f"  {stage}: " + ", ".join(f"{name} {load['rps']['median']:.0f} req/s"
                                             for name, load in figures["loads"].items()))
        for name, value in results["ratios"].items():
            print(f"  {name:<50} {value:8.3g}")
    if "rollout" in results:
        rollout = results["rollout"]
        for r in rollout["rollouts"]:
            print(f"  {rollout['stage']}: rolled out {r['release']} in {r['update_seconds']:.1f} s "
                  f"under load, {r['requests']} requests, {r['errors']} failed")
    if "workers" in results:
        sweep = results["workers"]
        print(f"\n  {sweep['stage']} with {sweep['cores']} cores (default {sweep['default']} = "
              f"{sweep['default_workers']} workers):")
        for point in sweep["points"]:
            memory = point["memory_mib"].get("web") or point["memory_mib"].get("web-1")
            print(f"  {point['workers']:>3} workers  {point['rps']['median']:8.1f} req/s  "
                  f"p50 {point['p50_ms']['median']:7.1f} ms  p99 {point['p99_ms']['median']:7.1f} ms  "
                  f"{point['errors']} failed  web {memory['median'] if memory else 0:6.1f} MiB")
    if args.check:
        failures = bench.check(results, bench.load_config(mode)[1], only=args.only)
        for failure in failures:
            print(f"gate failed: {failure}", file=sys.stderr)
        return 1 if failures else 0
    return 0


def cmd_cis(args) -> int:
    from . import cis

    result = cis.record(output=Path(args.output))
    outcomes = [o for stage in result["stages"].values() for o in stage["outcomes"].values()]
    print(f"wrote {args.output}: {outcomes.count('passed')} of {len(outcomes)} CIS tests passed")
    return 0 if outcomes.count("passed") == len(outcomes) else 1


# The sections of the full run that `workbook bench --only` runs alone (bench.SECTIONS; named
# here so that the parser does not import the benchmark).
BENCH_SECTIONS = ["workers", "rollout", "faults", "cluster", "buildcache", "firstrun"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="report engine, Buildx, Compose, disk and image status"
                   ).set_defaults(func=cmd_doctor)
    p = sub.add_parser("images", help="make every official image the stages use available "
                       "(pull it, or build an offline stand-in)")
    p.add_argument("--check", action="store_true", help="only report each image's status")
    p.set_defaults(func=cmd_images)
    p = sub.add_parser("start", help="build and run the most advanced stage")
    p.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", help="stop what 'start' started")
    stop.set_defaults(func=cmd_stop)
    for command in (p, stop):
        command.add_argument("--project", default=START_PROJECT, help="compose project name")
        command.add_argument("--docs-port", type=int, default=DOCS_PORT)
    p = sub.add_parser("notebooks", help="JupyterLab on 127.0.0.1 with the workbook's kernel")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--token", help="access token (default: JupyterLab makes one and prints it)")
    p.add_argument("--record", action="store_true", help="instead: run every notebook and write it "
                   "with its outputs to docs/notebooks/ for the site")
    p.set_defaults(func=cmd_notebooks)
    p = sub.add_parser("bench", help="measure every stage side by side (see bench/config.toml)")
    p.add_argument("--quick", action="store_true", help="the short run of the test suite")
    p.add_argument("--output", default=str(RESULTS_FILE))
    p.add_argument("--check", action="store_true", help="fail when a gate of [thresholds] is missed "
                   "(each failure names the figure, its value and the limit)")
    p.add_argument("--only", choices=BENCH_SECTIONS,
                   help="run only the worker sweep, the rolling update, the fault matrix, one node "
                   "against three, pip's cache mount or a reader's first run, and merge "
                   "it into the existing --output file, keeping its other sections")
    p.add_argument("--load-seconds", type=int, help="override load_seconds of the config "
                   "(a trial of the method; the results record the value used)")
    p.add_argument("--repetitions", type=int, help="override repetitions of the config")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("cis", help="run the hardened stages' CIS tests and record their outcomes "
                       "for the docs' CIS tables")
    p.add_argument("--output", default=str(CIS_RECORD_FILE))
    p.set_defaults(func=cmd_cis)
    sub.add_parser("cleanup", help="remove containers, networks and volumes that tests left behind"
                   ).set_defaults(func=cmd_cleanup)
    p = sub.add_parser("translations", help="list each docs page's Chinese translation: current, "
                       "stale (its English page changed) or missing")
    p.add_argument("--stamp", nargs="+", metavar="PAGE.zh.md",  # or README.zh-CN.md
                   help="record that these translations match their English pages as they are now")
    p.add_argument("--notebooks", action="store_true",
                   help="instead: write the Chinese notebooks of the site (docs/notebooks/*.zh.ipynb) from "
                   "the recorded ones and notebooks/zh/*.json, or list the cells still without Chinese")
    p.set_defaults(func=cmd_translations)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except WorkbookError as error:
        print(f"workbook {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"workbook {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
