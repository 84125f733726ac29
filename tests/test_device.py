"""One rule for the device everywhere: grader/device.py, used by pytest's --device, train, sample and bench."""

import pytest
import torch

from grader.device import DeviceError, resolve


def test_auto_and_cpu():
    assert resolve("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve("cpu") == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps0", ""])
def test_a_name_it_does_not_know_says_what_it_knows(name):
    with pytest.raises(DeviceError, match="choose auto, cpu, cuda or cuda:N"):
        resolve(name)


def test_a_gpu_this_machine_lacks_is_a_clear_error():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for name in (["cuda", "cuda:0"] if not count else []) + [f"cuda:{count}"]:
        with pytest.raises(DeviceError, match="CUDA is not available here|GPU\\(s\\), numbered from 0"):
            resolve(name)


def test_the_trainer_and_the_checks_share_it():
    from grader.student.plugin import _resolve_device
    from grader.trainer.train import TrainError, resolve_device

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(TrainError) as train_error:
        resolve_device("cuda:1")
    with pytest.raises(pytest.UsageError) as usage_error:
        _resolve_device("cuda:1")
    assert str(train_error.value) == str(usage_error.value)
