"""Ratios between the two sides of a case, and the printed table (rich)."""

from __future__ import annotations

from typing import Any


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def compare(case: str, trl: dict[str, Any], posttrain: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    """Both runs of a case and their ratios: `speed` (posttrain over TRL, higher is better) and
    `memory` (posttrain's peak RSS over TRL's, lower is better), plus what the case adds."""
    result: dict[str, Any] = {"trl": trl, "posttrain": posttrain}
    if "error" in trl or "error" in posttrain:
        result["error"] = trl.get("error") or posttrain.get("error")
        return result
    memory = "peak_gpu_gib" if "peak_gpu_gib" in trl and "peak_gpu_gib" in posttrain else "peak_rss_gib"
    ratios = {"speed": _ratio(trl["seconds_per_step"], posttrain["seconds_per_step"]),
              "end_to_end": _ratio(trl["total_seconds"], posttrain["total_seconds"]),
              "memory": _ratio(posttrain[memory], trl[memory])}
    if trl.get("steady_seconds_per_step") and posttrain.get("steady_seconds_per_step"):
        ratios["steady_speed"] = _ratio(trl["steady_seconds_per_step"], posttrain["steady_seconds_per_step"])
    if case.startswith("grpo"):
        ratios["generation"] = _ratio(posttrain["generation_tokens_per_s"], trl["generation_tokens_per_s"])
        ratios["update"] = _ratio(trl["update_seconds"], posttrain["update_seconds"])
    for side in (trl, posttrain):
        if "tokens_per_s" in side:      # 6 N flops per trained token (forward + backward)
            side["ceiling_fraction"] = round(6 * machine["parameters"] * side["tokens_per_s"]
                                             / (machine["gflops_fp32"] * 1e9), 4) if machine.get("gflops_fp32") else None
    result["ratios"] = ratios
    return result


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rows(case: str, result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, TRL, posttrain, ratio) lines of one case."""
    trl, pt, ratios = result["trl"], result["posttrain"], result["ratios"]
    rows = []
    if "tokens_per_s" in trl:
        rows.append(("tokens/s", _fmt(trl["tokens_per_s"], 1), _fmt(pt["tokens_per_s"], 1), _fmt(ratios["speed"]) + "x"))
        if trl.get("ceiling_fraction") is not None:
            rows.append(("% of fp32 matmul ceiling", _fmt(100 * trl["ceiling_fraction"], 1),
                         _fmt(100 * pt["ceiling_fraction"], 1), ""))
    else:
        rows.append(("s/step", _fmt(trl["seconds_per_step"]), _fmt(pt["seconds_per_step"]), _fmt(ratios["speed"]) + "x"))
    if ratios.get("steady_speed"):
        rows.append(("s/step after the first 3 steps", _fmt(trl["steady_seconds_per_step"], 3),
                     _fmt(pt["steady_seconds_per_step"], 3), _fmt(ratios["steady_speed"]) + "x"))
    if case.startswith("grpo"):
        rows.append(("generation tokens/s", _fmt(trl["generation_tokens_per_s"], 1),
                     _fmt(pt["generation_tokens_per_s"], 1), _fmt(ratios["generation"]) + "x"))
        rows.append(("generation s (of train s)", f"{_fmt(trl['generation_seconds'], 1)} / {_fmt(trl['train_seconds'], 1)}",
                     f"{_fmt(pt['generation_seconds'], 1)} / {_fmt(pt['train_seconds'], 1)}", ""))
    if "reference_seconds" in trl or "reference_seconds" in pt:
        rows.append(("reference log-probs, up front s", _fmt(trl.get("reference_seconds", 0.0), 1),
                     _fmt(pt.get("reference_seconds", 0.0), 1), ""))
    rows.append(("end to end s (load, train, save)", _fmt(trl["total_seconds"], 1), _fmt(pt["total_seconds"], 1),
                 _fmt(ratios["end_to_end"]) + "x"))
    if "peak_gpu_gib" in trl and "peak_gpu_gib" in pt:
        rows.append(("peak GPU GiB", _fmt(trl["peak_gpu_gib"]), _fmt(pt["peak_gpu_gib"]), _fmt(ratios["memory"]) + "x"))
    else:
        rows.append(("peak RSS GiB", _fmt(trl["peak_rss_gib"]), _fmt(pt["peak_rss_gib"]), _fmt(ratios["memory"]) + "x"))
    key = "curve_reward" if case.startswith("grpo") else "curve_loss"
    rows.append((key.removeprefix("curve_") + " per step", _curve(trl.get(key)), _curve(pt.get(key)), ""))
    return rows


def _curve(values: list[float] | None) -> str:
    return " ".join(f"{v:.3g}" for v in values) if values else "-"


def print_report(report: dict[str, Any], title: str | None = None) -> None:
    """The ratio table, the machine it ran on, and the RAG figures."""
    from rich.console import Console
    from rich.table import Table

    machine = report["machine"]
    table = Table(title=title or f"posttrain vs plain TRL ({'quick' if report['quick'] else 'full'}); "
                  f"{machine['threads']} threads, {machine['gflops_fp32']} GFLOP/s fp32, "
                  f"{machine['gflops_bf16']} GFLOP/s bf16, {machine['parameters'] / 1e6:.1f}M parameters")
    for column in ("case", "metric", "TRL defaults", "posttrain", "ratio"):
        table.add_column(column, overflow="fold")
    for case, result in report["cases"].items():
        if "error" in result:
            table.add_row(case, "error", "", str(result["error"]), "")
            continue
        for index, row in enumerate(_rows(case, result)):
            table.add_row(case if index == 0 else "", *row)
        table.add_section()
    console = Console(width=160)
    console.print(table)
    if report.get("rag") is not None:
        console.print("RAG:", report["rag"])
