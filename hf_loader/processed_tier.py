"""Write the processed tier from the filtered tier on disk: `preprocess_tier(filtered_dir, out_dir)`,
resumable (a done-marker per sample under `out_dir/.preprocess/`) and parallel over samples (spawned worker
processes); `noise_files.txt` is written at the end from every finished sample."""

from __future__ import annotations

import errno
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .constants import NOISE_LIST_NAME
from .errors import AHUDataError, DuplicateSampleError, EmptySampleError, OutOfSpaceError
from .image_sets import image_set_paths
from .naming import is_video_file, parse_filtered_name
from .noise_list import write_noise_list
from .preprocess import PreprocessOptions, preprocess_sample, processed_folder_name

# Where preprocess_tier keeps its per-sample done-markers and temporary folders, inside out_dir.
STATE_DIR_NAME = ".preprocess"
# errno values of a full disk or an exhausted quota.
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _out_of_space(out_dir: Path, error: OSError) -> OutOfSpaceError:
    return OutOfSpaceError(
        f"the disk is full (no space left while writing the processed tier: {error.strerror or error}); free space "
        "or choose an output folder on a disk with room, then rerun: finished samples are kept, the unfinished "
        "one was removed",
        entry=str(out_dir),
    )


def find_filtered_entries(filtered_dir: str | os.PathLike) -> list[Path]:
    """The filtered tier's entries (`Video_*` files and `Photos_*` folders), sorted by sample number.

    Other files (zips, manifests, hidden files) are ignored.
    """
    filtered_dir = Path(filtered_dir)
    if not filtered_dir.is_dir():
        raise EmptySampleError("is not a folder; pass the filtered tier's folder.", entry=str(filtered_dir))
    entries = []
    for entry in filtered_dir.iterdir():
        if entry.name.startswith("."):
            continue
        lower = entry.name.lower()
        if (entry.is_file() and lower.startswith("video_") and is_video_file(entry.name)) or (
            entry.is_dir() and lower.startswith("photo")
        ):
            entries.append(entry)

    def order(entry: Path):
        try:
            return (0, parse_filtered_name(entry.name).sample_id, entry.name)
        except AHUDataError:
            return (1, 0, entry.name)

    return sorted(entries, key=order)


@dataclass
class TierReport:
    """What `preprocess_tier` did.

    Attributes:
        out_dir: the processed tier written.
        processed: names of samples processed in this run.
        skipped_done: names of samples already finished by an earlier run (resumed).
        failed: `reason -> [(entry, message), ...]` for entries left out (lenient mode only).
        num_frames: frames in the tier (all finished samples).
        num_noise_frames: noise frames in the tier.
        num_source_frames: source frames decoded in this run.
        seconds: wall time of this run.
        noise_list: path of `noise_files.txt`.
    """

    out_dir: Path
    processed: list[str] = field(default_factory=list)
    skipped_done: list[str] = field(default_factory=list)
    failed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    num_frames: int = 0
    num_noise_frames: int = 0
    num_source_frames: int = 0
    seconds: float = 0.0
    noise_list: Path | None = None

    @property
    def num_failed(self) -> int:
        return sum(len(items) for items in self.failed.values())

    def summary(self) -> str:
        lines = [
            (
                f"processed {len(self.processed)} samples, {len(self.skipped_done)} already done, "
                f"{self.num_failed} skipped as bad input; {self.num_frames} frames "
                f"({self.num_noise_frames} noise) in {self.out_dir}"
            ),
            f"decoded {self.num_source_frames} source frames in {self.seconds:.1f} s",
        ]
        for reason, items in sorted(self.failed.items()):
            lines.append(f"skipped ({reason}): {len(items)}")
            # One error can leave several entries out (a duplicate pair): its message once.
            lines.extend(f"  {message}" for message in dict.fromkeys(message for _, message in items))
        return "\n".join(lines)


def _write_json_atomic(path: Path, payload: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def _marker_path(out_dir: Path, entry: Path) -> Path:
    return out_dir / STATE_DIR_NAME / f"{entry.name}.json"


def _source_fingerprint(entry: Path) -> list[list]:
    """`[name, size in bytes, mtime in ns]` of the file (video) or of each image (image set) a sample is made of.

    Kept in the done-marker: a source replaced or edited after a run no longer matches, so a rerun redoes it.
    """
    paths = image_set_paths(entry) if entry.is_dir() else [entry]
    return [[path.name, stat.st_size, stat.st_mtime_ns] for path in paths for stat in (path.stat(),)]


def _exit_with_parent() -> None:
    """Worker initializer: end this process as soon as the parent process is gone.

    A parent killed with SIGKILL cannot shut its pool down; its workers would go on with the queued samples,
    then wait forever, holding the parent's stdout. `parent_process().sentinel` becomes ready when it dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _process_entry(entry: Path, out_dir: Path, options: PreprocessOptions) -> dict:
    """Worker: process one entry and write its folder; the done-marker is written last, atomically."""
    # Taken before reading, so that a source changed while it is processed is redone by the next run.
    source = _source_fingerprint(entry)
    sample = preprocess_sample(entry, options)
    state_dir = out_dir / STATE_DIR_NAME
    temporary = state_dir / f"tmp-{sample.name}"
    marker = _marker_path(out_dir, entry)
    try:
        if temporary.exists():
            shutil.rmtree(temporary)
        temporary.mkdir(parents=True)
        for name, frame in zip(sample.frame_names, sample.frames):
            # Fixed quality and subsampling, no optimizer passes: the same frame gives the same bytes.
            Image.fromarray(frame).save(
                temporary / name, format="JPEG", quality=options.jpeg_quality, subsampling=0
            )
        final = out_dir / sample.name
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
        payload = {"options": options.to_dict(), "source_files": source, **sample.metadata()}
        _write_json_atomic(marker, payload)
    except OSError as error:
        if error.errno not in _NO_SPACE:
            raise
        shutil.rmtree(temporary, ignore_errors=True)
        marker.with_name(marker.name + ".tmp").unlink(missing_ok=True)
        raise _out_of_space(out_dir, error) from error
    return payload


def _read_marker(out_dir: Path, entry: Path, options: PreprocessOptions) -> dict | None:
    marker = _marker_path(out_dir, entry)
    if not marker.is_file():
        return None
    try:
        payload = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # A marker from other options, of another version of the source, or whose folder is gone, means the sample
    # must be redone.
    if payload.get("options") != json.loads(json.dumps(options.to_dict())):
        return None
    try:
        if payload.get("source_files") != _source_fingerprint(entry):
            return None
    except (OSError, AHUDataError):
        return None
    folder = out_dir / payload.get("name", "")
    if not all((folder / name).is_file() for name in payload.get("frame_names", [None])):
        return None
    return payload


def _entries_by_sample(entries: Sequence[Path]) -> dict[int | str, list[Path]]:
    """Entries grouped by sample number, the key the builder refuses duplicates of (so `Video_5_Cyst.mp4` and
    `Video_5_Nodule.mp4` collide though their folders differ); entries with unparsable names fail later, alone."""
    groups: dict[int | str, list[Path]] = {}
    for entry in entries:
        try:
            key: int | str = parse_filtered_name(entry.name).sample_id
        except AHUDataError:
            key = f"unparsable:{entry.name}"
        groups.setdefault(key, []).append(entry)
    return groups


def _forget(out_dir: Path, entry: Path) -> None:
    """Remove what an earlier run wrote for `entry`: its done-marker and the folder the marker names."""
    marker = _marker_path(out_dir, entry)
    try:
        name = json.loads(marker.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError):
        return
    if name and (out_dir / name).is_dir():
        shutil.rmtree(out_dir / name)
    marker.unlink()


def preprocess_tier(
    filtered_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: PreprocessOptions | None = None,
    num_workers: int = 2,
    lenient: bool = False,
    progress: bool = True,
) -> TierReport:
    """Write the processed tier (`<N>_<Labels>/01.jpg ...` + `noise_files.txt`) from a filtered tier.

    Samples run in `num_workers` processes (1: in this process), which exit when this process dies. A rerun
    skips samples whose done-marker (`out_dir/.preprocess/<entry>.json`, written after the frame folder is
    atomically renamed into place) matches the options and the source's files (names, sizes, mtimes), so an
    interrupted run resumes and a changed source is redone. Same input and options give byte-identical output.
    Two entries that map to one folder (`Video_5_Nodule.mp4`, `Video_05_Nodule.mp4`) are an error naming both;
    `lenient` leaves both out.

    Args:
        filtered_dir: folder of `Video_<N>_<Labels>.mp4` files and `Photos_<N>_<Labels>/` folders.
        out_dir: the processed tier to write (created if needed).
        options: `PreprocessOptions()` (the paper's pipeline, tuned noise filter) by default.
        num_workers: processes over samples.
        lenient: skip bad entries and count them in the report, instead of raising the first error.
        progress: show a tqdm progress bar.

    Returns:
        `TierReport` (print `report.summary()`).

    Raises:
        AHUDataError subclasses: the first bad entry, unless `lenient`.
    """
    from tqdm.auto import tqdm

    options = options or PreprocessOptions()
    out_dir = Path(out_dir)
    (out_dir / STATE_DIR_NAME).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = TierReport(out_dir=out_dir)
    entries = find_filtered_entries(filtered_dir)
    if not entries:
        raise EmptySampleError(
            "holds no `Video_<N>_<Labels>.mp4` file or `Photos_<N>_<Labels>/` folder; pass the filtered tier.",
            entry=str(filtered_dir),
        )

    def record_failure(entry: Path, err: AHUDataError) -> None:
        if not lenient:
            raise err
        report.failed.setdefault(err.reason, []).append((entry.name, str(err)))

    for sample_id, colliding in _entries_by_sample(entries).items():
        if len(colliding) < 2:
            continue
        # Neither is the sample: the folder and markers of an earlier run are dropped, and both are left out.
        folders = sorted({processed_folder_name(parse_filtered_name(entry.name)) for entry in colliding})
        where = (
            f"map to the processed folder {folders[0]}/"
            if len(folders) == 1
            else f"would write {' and '.join(f'{folder}/' for folder in folders)}, which the dataset builder refuses"
        )
        error = DuplicateSampleError(
            f"{' and '.join(entry.name for entry in colliding)} both carry sample number {sample_id} and {where}; "
            "each sample number must be unique: rename or remove all but one.",
            entry=str(Path(filtered_dir) / colliding[0].name),
        )
        for entry in colliding:
            record_failure(entry, error)
            _forget(out_dir, entry)
        entries = [entry for entry in entries if entry not in colliding]
    done: dict[str, dict] = {}
    todo: list[Path] = []
    for entry in entries:
        payload = _read_marker(out_dir, entry, options)
        if payload is None:
            todo.append(entry)
        else:
            done[entry.name] = payload
            report.skipped_done.append(payload["name"])

    bar = tqdm(total=len(todo), desc="preprocess", unit="sample", disable=not progress)
    try:
        if num_workers <= 1:
            for entry in todo:
                try:
                    done[entry.name] = _process_entry(entry, out_dir, options)
                    report.processed.append(done[entry.name]["name"])
                    report.num_source_frames += done[entry.name]["num_source_frames"]
                except OutOfSpaceError:
                    raise
                except AHUDataError as err:
                    record_failure(entry, err)
                bar.update()
        else:
            # "spawn": a forked worker can deadlock on OpenMP/decoder threads the parent already started.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=num_workers, mp_context=context, initializer=_exit_with_parent
            ) as pool:
                futures = {pool.submit(_process_entry, entry, out_dir, options): entry for entry in todo}
                try:
                    for future in as_completed(futures):
                        entry = futures[future]
                        try:
                            done[entry.name] = future.result()
                            report.processed.append(done[entry.name]["name"])
                            report.num_source_frames += done[entry.name]["num_source_frames"]
                        except OutOfSpaceError:
                            raise
                        except AHUDataError as err:
                            record_failure(entry, err)
                        bar.update()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    finished = [done[entry.name] for entry in entries if entry.name in done]
    report.num_frames = sum(len(sample["frame_names"]) for sample in finished)
    report.num_noise_frames = sum(len(sample["noise_frames"]) for sample in finished)
    try:
        report.noise_list = write_noise_list(
            out_dir / NOISE_LIST_NAME,
            ((sample["name"], sample["noise_frames"]) for sample in finished),
            prefix=out_dir.resolve().as_posix(),
        )
    except OSError as error:
        if error.errno not in _NO_SPACE:
            raise
        raise _out_of_space(out_dir, error) from error
    order = {
        done[entry.name]["name"]: position for position, entry in enumerate(entries) if entry.name in done
    }
    report.processed.sort(key=order.__getitem__)
    report.seconds = time.perf_counter() - start
    return report
