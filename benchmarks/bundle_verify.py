"""Bundle verification throughput against `sha256sum` of the same bytes, and its peak memory.

For each size: random payload files, a signed bundle of them (`suite-bastion bundle create`),
then alternating rounds of `sha256sum PAYLOAD...` and `suite-bastion bundle verify BUNDLE`
(warm page cache for both). Throughput is payload bytes / wall time; peak RSS is the verify
process's own ru_maxrss (os.wait4), so a flat number across sizes shows memory does not grow.
`openssl dgst -sha256` is timed too, as the fastest hashing this machine does.

    .venv/bin/python benchmarks/bundle_verify.py --sizes 0.5,2 --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import machine_line  # benchmarks/ is on sys.path: run as a script
from results_file import replace_section  # benchmarks/ is on sys.path: run as a script

BIN = Path(sys.executable).parent
GIB = 1024**3
SECTION = "## Bundle verification (suite-bastion bundle verify)"


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss


def make_payload(directory: Path, size: int, files: int) -> list[Path]:
    directory.mkdir(parents=True)
    paths = []
    for index in range(files):
        path = directory / f"model-{index + 1:05d}-of-{files:05d}.safetensors"
        remaining = size // files
        with path.open("wb") as out:
            # A valid-looking safetensors header, then random bytes.
            out.write((2).to_bytes(8, "little") + b"{}")
            remaining -= 10
            while remaining > 0:
                block = os.urandom(min(remaining, 16 * 1024 * 1024))
                out.write(block)
                remaining -= len(block)
        paths.append(path)
    (directory / "config.json").write_text('{"model_type": "llama"}\n')
    return paths


def measure(work: Path, size: int, files: int, rounds: int) -> dict[str, float]:
    payload_dir = work / "payload"
    payloads = make_payload(payload_dir, size, files)
    keys = work / "keys"
    subprocess.run([BIN / "suite-bastion", "keygen", "--out", keys], check=True, capture_output=True)
    bundle = work / "bench.tar"
    create = [BIN / "suite-bastion", "bundle", "create", "--out", bundle, "--key", keys / "bundle-signing"]
    create_s, _ = timed([str(a) for a in [*create, "--files", payload_dir, "--name", "bench", "--version", "1.0"]])
    verify = [str(BIN / "suite-bastion"), "bundle", "verify", str(bundle), "--trusted-keys"]
    verify.append(str(keys / "bundle-signing.pub"))
    sha256sum = ["sha256sum", *map(str, payloads)]
    openssl = ["openssl", "dgst", "-sha256", *map(str, payloads)]
    timed(sha256sum)  # warm the page cache for both sides
    results: dict[str, list[float]] = {"sha256sum": [], "verify": [], "openssl": [], "rss": []}
    for _ in range(rounds):
        results["sha256sum"].append(timed(sha256sum)[0])
        elapsed, rss = timed(verify)
        results["verify"].append(elapsed)
        results["rss"].append(rss)
        results["openssl"].append(timed(openssl)[0])
    payload_bytes = sum(p.stat().st_size for p in payloads)
    shutil.rmtree(payload_dir)
    bundle.unlink()
    mib = payload_bytes / 1024**2
    return {
        "gib": payload_bytes / GIB,
        "create_s": create_s,
        "sha256sum": mib / statistics.median(results["sha256sum"]),
        "verify": mib / statistics.median(results["verify"]),
        "openssl": mib / statistics.median(results["openssl"]),
        "rss_mib": max(results["rss"]) / 1024,
    }


def report(rows: list[dict[str, float]], command: str, rounds: int) -> str:
    lines = [
        SECTION,
        "",
        "A signed bundle of random payload files (uncompressed tar, as the suite writes it) verified by the CLI "
        "(signature, then every member streamed and hashed against the manifest) against `sha256sum` of the "
        "same payload files, side by side, warm page cache, median of "
        f"{rounds} alternating round(s). Peak RSS is the verify process's own `ru_maxrss`. "
        "`openssl dgst -sha256` of the same files is shown as the fastest hashing on this machine.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine_line()}",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| Payload GiB | Create s | sha256sum MiB/s | verify MiB/s | Ratio verify/sha256sum | openssl MiB/s "
        "| Verify peak RSS MiB | Target |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row["verify"] / row["sha256sum"]
        lines.append(
            f"| {row['gib']:.2f} | {row['create_s']:.1f} | {row['sha256sum']:.0f} | {row['verify']:.0f} | "
            f"{ratio:.2f} | {row['openssl']:.0f} | {row['rss_mib']:.0f} | {'met' if ratio >= 0.8 else 'missed'} |"
        )
    lines += ["", "Target: verify throughput >= 0.8 of sha256sum; peak memory flat across bundle sizes.", ""]
    return "\n".join(lines)


def write_results(path: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it)."""
    replace_section(path, SECTION, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.5,2", help="Payload sizes in GiB, comma-separated.")
    parser.add_argument("--files", type=int, default=4, help="Payload files per bundle.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--results", type=Path, help="Add or replace the section in this RESULTS.md.")
    args = parser.parse_args()
    sizes = [int(float(s) * GIB) for s in args.sizes.split(",")]
    free = shutil.disk_usage(args.work_dir).free
    if free < 2.2 * max(sizes):
        raise SystemExit(f"{args.work_dir} has {free / GIB:.1f} GiB free; {2.2 * max(sizes) / GIB:.1f} GiB needed")
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=args.work_dir, prefix="bundle-bench-") as work:
            rows.append(measure(Path(work), size, args.files, args.rounds))
            print(rows[-1], flush=True)
    command = " ".join([".venv/bin/python", "benchmarks/bundle_verify.py", *sys.argv[1:]])
    section = report(rows, command, args.rounds)
    print(section)
    if args.results:
        write_results(args.results, section)


if __name__ == "__main__":
    main()
