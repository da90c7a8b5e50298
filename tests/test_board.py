"""The weights board: readers in other processes get whole copies of the weights, even when the
writer died in the middle of writing one."""

from __future__ import annotations

import numpy as np

from core.network import init_network
from core.runs.board import WeightsBoard, read_board


def net_filled(value: float):
    net = init_network([6, 5, 3], "relu", np.random.default_rng(0))
    for p in [*net.W, *net.b]:
        p[...] = value
    return net


def test_a_reader_gets_the_latest_published_weights(tmp_path):
    board = WeightsBoard(tmp_path / "board", every=0)
    assert read_board(tmp_path / "board") is None
    for value in (1.0, 2.0, 3.0):
        board.publish(net_filled(value))
        got = read_board(tmp_path / "board")
        assert got.sizes == [6, 5, 3] and all((w == value).all() for w in got.W)


def test_a_writer_killed_half_way_through_a_copy_leaves_the_previous_copy_readable(tmp_path):
    board = WeightsBoard(tmp_path / "board", every=0)
    board.publish(net_filled(1.0))
    board.publish(net_filled(2.0))
    # What a kill in the middle of the next publish leaves: the other copy half-written, its
    # version odd, and readers still pointed at the last whole copy.
    k = 1 - int(board._head[0])
    board._head[2 + k] += 1
    board._copies[k][0][:2] = 9.0
    got = read_board(tmp_path / "board")
    assert got is not None and all((w == 2.0).all() for w in got.W)
