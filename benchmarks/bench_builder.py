#!/usr/bin/env python
"""Measures the `AHUUltrasound` builder: preparation and streaming throughput, and streaming peak memory.

    python -m benchmarks.bench_builder --cache /tmp/ahu_bench_archive --samples 50 --factor 4 [--repeats 3] [--write-md]

The sample archives (`hf_loader.sample_archive`, scale "bench": 720x1280 videos of about 6 s) are generated
once into `--cache` (`bench-seed0-n<N>/`) and reused when present. A sibling folder `bench-seed0-n<N>-zips/`
links only the three tier zips, so the same samples are read once from folders and once from zips.

Every measurement runs in a fresh Python process (so no cache, import or allocator state carries over) which
reports the seconds of the measured call and its peak memory: `ru_maxrss` of the process at the end minus
`ru_maxrss` after the imports. Medians over `--repeats` interleaved runs are reported. Lines:

- prepare: `download_and_prepare()` into an empty cache (indexing, reading, checking and writing Arrow), on
  the large archive (N x factor samples), configs `processed` and `filtered`, from folders and from zips;
- stream: iterating every split of `as_streaming_dataset()` (rows decoded as a user gets them: frames as PIL
  images; `filtered` with `decode_video=False`, videos as bytes) on both archives, so peak memory is compared
  between N and N x factor samples;
- export: `load_dataset(export, streaming=True)` against map-style `load_dataset(export)` (conversion to
  Arrow in an empty cache, then iterating every row) on a Parquet export (`hf_loader.export.export_dataset`)
  of the `processed` config of the large archive.

Input MB is the bytes of what the line reads: the driving tier's files (folder) or zip, or the Parquet shards.
`--write-md` puts the tables, the command and the machine into BENCHMARKS.md, section "## Dataset builder".

    python -m benchmarks.bench_builder --cache /tmp/ahu_bench_archive --samples 300 --shards [--repeats 3] [--write-md]

measures instead, on the one `--samples` archive, in one run (section "## Dataset builder: cache key, shards,
zip members"):

- cache hit: a new `AHUUltrasound(...)` and `download_and_prepare()` on an archive already prepared into the
  cache (what every later call costs: the cache key walks every file and reads each zip's central directory),
  from the folder (tier folders and zips) and from the zips alone, and the key alone (`archive_fingerprint`);
- prepare with `num_proc` 1 and 2 (`processed` config, zips, into an empty cache);
- streaming the `processed` train split through `torch.utils.data.DataLoader` with 0 and 2 workers (each worker
  reads its own shards of the split);
- zip member memory: peak RSS reading a 200 MB member of zeros (a 200 KB deflated zip) with the previous
  reader's call (`zipfile.ZipFile.read`, the whole member into memory) and with `member_reader.MemberReader.read`
  (refused from the zip's directory before any byte is inflated).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import cpu_model, write_section

REPO_ROOT = Path(__file__).resolve().parents[1]

SECTION = "## Dataset builder"
TIER_OF_CONFIG = {"processed": "processed", "filtered": "filtered"}
ZIP_NAMES = ("raw.zip", "filtered.zip", "processed.zip")


def _max_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------------------------------------
# Child side: one measurement per process.


def _child(task: dict) -> dict:
    before_torch = _max_rss_mb()
    try:
        # datasets' IterableDataset imports torch when it is installed: count it with the imports.
        import torch  # noqa: F401
    except ImportError:
        pass
    after_torch = _max_rss_mb()
    started = time.perf_counter()
    try:
        # datasets' Video feature imports torchcodec on the first video row, even with decode=False.
        import torchcodec.decoders  # noqa: F401
    except ImportError:
        pass
    torchcodec_s, after_torchcodec = time.perf_counter() - started, _max_rss_mb()
    import datasets

    from hf_loader.builder import AHUUltrasound

    datasets.disable_progress_bars()
    baseline = _max_rss_mb()
    extra = {
        "torch_import_mb": after_torch - before_torch,
        "torchcodec_import_mb": after_torchcodec - after_torch,
        "torchcodec_import_s": torchcodec_s,
    }
    op = task["op"]
    kwargs = {"decode_video": False} if task.get("config") == "filtered" else {}
    start = time.perf_counter()
    if op == "prepare":
        builder = AHUUltrasound(
            config_name=task["config"], data_dir=task["data_dir"], cache_dir=task["cache_dir"], **kwargs
        )
        builder.download_and_prepare()
        examples = sum(split.num_examples for split in builder.info.splits.values())
    elif op == "stream":
        builder = AHUUltrasound(config_name=task["config"], data_dir=task["data_dir"], **kwargs)
        examples = 0
        for stream in builder.as_streaming_dataset().values():
            for _ in stream:
                examples += 1
                if examples == 1:
                    extra["first_s"] = time.perf_counter() - start
    elif op == "export_stream":
        examples = 0
        for stream in datasets.load_dataset(task["data_dir"], streaming=True).values():
            for _ in stream:
                examples += 1
    elif op == "export_map":
        loaded = datasets.load_dataset(task["data_dir"], cache_dir=task["cache_dir"])
        extra["load_s"] = time.perf_counter() - start
        examples = 0
        for split in loaded.values():
            for _ in split:
                examples += 1
    elif op == "cache_hit":
        # Prepared once by the parent: every call here finds its cache.
        calls = task["calls"]
        for _ in range(calls):
            builder = AHUUltrasound(
                config_name="processed", data_dir=task["data_dir"], cache_dir=task["cache_dir"]
            )
            builder.download_and_prepare()
        extra["ms_per_call"] = (time.perf_counter() - start) * 1000 / calls
        examples = sum(split.num_examples for split in builder.info.splits.values())
    elif op == "fingerprint":
        from hf_loader.archive_fingerprint import archive_fingerprint

        calls = task["calls"]
        for _ in range(calls):
            archive_fingerprint(task["data_dir"])
        extra["ms_per_call"] = (time.perf_counter() - start) * 1000 / calls
        examples = 0
    elif op == "prepare_num_proc":
        builder = AHUUltrasound(
            config_name="processed", data_dir=task["data_dir"], cache_dir=task["cache_dir"]
        )
        builder.download_and_prepare(num_proc=task["num_proc"] if task["num_proc"] > 1 else None)
        examples = sum(split.num_examples for split in builder.info.splits.values())
    elif op == "stream_workers":
        from torch.utils.data import DataLoader

        builder = AHUUltrasound(config_name="processed", data_dir=task["data_dir"])
        stream = builder.as_streaming_dataset("train")
        extra["num_shards"] = stream.num_shards
        examples = sum(1 for _ in DataLoader(stream, batch_size=None, num_workers=task["workers"]))
    elif op == "zip_member":
        import zipfile

        from hf_loader.archive_index import Source
        from hf_loader.member_reader import MemberReader, OversizedMemberError

        baseline = _max_rss_mb()
        start = time.perf_counter()
        if task["reader"] == "zipfile.ZipFile.read":
            with zipfile.ZipFile(task["zip"]) as archive:
                extra["outcome"] = f"read {len(archive.read(task['member'])) / 1e6:.0f} MB"
        else:
            try:
                with MemberReader() as reader:
                    reader.read(Source(task["zip"], True), task["member"])
                extra["outcome"] = "read"
            except OversizedMemberError as error:
                extra["outcome"] = f"refused ({type(error).__name__})"
        examples = 1
    else:
        raise ValueError(f"unknown op {op!r}")
    seconds = time.perf_counter() - start
    return {"examples": examples, "seconds": seconds, "peak_mb": _max_rss_mb() - baseline, **extra}


# ----------------------------------------------------------------------------------------------------------------
# Parent side.


def ensure_archive(
    cache: Path, num_samples: int, scale: str, seed: int, width: int | None = None, height: int | None = None
) -> Path:
    """The sample archive `<cache>/<scale>-seed<seed>-n<N>[-<W>x<H>]`, generated unless a complete one is there."""
    from hf_loader.sample_archive import load_manifest, make_sample_archive

    size = f"-{width}x{height}" if width or height else ""
    folder = cache / f"{scale}-seed{seed}-n{num_samples}{size}"
    if (folder / "manifest.json").is_file() and all((folder / name).is_file() for name in ZIP_NAMES):
        manifest = load_manifest(folder)
        if len(manifest["samples"]) == num_samples and manifest.get("scale") == scale:
            print(f"reusing {folder}", flush=True)
            return folder
    print(f"generating {folder} ({num_samples} samples, scale {scale!r})", flush=True)
    return make_sample_archive(
        folder,
        seed=seed,
        scale=scale,
        num_samples=num_samples,
        width=width,
        height=height,
        overwrite=True,
        progress=True,
    )


def zips_only(archive: Path) -> Path:
    """A folder beside `archive` linking only its tier zips (so the builder reads the zips, not the folders)."""
    folder = archive.with_name(archive.name + "-zips")
    folder.mkdir(exist_ok=True)
    for name in ZIP_NAMES:
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(archive / name)
    return folder


def tier_bytes(archive: Path, tier: str, zipped: bool) -> int:
    if zipped:
        return (archive / f"{tier}.zip").stat().st_size
    return sum(path.stat().st_size for path in (archive / tier).rglob("*") if path.is_file())


def run_child(task: dict) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_builder", "--child", json.dumps(task)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measurement {task} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def _row(line: str, config: str, source: str, samples: int, input_bytes: int, result: dict) -> dict:
    return {
        "line": line,
        "config": config,
        "source": source,
        "samples": samples,
        "input_bytes": input_bytes,
        **result,
    }


def markdown_tables(rows: list[dict], small: int, large: int) -> str:
    out = [
        "| line | config | source | archive samples | examples | input MB | seconds | s to 1st row | examples/s | MB/s | peak RSS over imports (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        mb = row["input_bytes"] / 1e6
        seconds = row["seconds"]
        first = f"{row['first_s']:.1f}" if "first_s" in row else "-"
        out.append(
            f"| {row['line']} | {row['config']} | {row['source']} | {row['samples']} | {row['examples']} | "
            f"{mb:.1f} | {seconds:.1f} | {first} | {row['examples'] / seconds:.1f} | {mb / seconds:.2f} | "
            f"{row['peak_mb']:.0f} |"
        )
    memory = [
        "",
        f"Streaming peak memory (MB over the imports) at {small} and {large} samples:",
        "",
        f"| config | source | {small} samples | {large} samples | ratio | input MB ratio |",
        "|---|---|---|---|---|---|",
    ]
    streams = {(r["config"], r["source"], r["samples"]): r for r in rows if r["line"] == "stream"}
    for config, source in dict.fromkeys((c, s) for c, s, _ in streams):
        a, b = streams.get((config, source, small)), streams.get((config, source, large))
        if a and b:
            memory.append(
                f"| {config} | {source} | {a['peak_mb']:.0f} | {b['peak_mb']:.0f} | "
                f"{b['peak_mb'] / max(a['peak_mb'], 1e-9):.2f} | {b['input_bytes'] / a['input_bytes']:.2f} |"
            )
    pairs = [
        (streams[(c, s, small)], streams[(c, s, large)])
        for c, s, n in streams
        if n == small and (c, s, large) in streams
    ]
    if pairs:
        growth = max(b["peak_mb"] - a["peak_mb"] for a, b in pairs)
        memory += [
            "",
            f"From {small} to {large} samples the streaming peak grows by at most {growth:.0f} MB while the input "
            f"grows {min(b['input_bytes'] / a['input_bytes'] for a, b in pairs):.1f}x or more: "
            + (
                "flat (memory does not follow the archive size)."
                if growth < 0.25 * min(b["input_bytes"] - a["input_bytes"] for a, b in pairs) / 1e6
                else "NOT flat."
            ),
        ]
    export = {r["line"]: r for r in rows if r["line"].startswith("export")}
    if "export stream" in export and "export map-style" in export:
        s, m = export["export stream"], export["export map-style"]
        memory += [
            "",
            (
                f"Export: streaming reads the Parquet export at {s['examples'] / s['seconds']:.1f} examples/s, map-style "
                f"at {m['examples'] / m['seconds']:.1f} examples/s including {m['load_s']:.1f} s of conversion to Arrow "
                f"(map-style takes {m['seconds'] / s['seconds']:.2f}x the time of streaming)."
            ),
        ]
    return "\n".join(out + memory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/ahu_bench_archive"), help="archives live here"
    )
    parser.add_argument("--samples", type=int, default=50, help="samples of the small archive (N)")
    parser.add_argument("--factor", type=int, default=4, help="the large archive has N x factor samples")
    parser.add_argument("--scale", default="bench", help="sample archive scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=None, help="frame width of the archives (default: the scale's)")
    parser.add_argument("--height", type=int, default=None, help="frame height (default: the scale's)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported")
    parser.add_argument("--write-md", action="store_true", help="write the tables into BENCHMARKS.md")
    parser.add_argument(
        "--shards",
        action="store_true",
        help="measure the cache key, num_proc, DataLoader workers and zip member memory instead (see above)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))), flush=True)
        return 0

    if args.shards:
        return shards_main(args, argv)

    from tqdm.auto import tqdm

    load_before = uptime()
    small_n, large_n = args.samples, args.samples * args.factor
    archives = {
        n: ensure_archive(args.cache, n, args.scale, args.seed, args.width, args.height) for n in (small_n, large_n)
    }
    work = Path(tempfile.mkdtemp(prefix="ahu-bench-builder-"))
    plan = []
    large = archives[large_n]
    for config in ("processed", "filtered"):
        for source in ("folder", "zips"):
            plan.append(("prepare", config, source, large_n))
    for config in ("processed", "filtered"):
        for source in ("folder", "zips"):
            for n in (small_n, large_n):
                plan.append(("stream", config, source, n))
    rows = []
    try:
        # A Parquet export of the processed config of the large archive, for the export lines.
        from hf_loader.export import export_dataset

        export_dir = work / "export"
        export_dataset(large, export_dir, "processed", cache_dir=str(work / "export-build"))
        parquet_bytes = sum(path.stat().st_size for path in export_dir.rglob("*.parquet"))
        plan += [
            ("export stream", "processed", "Parquet", large_n),
            ("export map-style", "processed", "Parquet", large_n),
        ]
        runs = [(repeat, item) for repeat in range(args.repeats) for item in plan]  # repeats interleaved
        results: dict[tuple, list[dict]] = {}
        for repeat, (line, config, source, n) in tqdm(runs, desc="measurements", unit=" run"):
            if source == "Parquet":
                op = "export_stream" if line == "export stream" else "export_map"
                task = {
                    "op": op,
                    "data_dir": str(export_dir),
                    "cache_dir": str(work / f"r{repeat}-load-{op}"),
                }
                input_bytes = parquet_bytes
            else:
                archive = archives[n]
                data_dir = archive if source == "folder" else zips_only(archive)
                task = {"op": line, "config": config, "data_dir": str(data_dir)}
                if line == "prepare":
                    task["cache_dir"] = str(work / f"r{repeat}-prepare-{config}-{source}")
                input_bytes = tier_bytes(archive, TIER_OF_CONFIG[config], source == "zips")
            row = _row(line, config, source, n, input_bytes, run_child(task))
            results.setdefault((line, config, source, n), []).append(row)
            tqdm.write(json.dumps(row))
        for runs_of_line in results.values():
            median = dict(runs_of_line[0])
            for key, value in runs_of_line[0].items():
                if isinstance(value, float):
                    median[key] = statistics.median(run[key] for run in runs_of_line)
            rows.append(median)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = uptime()
    (args.cache / "bench_builder_results.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")

    command = "python -m benchmarks.bench_builder " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    loads = [float(x) for x in load_before.rsplit("load average:", 1)[-1].split(",")]
    shared = (
        " The machine was shared with other jobs (load average above 2): compare lines of this run, not absolute numbers."
        if max(loads) > 2
        else ""
    )
    table = markdown_tables(rows, small_n, large_n)
    video = json.loads((large / "manifest.json").read_text(encoding="utf-8"))["video"]
    torch_mb = max(row["torch_import_mb"] for row in rows)
    codec_mb = max(row["torchcodec_import_mb"] for row in rows)
    codec_s = max(row["torchcodec_import_s"] for row in rows)
    text = "\n".join(
        [
            SECTION,
            "",
            f"Command: `{command}`  ",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores; `uptime` before: `{load_before}`, after: `{load_after}`.{shared}  ",
            (
                f"Archives: sample archives (`make_sample_archive(scale={args.scale!r}, seed={args.seed})`, "
                f"{video['width']}x{video['height']} H.264 videos) with {small_n} and {large_n} samples, in {args.cache}; "
                f"prepare and export lines use the {large_n}-sample one. Every line runs in a fresh process; peak RSS is "
                "`ru_maxrss` at the end minus its value after the imports, which include torch (up to "
                f"{torch_mb:.0f} MB: datasets' `IterableDataset` imports it when installed) and torchcodec (up to "
                f"{codec_mb:.0f} MB and {codec_s:.1f} s: datasets' `Video.encode_example` imports it on the first video "
                "row, even with `decode=False`), so the table shows what the data costs, not the libraries. "
                "`filtered` lines use `decode_video=False` (videos as bytes); frames decode to PIL images. "
                f"Numbers are medians of {args.repeats} interleaved repeats."
            ),
            "",
            table,
            "",
        ]
    )
    print(text)
    if args.write_md:
        write_section(REPO_ROOT / "BENCHMARKS.md", SECTION, text)
        print(f"wrote {SECTION!r} into BENCHMARKS.md")
    return 0


SHARDS_SECTION = "## Dataset builder: cache key, shards, zip members"
ZIP_MEMBER_MB = 200


def zeros_zip(folder: Path) -> tuple[Path, str]:
    """A deflated zip holding one `ZIP_MEMBER_MB` MB member of zeros (written in chunks: never whole in memory)."""
    import zipfile

    path, member = folder / "zeros.zip", "1_Cyst/01.jpg"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(member, "w", force_zip64=True) as out,
    ):
        for _ in range(ZIP_MEMBER_MB):
            out.write(bytes(1_000_000))
    return path, member


def shards_main(args, argv) -> int:
    """The `--shards` measurements, in one run on one archive (see the module docstring)."""
    from tqdm.auto import tqdm

    load_before = uptime()
    archive = ensure_archive(args.cache, args.samples, args.scale, args.seed, args.width, args.height)
    zips = zips_only(archive)
    work = Path(tempfile.mkdtemp(prefix="ahu-bench-shards-"))
    try:
        zip_path, member = zeros_zip(work)
        plan = []
        for name, data_dir in (("folder", archive), ("zips", zips)):
            cache_dir = work / f"hit-{name}"
            run_child(
                {
                    "op": "prepare",
                    "config": "processed",
                    "data_dir": str(data_dir),
                    "cache_dir": str(cache_dir),
                }
            )
            plan.append(
                (
                    f"cache hit ({name})",
                    {"op": "cache_hit", "data_dir": str(data_dir), "cache_dir": str(cache_dir), "calls": 5},
                )
            )
            plan.append(
                (f"cache key alone ({name})", {"op": "fingerprint", "data_dir": str(data_dir), "calls": 5})
            )
        for num_proc in (1, 2):
            plan.append(
                (
                    f"prepare, num_proc={num_proc}",
                    {"op": "prepare_num_proc", "data_dir": str(zips), "num_proc": num_proc},
                )
            )
        for workers in (0, 2):
            plan.append(
                (
                    f"stream train, {workers} DataLoader workers",
                    {"op": "stream_workers", "data_dir": str(zips), "workers": workers},
                )
            )
        for reader in ("zipfile.ZipFile.read", "MemberReader.read"):
            plan.append(
                (
                    f"{ZIP_MEMBER_MB} MB zeros member, {reader}",
                    {"op": "zip_member", "zip": str(zip_path), "member": member, "reader": reader},
                )
            )
        results: dict[str, list[dict]] = {}
        runs = [(repeat, item) for repeat in range(args.repeats) for item in plan]
        for repeat, (line, task) in tqdm(runs, desc="measurements", unit=" run"):
            if task["op"] == "prepare_num_proc":
                task = {**task, "cache_dir": str(work / f"r{repeat}-num-proc-{task['num_proc']}")}
            result = run_child(task)
            results.setdefault(line, []).append(result)
            tqdm.write(json.dumps({"line": line, **result}))
        zip_bytes = zip_path.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = uptime()

    def median(line: str, key: str) -> float:
        return statistics.median(run[key] for run in results[line])

    rows = [
        "| line | examples | seconds | examples/s | ms per call | peak RSS over imports (MB) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for line, runs_of_line in results.items():
        first = runs_of_line[0]
        seconds = median(line, "seconds")
        rate = f"{first['examples'] / seconds:.1f}" if first["examples"] > 1 else "-"
        ms = f"{median(line, 'ms_per_call'):.0f}" if "ms_per_call" in first else "-"
        note = first.get("outcome") or (f"{first['num_shards']} shards" if "num_shards" in first else "")
        rows.append(
            f"| {line} | {first['examples']} | {seconds:.2f} | {rate} | {ms} | {median(line, 'peak_mb'):.0f} | {note} |"
        )
    one, two = median("prepare, num_proc=1", "seconds"), median("prepare, num_proc=2", "seconds")
    w0, w2 = (
        median("stream train, 0 DataLoader workers", "seconds"),
        median("stream train, 2 DataLoader workers", "seconds"),
    )
    before = median(f"{ZIP_MEMBER_MB} MB zeros member, zipfile.ZipFile.read", "peak_mb")
    after = median(f"{ZIP_MEMBER_MB} MB zeros member, MemberReader.read", "peak_mb")
    command = "python -m benchmarks.bench_builder " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    text = "\n".join(
        [
            SHARDS_SECTION,
            "",
            f"Command: `{command}`  ",
            (
                f"Machine: {cpu_model()}, {os.cpu_count()} cores; `uptime` before: `{load_before}`, after: `{load_after}`. "
                "Compare lines of this run (ratios), not absolute times: the load average says what else ran.  "
            ),
            (
                f"Archive: `make_sample_archive(scale={args.scale!r}, seed={args.seed}, num_samples={args.samples}"
                f"{f', width={args.width}, height={args.height}' if args.width or args.height else ''})` in {archive}. "
                f"Every line runs in a fresh process; medians of {args.repeats} interleaved repeats; config `processed`."
            ),
            "",
            *rows,
            "",
            (
                f"- A `download_and_prepare()` that hits the cache costs {median('cache hit (folder)', 'ms_per_call'):.0f} ms from the "
                f"folder (tier folders and zips) and {median('cache hit (zips)', 'ms_per_call'):.0f} ms from the zips alone, "
                f"of which the cache key is {median('cache key alone (folder)', 'ms_per_call'):.0f} ms and "
                f"{median('cache key alone (zips)', 'ms_per_call'):.1f} ms."
            ),
            (
                f"- `num_proc=2` prepares in {two / one:.2f}x the time of `num_proc=1`; streaming with 2 DataLoader workers takes "
                f"{w2 / w0:.2f}x the time of 0 workers (on a 2-core machine)."
            ),
            (
                f"- Reading a {ZIP_MEMBER_MB} MB member of zeros from a {zip_bytes / 1e3:.0f} KB zip: {before:.0f} MB peak before "
                f"(`zipfile.ZipFile.read`, what `MemberReader.read` did), {after:.0f} MB now (refused from the directory's sizes: "
                "`member_reader.MAX_COMPRESSION_RATIO`, `MAX_MEMBER_BYTES`)."
            ),
            "",
        ]
    )
    print(text)
    if args.write_md:
        write_section(REPO_ROOT / "BENCHMARKS.md", SHARDS_SECTION, text)
        print(f"wrote {SHARDS_SECTION!r} into BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
