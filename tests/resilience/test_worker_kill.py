"""A gunicorn worker killed with SIGKILL in the middle of a booking: the sale is settled from XCover, once.

The sandbox holds the booking (an 8-second latency, holding the idempotency key), the worker whose connection to
XCover is open is found through /proc and killed with SIGKILL: nothing after the kill runs in it. gunicorn's master
starts a new worker; the sale is left "being booked"; XCover finishes the booking; `flask reconcile` replays the
booking with the sale's own key, XCover answers with the booking it made, and the sale is booked, once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import requests

from . import flows
from .flows import Stack

HOLD_SECONDS = 8


def sockets_to(port: int) -> set[str]:
    """The inodes of established TCP connections (IPv4) whose far end is this local port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            inodes.add(inode)
    return inodes


def worker_calling(stack: Stack) -> int:
    """The portal worker with a connection open to XCover (the sandbox keeps none open between calls)."""
    deadline = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < deadline:
        inodes = sockets_to(stack.sandbox.port)
        for pid in stack.portal.workers():
            fds = Path(f"/proc/{pid}/fd")
            links = set()
            for fd in fds.iterdir():
                try:
                    links.add(os.readlink(fd))
                except OSError:
                    continue
            if any(f"socket:[{inode}]" in links for inode in inodes):
                return pid
        time.sleep(0.05)
    raise AssertionError("no worker is calling XCover")


def test_a_worker_killed_mid_booking_leaves_one_booking_that_reconcile_settles(stack: Stack) -> None:
    alex = stack.counter()
    sale_id = flows.to_payment(alex)
    body = flows.payment_body(alex, sale_id)
    stack.sandbox.fault("create_booking", "latency", 1, HOLD_SECONDS)
    lost: list[BaseException] = []

    def pay() -> None:
        try:
            alex.http.post(f"{alex.base}/sales/{sale_id}/payment", data=body, timeout=60, allow_redirects=False)
        except requests.RequestException as exc:
            lost.append(exc)

    tap = threading.Thread(target=pay)
    tap.start()
    deadline = time.monotonic() + HOLD_SECONDS
    while stack.sale_status(sale_id) != "booking" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.sale_status(sale_id) == "booking"
    victim = worker_calling(stack)
    os.kill(victim, signal.SIGKILL)
    tap.join(30)
    assert lost, "the tap got an answer from a killed worker"

    # The master starts another worker; the portal keeps serving, and the sale says it is not yet confirmed.
    deadline = time.monotonic() + 30
    while (victim in stack.portal.workers() or len(stack.portal.workers()) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert victim not in stack.portal.workers() and len(stack.portal.workers()) == 2
    page = alex.get(f"/sales/{sale_id}").text
    assert "Not yet confirmed, checking" in page

    stack.sandbox.settle()  # XCover finishes the booking it was holding
    ref = stack.portal.scalar("SELECT xcover_ref FROM sale WHERE id = :id", id=sale_id)
    assert dict(stack.sandbox.booked()).get(ref) == "CONFIRMED"
    assert stack.sale_status(sale_id) == "booking"
    output = stack.portal.flask("reconcile", "--stale-seconds", "0")
    assert f"Sale {sale_id} {ref}: Covered" in output, output
    assert stack.sale_status(sale_id) == "booked"
    assert "SIGKILL" in stack.portal.log_text()
    flows.assert_settled(stack)
