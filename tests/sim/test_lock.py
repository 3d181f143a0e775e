"""Two simulations of one build folder take turns."""

import threading

from sim.lock import build_lock


def test_a_second_user_of_a_build_folder_waits(tmp_path):
    order, waited = [], threading.Event()

    def second():
        with build_lock(tmp_path / "b", progress=lambda text: waited.set()):
            order.append("second")

    with build_lock(tmp_path / "b"):
        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(10)  # it reported the wait ...
        order.append("first")  # ... and did not enter while the first held the lock
    thread.join(10)
    assert order == ["first", "second"]
    with build_lock(tmp_path / "b"):  # released by both
        pass
