"""`zhclip doctor [--json]`: what this machine offers and what zhclip will use."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor", help="this machine: CPU features, threads, GPU/MPS, runtimes, extras, caches, hub access"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-hub-check", action="store_true", help="do not send the one request that checks the hub")
    p.set_defaults(handler=doctor)


def doctor(args: argparse.Namespace) -> int:
    from ..doctor import diagnose

    report = diagnose(check_hub=not args.no_hub_check)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else "\n".join(format_report(report)))
    return 1 if report["problems"] else 0


def format_report(r: dict) -> list[str]:
    cpu, torch = r["cpu"], r["torch"]
    features = cpu["features"]
    lines = [
        f"zhclip {r['zhclip']}, Python {r['python']}, {r['platform']}",
        f"cpu        {cpu['model']} ({cpu['machine']}), {cpu['logical_cpus']} logical CPUs, "
        f"{cpu['usable_cpus']} usable",
        "features   "
        + (" ".join(f for f, has in features.items() if has) or "none of interest")
        + (f"  (not: {' '.join(f for f, has in features.items() if not has)})" if not all(features.values()) else ""),
    ]
    if "error" in torch:
        lines.append(f"torch      {torch['version'] or 'not installed'}: {torch['error']}")
    else:
        env = ", ".join(f"{k}={v}" for k, v in torch["thread_env"].items()) or "OMP_NUM_THREADS unset"
        cuda = ", ".join(torch["cuda"]["devices"]) or f"not available (build: {torch['cuda']['build'] or 'CPU only'})"
        lines += [
            f"torch      {torch['version']}, kernels {torch['cpu_capability']}",
            f"threads    {torch['threads']} intra-op, {torch['interop_threads']} inter-op ({env})",
            f"gpu        CUDA: {cuda}; MPS: {'available' if torch['mps']['available'] else torch['mps']['detail']}",
            f"auto       device {torch['auto_device']} (precisions {', '.join(torch['auto_device_precisions'])})",
        ]
    lines += _runtime_lines(r) + _cache_lines(r) + _auto_lines(r) + [_hub_line(r["hub"])]
    lines += [f"problem    {p}" for p in r["problems"]] or ["problems   none"]
    return lines


def _runtime_lines(r: dict) -> list[str]:
    ort, ov = r["runtimes"]["onnxruntime"], r["runtimes"]["openvino"]
    extras = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in r["extras"].items())
    return [
        "runtimes   onnxruntime " + (f"{ort['version']} ({', '.join(ort['providers'])})" if ort else "not installed"),
        "           openvino " + (f"{ov['version']} ({', '.join(ov['devices'])})" if ov else "not installed"),
        f"extras     {extras}",
        _speech_line(r["speech"]),
    ]


def _speech_line(speech: dict) -> str:
    engine = (
        f"faster-whisper {speech['faster_whisper']}" if speech["faster_whisper"] else "pip install 'zhclip[speech]'"
    )
    return f"speech     default model {speech['default_model']} on {speech['device']} ({engine}): {speech['why']}"


def _cache_lines(r: dict) -> list[str]:
    lines = []
    for n, (name, c) in enumerate(r["caches"].items()):
        size = _size(c["bytes"]) if c["exists"] else "absent"
        lines.append(f"{'caches' if n == 0 else '':11}{name:12} {c['path']}  {size}  ({c['set_by']})")
    return lines


def _auto_lines(r: dict) -> list[str]:
    choices = r["auto_choices"]
    if not choices:
        return ["auto runs  none recorded yet (precision auto measures once per machine and architecture)"]
    return [
        f"{'auto runs' if n == 0 else '':11}{c['arch']} on {c['machine'].split(':')[0]}: "
        + "; ".join(_tower_choice(c, tower) for tower in ("image", "text"))
        for n, c in enumerate(choices)
    ]


def _tower_choice(choice: dict, tower: str) -> str:
    speedup, fidelity = choice[f"{tower}_speedup"], choice[f"{tower}_fidelity"]
    measured = f" ({speedup}x torch-fp32, cosine {fidelity})" if speedup is not None else ""
    return f"{tower} {choice[tower]}{measured}"


def _hub_line(hub: dict) -> str:
    where = f"{hub['endpoint']} ({'HF_ENDPOINT' if hub['endpoint_from_env'] else 'default; HF_ENDPOINT changes it'})"
    state = {True: "reachable", False: "unreachable", None: "unknown"}[hub["reachable"]]
    return f"hub        {where}: {state}, {hub['detail']}"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
