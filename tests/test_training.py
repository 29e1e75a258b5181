import pytest
import torch
from torch import nn

from mnlab import training


def _tiny():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def test_digits_split_is_stratified_disjoint_and_complete():
    data = training.digits()
    assert len(data.x_train) + len(data.x_test) == 1797
    assert data.x_train.shape[1:] == (1, 8, 8) and float(data.x_train.max()) <= 1.0
    assert len(data.x_test) == 450                       # ceil(0.25 × 1797), sklearn's rounding
    per_class = torch.bincount(torch.cat([data.y_train, data.y_test]), minlength=10)
    in_test = torch.bincount(data.y_test, minlength=10)
    assert ((in_test - 0.25 * per_class).abs() <= 1).all()   # stratified: each class in proportion
    train_rows = {tuple(r.flatten().tolist()) for r in data.x_train[:200]}
    assert not train_rows & {tuple(r.flatten().tolist()) for r in data.x_test}


def test_train_learns_is_deterministic_and_restores_torch_state():
    data = training.digits().head(400, 200)
    threads = torch.get_num_threads()
    model, history = training.train(_tiny, data, seed=3, epochs=4, lr=0.05)
    _, again = training.train(_tiny, data, seed=3, epochs=4, lr=0.05)
    assert list(history.columns) == ["epoch", "train_loss", "test_loss", "test_acc"]
    assert history.epoch.tolist() == [1, 2, 3, 4]
    assert history.equals(again)
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]
    assert history.test_acc.iloc[-1] > 60                # chance is 10%
    assert history.test_acc.iloc[-1] == pytest.approx(training.accuracy(model, data.x_test, data.y_test))
    assert not model.training and torch.get_num_threads() == threads


def test_seed_changes_the_run():
    data = training.digits().head(300, 100)
    _, a = training.train(_tiny, data, seed=0, epochs=2)
    _, b = training.train(_tiny, data, seed=1, epochs=2)
    assert not a.equals(b)


@pytest.mark.parametrize("kwargs, name", [({"epochs": 0}, "epochs"), ({"batch_size": 2.5}, "batch_size"),
                                          ({"lr": float("inf")}, "lr"), ({"epochs": True}, "epochs")])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        training.train(_tiny, training.digits().head(10, 10), **kwargs)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, "a", True])
def test_bad_split(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        training.digits(fraction)
