"""initlab.permutations: numpy's Generator.permutation, bit for bit, many epochs of many streams at once."""

import numpy as np
import pytest

from initlab.permutations import permutations
from initlab.seeding import model_streams


def _pair(seed, K):
    return model_streams(seed, K), model_streams(seed, K)


@pytest.mark.parametrize(("seed", "K", "m", "epochs"), [(0, 1, 2, 1), (1, 3, 300, 4), (2, 8, 7, 9), (3, 5, 1, 2),
                                                       (4, 2, 1000, 2), (5, 16, 64, 3)])  # fmt: skip
def test_equals_numpy_permutation_and_leaves_the_streams_where_numpy_would(seed, K, m, epochs):
    ours, theirs = _pair(seed, K)
    got = permutations(ours, m, epochs)
    want = np.stack([np.stack([s.permutation(m) for _ in range(epochs)]) for s in theirs])
    assert got.dtype == np.int64 and got.shape == (K, epochs, m)
    np.testing.assert_array_equal(got, want)
    for a, b in zip(ours, theirs, strict=True):
        assert a.bit_generator.state == b.bit_generator.state
        np.testing.assert_array_equal(a.random(3), b.random(3))  # and the streams go on alike


def test_a_buffered_32_bit_half_is_used_first_as_numpy_uses_it():
    ours, theirs = _pair(7, 4)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):  # odd numbers of 32-bit draws leave a half buffered
        a.integers(0, 10, size=k + 1, dtype=np.uint32)
        b.integers(0, 10, size=k + 1, dtype=np.uint32)
    assert any(s.bit_generator.state["has_uint32"] for s in ours)
    got = permutations(ours, 50, 3)
    np.testing.assert_array_equal(got, np.stack([np.stack([s.permutation(50) for _ in range(3)]) for s in theirs]))
    assert [s.bit_generator.state for s in ours] == [s.bit_generator.state for s in theirs]


def test_fills_a_given_view_and_other_bit_generators_take_numpys_path():
    ours, theirs = _pair(8, 3)
    out = np.full((3, 4, 20), -1, dtype=np.int64)
    permutations(ours, 20, 3, out=out[:, 1:])
    assert (out[:, 0] == -1).all()
    np.testing.assert_array_equal(
        out[:, 1:], np.stack([np.stack([s.permutation(20) for _ in range(3)]) for s in theirs])
    )
    mt = [np.random.Generator(np.random.MT19937(s)) for s in range(2)]
    mt2 = [np.random.Generator(np.random.MT19937(s)) for s in range(2)]
    np.testing.assert_array_equal(
        permutations(mt, 30, 2), np.stack([np.stack([g.permutation(30) for _ in range(2)]) for g in mt2])
    )


def test_a_wrong_step_would_be_seen():
    """The test compares against numpy's own draws: a permutation from a stream one step ahead differs."""
    ours, theirs = _pair(9, 2)
    theirs[0].permutation(10)
    assert not np.array_equal(permutations(ours, 10, 1)[0, 0], theirs[0].permutation(10))
