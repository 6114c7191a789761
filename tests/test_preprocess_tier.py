"""`preprocess_tier` never overwrites and never goes stale: one folder per sample, resume markers that follow
the source and the options, and worker processes that die with their parent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hf_loader.constants import NOISE_LIST_NAME
from hf_loader.errors import DuplicateSampleError
from hf_loader.naming import parse_filtered_name
from hf_loader.noise_list import read_noise_list
from hf_loader.preprocess import (
    NoiseSettings,
    PreprocessOptions,
    preprocess_tier,
    processed_folder_name,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
# Every frame is noise: each finished sample gets a block in noise_files.txt.
ALL_NOISE = PreprocessOptions(noise=NoiseSettings(eps=0.01))


@pytest.fixture
def two_videos(tmp_path, sample_archive, sample_manifest) -> tuple[Path, list[Path]]:
    """A filtered folder with two different videos of the sample archive: (folder, [source paths])."""
    folder = tmp_path / "filtered"
    folder.mkdir()
    sources = [
        sample_archive / s["filtered_path"] for s in sample_manifest["samples"] if s["kind"] == "video"
    ][:2]
    for source in sources:
        shutil.copyfile(source, folder / source.name)
    return folder, sources


def test_two_entries_for_one_folder_are_an_error_naming_both(two_videos, tmp_path):
    folder, sources = two_videos
    shutil.copyfile(sources[0], folder / "Video_5_Nodule.mp4")
    shutil.copyfile(sources[1], folder / "Video_05_Nodule.mp4")
    out = tmp_path / "out"
    with pytest.raises(
        DuplicateSampleError, match=r"Video_05_Nodule\.mp4 and Video_5_Nodule\.mp4.*5_Nodule/"
    ):
        preprocess_tier(folder, out, num_workers=1, progress=False)
    assert not (out / "5_Nodule").exists()


def test_lenient_mode_leaves_out_both_colliding_entries_and_lists_each_folder_once(two_videos, tmp_path):
    folder, sources = two_videos
    shutil.copyfile(sources[0], folder / "Video_5_Nodule.mp4")
    shutil.copyfile(sources[1], folder / "Video_05_Nodule.mp4")
    out = tmp_path / "out"
    report = preprocess_tier(folder, out, ALL_NOISE, num_workers=1, lenient=True, progress=False)
    kept = sorted(path.name for path in out.iterdir() if path.is_dir() and not path.name.startswith("."))
    expected = sorted(processed_folder_name(parse_filtered_name(source.name)) for source in sources)
    assert kept == expected and sorted(report.processed) == expected
    assert report.num_failed == 2
    assert sorted(name for name, _ in report.failed["duplicate sample number"]) == [
        "Video_05_Nodule.mp4",
        "Video_5_Nodule.mp4",
    ]
    summary = report.summary()
    assert "2 skipped as bad input" in summary and "Video_05_Nodule.mp4 and Video_5_Nodule.mp4" in summary
    text = (out / NOISE_LIST_NAME).read_text(encoding="utf-8")
    listed = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Subdirectory: ")]
    assert sorted(listed) == expected  # each kept folder once, the colliding one not at all
    assert set(read_noise_list(out / NOISE_LIST_NAME)) == set(expected)


def test_a_source_replaced_after_a_run_is_redone(two_videos, tmp_path):
    folder, sources = two_videos
    out = tmp_path / "out"
    preprocess_tier(folder, out, num_workers=1, progress=False)
    target = folder / sources[0].name
    folder_name = processed_folder_name(parse_filtered_name(target.name))
    before = np.asarray(Image.open(out / folder_name / "01.jpg"))
    shutil.copyfile(sources[1], target)  # another video under the same name
    rerun = preprocess_tier(folder, out, num_workers=1, progress=False)
    assert rerun.processed == [folder_name] and len(rerun.skipped_done) == 1
    after = np.asarray(Image.open(out / folder_name / "01.jpg"))
    assert before.shape == after.shape and not np.array_equal(before, after)
    # Same bytes, newer modification time (an edit that kept the size): redone as well.
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert preprocess_tier(folder, out, num_workers=1, progress=False).processed == [folder_name]
    assert preprocess_tier(folder, out, num_workers=1, progress=False).processed == []


def test_an_image_added_to_an_image_set_is_redone(tmp_path, sample_archive, sample_manifest):
    folder = tmp_path / "filtered"
    source = next(
        sample_archive / s["filtered_path"] for s in sample_manifest["samples"] if s["kind"] == "image_set"
    )
    shutil.copytree(source, folder / source.name)
    out = tmp_path / "out"
    first = preprocess_tier(folder, out, num_workers=1, progress=False)
    image = min((folder / source.name).iterdir())
    shutil.copyfile(image, image.with_name("zz_extra" + image.suffix))
    second = preprocess_tier(folder, out, num_workers=1, progress=False)
    assert second.processed == first.processed and second.num_frames == first.num_frames + 1


def test_changed_options_are_redone(two_videos, tmp_path):
    folder, _ = two_videos
    out = tmp_path / "out"
    first = preprocess_tier(folder, out, num_workers=1, progress=False)
    second = preprocess_tier(folder, out, PreprocessOptions(stride=5), num_workers=1, progress=False)
    assert second.processed == first.processed and not second.skipped_done
    assert second.num_frames > first.num_frames


KILLED_PARENT = textwrap.dedent(
    """
    import sys
    from hf_loader.preprocess import preprocess_tier

    print("started", flush=True)
    preprocess_tier(sys.argv[1], sys.argv[2], num_workers=2, progress=False)
    """
)


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it; it runs no code)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes through /proc")
def test_workers_exit_when_the_parent_is_killed(sample_archive, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(sample_archive / "filtered"), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    workers: list[int] = []
    try:
        assert parent.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 120
        # Kill it mid-run: once a first sample is finished, with the others queued or in the workers' hands.
        while not list((out / ".preprocess").glob("*.json")):
            assert parent.poll() is None and time.monotonic() < deadline, (
                "the run ended before a sample was done"
            )
            time.sleep(0.05)
        workers = _children(parent.pid)
        assert len(workers) >= 2, workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)

        # stdout is released: with every holder of the pipe gone, reading it ends.
        ended = threading.Event()
        threading.Thread(target=lambda: (parent.stdout.read(), ended.set()), daemon=True).start()
        assert ended.wait(timeout=30), f"stdout still held by {[pid for pid in workers if _running(pid)]}"
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _running(pid)], "workers outlived their parent"
        # Nothing writes on.
        written = sorted(str(path) for path in out.rglob("*"))
        time.sleep(1.0)
        assert sorted(str(path) for path in out.rglob("*")) == written
    finally:
        for pid in [parent.pid, *workers]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        parent.stdout.close()
