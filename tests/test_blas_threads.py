"""The numpy engine's BLAS threads: one for small layers, every core BLAS may use for wide ones (initlab.state)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from initlab.network import MLP
from initlab.state import WIDE_MULTIPLY_ADDS, blas_threads, max_cores
from initlab.training import train


def test_the_rule_reads_the_largest_product_of_one_model():
    assert blas_threads((2, 10, 5, 1), 300) == 1  # the notebook's network
    n = int(np.ceil(np.sqrt(WIDE_MULTIPLY_ADDS / 300)))
    assert blas_threads((2, n - 1, 1), 300) == 1
    with threadpool_limits(limits=max_cores(), user_api="blas"):
        assert blas_threads((2, n, n, 1), 300) == max_cores()
        assert blas_threads((2, n, n, 1), 10) == 1  # a minibatch of 10 makes the same layers small
    with threadpool_limits(limits=1, user_api="blas"):  # a sweep's worker, or a user's OPENBLAS_NUM_THREADS=1
        assert blas_threads((2, 4096, 4096, 1), 300) == 1


def test_train_takes_blas_threads_and_refuses_what_the_machine_lacks():
    net = MLP((2, 8, 1))
    params = net.initialize("he_normal", rng=0, models=2)
    X = np.random.default_rng(0).standard_normal((2, 40))
    Y = (X[0] > 0).astype(float)[None, :]
    one = train(net, params, X, Y, iterations=20, record_every=10, threads=1)
    auto = train(net, params, X, Y, iterations=20, record_every=10)
    np.testing.assert_array_equal(one.loss, auto.loss)  # small layers: the automatic choice is one thread
    with pytest.raises(ValueError, match="'threads'"):
        train(net, params, X, Y, iterations=1, threads=max_cores() + 1)
    with pytest.raises(ValueError, match="'threads'"):
        train(net, params, X, Y, iterations=1, threads=0)
