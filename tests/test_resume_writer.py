"""Resume files written by a thread (as a GPU run writes them): the file holds the state as it
was when handed over, whatever training changes afterwards, and a failed write is raised."""

from __future__ import annotations

import pytest
import torch

from atr_bench.run.resume_writer import ResumeWriter, on_host


def test_a_background_file_holds_the_state_as_handed_over(tmp_path):
    weights, curve = torch.arange(6.0), [{"epoch": 1}]
    state = {"model": {"w": weights}, "curve": curve, "step": (torch.tensor(3), 0.5)}
    writer = ResumeWriter(background=True)
    writer.write(tmp_path / "resume.pt", state)
    weights.add_(100.0)  # training goes on at once
    curve.append({"epoch": 2})
    writer.wait()
    writer.close()
    saved = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert torch.equal(saved["model"]["w"], torch.arange(6.0))
    assert saved["curve"] == [{"epoch": 1}] and saved["step"][1] == 0.5


def test_each_write_waits_for_the_one_before(tmp_path):
    writer = ResumeWriter(background=True)
    for epoch in range(1, 4):
        writer.write(tmp_path / "resume.pt", {"epoch": epoch, "w": torch.full((1000,), epoch)})
    writer.wait()
    writer.close()
    assert torch.load(tmp_path / "resume.pt", weights_only=True)["epoch"] == 3


def test_a_failed_background_write_is_raised_by_the_next_call(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the resume file's folder should be")
    writer = ResumeWriter(background=True)
    writer.write(blocker / "resume.pt", {"w": torch.zeros(3)})  # returns before writing
    with pytest.raises(OSError):
        writer.wait()
    writer.wait()  # raised once
    writer.close()


def test_the_host_copy_shares_nothing_with_the_state():
    tensor = torch.ones(3)
    state = {"a": [tensor, {"b": tensor}], "c": "text"}
    copy = on_host(state)
    tensor.zero_()
    assert torch.equal(copy["a"][0], torch.ones(3)) and torch.equal(
        copy["a"][1]["b"], torch.ones(3)
    )
    assert copy["c"] == "text" and copy["a"] is not state["a"]
