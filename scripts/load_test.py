"""Load test: N concurrent gradio_client users asking the patient chat (`/chat`) for a fixed time.

    .venv/bin/python scripts/load_test.py                       # starts the app itself on a free loopback port
    .venv/bin/python scripts/load_test.py --url http://127.0.0.1:7860 --users 20 --duration 60

Without --url the app runs in a child process (`python ui.py`, as `make run` does) with a throw-away data
folder and the per-session and per-address rate limits lifted, so the figures measure the pipeline rather than
the limiter.
Each user is its own gradio_client session and sends a question as soon as the previous answer arrives
(closed loop), or with --think S waits about S seconds between messages, the first ones spread over S seconds.
It stops at the deadline or after --max-per-user requests. Prints requests, errors, replies refused by the
rate limit, throughput and latency percentiles; exits 1 when any request failed.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = (
    "How many people took part in the HALT-MS study?",
    "What happened to participants after five years?",
    "What risks or side effects did the article report?",
    "How old were the volunteers?",
    "Did anyone die during the study?",
    "What is HDIT/HCT?",
    "Is the treatment covered by insurance?",
    "Should I stop my medication and get a transplant?",
    "I can't breathe and my chest hurts",
    "Hello!",
    "What did Anthony Fauci say about the results?",
    "How many people have MS in the United States?",
)
RATE_LIMITED = "You're sending messages faster than I can answer"


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(timeout_s: float = 300.0) -> tuple[subprocess.Popen[bytes], str, tempfile.TemporaryDirectory[str]]:
    """`python ui.py` on a free loopback port with a temporary data folder; returns once it answers."""
    data = tempfile.TemporaryDirectory(prefix="halt-ms-load-")
    port = free_port()
    env = {
        **os.environ,
        "BOT_HOST": "127.0.0.1",
        "BOT_PORT": str(port),
        "BOT_DATA_DIR": data.name,
        "BOT_CONFIG": "/nonexistent/bot.toml",
        "BOT_RATE_LIMIT_PER_MINUTE": "1000000",
        "BOT_RATE_LIMIT_PER_IP_PER_MINUTE": "1000000",  # every simulated user comes from 127.0.0.1
        "BOT_STAFF_USER": "",
        "BOT_STAFF_PASSWORD": "",
        "BOT_STAFF_PASSWORD_HASH": "",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = open(Path(data.name) / "server.log", "wb")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen([sys.executable, str(ROOT / "ui.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited early; see {Path(data.name) / 'server.log'}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, data
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the app did not start in time")


def user(
    url: str,
    index: int,
    start: threading.Barrier,
    deadline_box: list[float],
    results: Results,
    *,
    max_requests: int,
    think_s: float,
    timeout_s: float,
) -> None:
    from gradio_client import Client

    rng = random.Random(index)
    try:
        client = Client(url, verbose=False, download_files=False)
    except Exception as exc:
        with results.lock:
            results.errors.append(f"user {index}: could not connect: {exc}")
        start.abort()
        return
    start.wait()
    if think_s:  # people do not all press Enter in the same instant: spread the first messages out
        time.sleep(rng.uniform(0, think_s))
    for _ in range(max_requests):
        if time.monotonic() >= deadline_box[0]:
            break
        question = rng.choice(QUESTIONS)
        began = time.perf_counter()
        try:
            text = client.submit(message=question, api_name="/chat").result(timeout=timeout_s)
            elapsed = time.perf_counter() - began
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"empty answer to {question!r}")
        except (FutureTimeout, Exception) as exc:
            with results.lock:
                results.errors.append(f"user {index}: {type(exc).__name__}: {exc}"[:300])
            continue
        with results.lock:
            if text.startswith(RATE_LIMITED):
                results.limited += 1
            else:
                results.latencies.append(elapsed)
        if think_s:
            time.sleep(rng.uniform(0.5, 1.5) * think_s)
    client.close()


def run(
    url: str, users: int, duration_s: float, *, max_per_user: int, think_s: float, timeout_s: float
) -> tuple[Results, float]:
    results = Results()
    start = threading.Barrier(users + 1)
    deadline = [float("inf")]
    threads = [
        threading.Thread(
            target=user,
            args=(url, i, start, deadline, results),
            kwargs={"max_requests": max_per_user, "think_s": think_s, "timeout_s": timeout_s},
            daemon=True,
        )
        for i in range(users)
    ]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=120)
    except threading.BrokenBarrierError:
        raise SystemExit("some users could not connect: " + "; ".join(results.errors[:3])) from None
    began = time.monotonic()
    deadline[0] = began + duration_s
    for thread in threads:
        thread.join(timeout=duration_s + timeout_s + 30)
    return results, time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app; default: start one on a free loopback port")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a user's messages (s)")
    parser.add_argument("--max-per-user", type=int, default=10_000, help="bound on each user's requests")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request limit (s); slower is an error")
    args = parser.parse_args(argv)

    proc = data = None
    url = args.url
    if url is None:
        print("starting the app (model load and index build take a little while)...", flush=True)
        proc, url, data = start_app()
    try:
        print(f"{args.users} users for {args.duration:.0f}s against {url}/chat ...", flush=True)
        results, elapsed = run(
            url,
            args.users,
            args.duration,
            max_per_user=args.max_per_user,
            think_s=args.think,
            timeout_s=args.timeout,
        )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if data is not None:
            data.cleanup()

    ms = [v * 1000 for v in results.latencies]
    total = len(ms) + len(results.errors) + results.limited
    print(f"requests:     {total}")
    print(f"errors:       {len(results.errors)}")
    print(f"rate-limited: {results.limited}")
    print(f"throughput:   {total / elapsed:.1f} requests/s over {elapsed:.1f}s")
    if ms:
        print(f"latency p50:  {percentile(ms, 0.50):.0f} ms")
        print(f"latency p95:  {percentile(ms, 0.95):.0f} ms")
        print(f"latency p99:  {percentile(ms, 0.99):.0f} ms")
        print(f"latency max:  {max(ms):.0f} ms  (mean {statistics.fmean(ms):.0f} ms)")
    for line in results.errors[:10]:
        print("  error:", line)
    return 1 if results.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
