# SPDX-License-Identifier: MIT
"""Every photo of ../shared/data/faces through the real broker and analyzer: each, JPEG or
PNG, is a whole file and gets a FRAME_RESULT, sent as a binary message and as base64 in a
FRAME event. Twelve of the JPEGs carry bytes after their end-of-image marker, as cameras and
photo tools leave them. A file of its own: it analyzes over 300 frames, which would not fit
in test_frames.py's time budget."""

import asyncio
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ENGINE, check, data_of, run_tests, timeout  # noqa: E402
from test_frames import FACES, connect, frames_broker, photo  # noqa: E402

STUDENTS = 4


@timeout(100)
async def test_every_photo_is_analyzed():
    """Four students stream in parallel, each sending its next frame once the previous one
    was answered (a newer frame would replace a waiting one), so both analyzer threads stay
    busy while nothing is skipped, replaced or rate limited. On the Redis engine, where the
    file runs again, each photo goes once, by the two ways in turn: intake does not depend
    on the engine, and the run stays short."""
    names = sorted(n for n in os.listdir(FACES) if n.lower().endswith((".jpg", ".png")))
    check(len(names) >= 150, f"only {len(names)} photos in {FACES}")
    both = ENGINE != "redis"
    b = frames_broker({"ROLLCALL_FRAME_RATE": "1000", "ROLLCALL_FRAME_INTERVAL": "60",
                       "ROLLCALL_ANALYZER_QUEUE": "16"})
    t = await connect(b, "t-1", "teacher")
    students = [await connect(b, f"s-{k}", "student") for k in range(STUDENTS)]
    await t.call("SESSION_START", {})
    problems = []
    sent = 0

    def answered(m):
        return m.get("event") in ("ERROR", "FRAME_RESULT")

    async def stream(k):
        nonlocal sent
        s = students[k]
        for i, name in enumerate(names[k::STUDENTS]):
            img = photo(name)
            if both or i % 2 == 0:
                await s.send_raw(img)
                m = await s.recv_event(None, timeout=60, pred=answered)
                sent += 1
                if m.get("event") != "FRAME_RESULT":
                    problems.append(f"{name} as a binary message: {data_of(m)}")
            if both or i % 2 == 1:
                rid = f"p{k}-{i}"
                mime = "png" if name.endswith(".png") else "jpeg"
                url = f"data:image/{mime};base64," + base64.b64encode(img).decode()
                m = await s.request("FRAME", {"image": url}, id=rid, timeout=60)
                sent += 1
                if m.get("event") != "FRAME_RESULT":
                    problems.append(f"{name} as base64: {data_of(m)}")

    t0 = time.monotonic()
    await asyncio.gather(*(stream(k) for k in range(STUDENTS)))
    dt = time.monotonic() - t0
    check(not problems, f"{len(problems)} of {sent} frames not analyzed: " +
          "; ".join(problems[:8]))
    check(sent == (2 if both else 1) * len(names), f"{sent} frames sent")
    m = b.metrics()
    check(m.get("rollcall_frames_total", outcome="analyzed") >= sent,
          "rollcall_frames_total{outcome=analyzed}")
    print(f"   {len(names)} photos, {sent} frames analyzed in {dt:.1f} s", flush=True)


if __name__ == "__main__":
    run_tests(globals())
