"""The report's figures (matplotlib, PNG), one per section, from a results JSON.

Each shows the site beside its same-run baseline, with the ratio or difference written on
it. Files are named ``<stem>-<section>.png`` next to the report.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import MB, PAGES, SPLIT_KEYS, SPLIT_NAMES, _fmt

# --- Plots ------------------------------------------------------------------------------------


def plots(results: dict, out_dir: Path, stem: str) -> dict[str, str]:
    """Draw every section's figure; returns ``{name: file name}`` of those drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, str] = {}

    def save(fig, name: str) -> None:
        path = out_dir / f"{stem}-{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files[name] = path.name

    rt = (results.get("roundtrip") or {}).get("kinds")
    if rt:
        fig, ax = plt.subplots(figsize=(9, 4.6))
        colours = dict(zip(SPLIT_KEYS, ("#8da0cb", "#fc8d62", "#66c2a5", "#e78ac3"), strict=True))
        labels: list[str] = []
        seen: set[str] = set()

        def label(key: str, text: str) -> str | None:
            if key in seen:
                return None
            seen.add(key)
            return text

        for kind, data in rt.items():
            for transport in ("api", "htmx"):
                t = data["transports"][transport]
                y = len(labels)
                ax.barh(
                    y,
                    t["inprocess_ms"]["median"],
                    color="#999999",
                    label=label("in", "in-process (median)"),
                )
                labels.append(f"{kind} in-process")
                y += 1
                left = 0.0
                for key in SPLIT_KEYS:
                    width = max(0.0, ((t.get("split_ms") or {}).get(key) or {}).get("median") or 0)
                    ax.barh(
                        y, width, left=left, color=colours[key], label=label(key, SPLIT_NAMES[key])
                    )
                    left += width
                ax.text(
                    max(left, t["site_ms"]["median"]) + 2,
                    y,
                    f"{t['overhead_ms_p50']:+.1f} ms total, "
                    f"{t['overhead_outside_model_ms_p50']:+.1f} outside the model",
                    va="center",
                    fontsize=7,
                )
                labels.append(f"{kind} site ({transport})")
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("milliseconds (medians; the site's bar split into its parts)")
        ax.set_title(
            "Demo round trip: the site vs the engine in-process (same model, inputs)", fontsize=10
        )
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5)
        widest = max(
            max(t["site_ms"]["median"], t["inprocess_ms"]["median"])
            for data in rt.values()
            for t in data["transports"].values()
        )
        ax.set_xlim(0, widest * 1.9)
        save(fig, "roundtrip")

    bt = results.get("batching") or {}
    if bt.get("modes"):
        kinds = list(bt["modes"]["off"])
        fig, axes = plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds), 3.3), squeeze=False)
        for ax, kind in zip(axes[0], kinds, strict=True):
            for mode, style in (("off", "o-"), ("on", "s-")):
                rows = (bt["modes"].get(mode) or {}).get(kind)
                if rows:
                    ax.plot(
                        [r["concurrency"] for r in rows],
                        [r["per_second"] for r in rows],
                        style,
                        label=f"batching {mode}",
                    )
            ax.set_title(kind, fontsize=9)
            ax.set_xscale("log", base=2)
            ax.set_xticks(bt["concurrency"], [str(c) for c in bt["concurrency"]])
            ax.set_xlabel("concurrent clients")
            ax.set_ylabel("round trips / s")
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=7)
        title = "Throughput through the site, model worker batching on and off"
        if not bt.get("implemented"):
            title += " (batcher not implemented: off only)"
        fig.suptitle(title, fontsize=10)
        save(fig, "batching")

    st = results.get("streaming") or {}
    if st.get("rates"):
        fig, ax = plt.subplots(figsize=(6.2, 3.3))
        names = (
            ("generate", "model.generate\nin-process"),
            ("engine", "worker loop\nin-process"),
            ("site", "site over SSE"),
        )
        xs = list(range(len(names)))
        for offset, key, text in (
            (-0.2, "end_to_end_tps", "end to end"),
            (0.2, "steady_tps", "after the first token"),
        ):
            ax.bar(
                [x + offset for x in xs],
                [st["rates"][name][key]["median"] or 0 for name, _ in names],
                width=0.4,
                label=text,
            )
        ax.set_xticks(xs, [text for _, text in names], fontsize=8)
        ax.set_ylabel("tokens / s (median)")
        ax.set_title(
            f"Streaming: the site gives {_fmt(st.get('site_vs_generate_end_to_end'), 2)}x "
            "model.generate's tokens/s",
            fontsize=10,
        )
        ax.legend(fontsize=7)
        save(fig, "streaming")

    dbs = {
        k: v
        for k, v in ((results.get("pages") or {}).get("databases") or {}).items()
        if "healthz" in v
    }
    if dbs:
        fig, ax = plt.subplots(figsize=(8.4, 3.6))
        width = 0.8 / len(dbs)
        for i, (db, data) in enumerate(dbs.items()):
            bars = ax.bar(
                [j + i * width for j in range(len(PAGES))],
                [(data.get(page) or {}).get("per_second", 0) for page, _ in PAGES],
                width=width,
                label=db,
            )
            for bar, (page, _) in zip(bars, PAGES, strict=True):
                if page not in data:
                    continue
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_height(),
                    f"p99 {data[page]['latency_ms']['p99']:.0f} ms",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
        ax.set_xticks(
            [j + width * (len(dbs) - 1) / 2 for j in range(len(PAGES))],
            [name.replace(", ", ",\n") for _, name in PAGES],
            fontsize=8,
        )
        ax.set_ylabel("requests / s")
        ax.set_title("Pages under gunicorn, load over loopback", fontsize=10)
        ax.legend(fontsize=7)
        save(fig, "pages")

    fp = results.get("footprint") or {}
    if fp.get("weights_bytes"):
        fig, ax = plt.subplots(figsize=(6.5, 2.8))
        base, weights = fp["baseline"]["rss"] / MB, fp["weights_bytes"] / MB
        rest = max(0.0, fp["peak_rss"] / MB - base - weights)
        ax.barh(0, base, color="#999999", label="baseline process (imports, no models)")
        ax.barh(0, weights, left=base, color="#66c2a5", label="model weights")
        ax.barh(0, rest, left=base + weights, color="#fc8d62", label="the rest")
        ax.axvline(
            fp["allowed_rss"] / MB,
            color="black",
            linestyle="--",
            label="allowance: 1.5 x weights + baseline",
        )
        ax.set_yticks([0], ["worker peak RSS"])
        ax.set_xlim(0, max(fp["allowed_rss"], fp["peak_rss"]) / MB * 1.08)
        ax.set_xlabel("MiB")
        ax.set_title(f"Model worker memory: {fp['peak_rss'] / MB:,.0f} MiB peak RSS", fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.4), ncol=2)
        save(fig, "footprint")
    return files
