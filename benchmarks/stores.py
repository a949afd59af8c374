"""Benchmark: object stores. Signing rate, and listing a large prefix as a manifest.

* **Signing**: URLs signed per second, one at a time as ferry signs them (right before each
  upload call), by ferry's :class:`~pipeline.buckets.signing.Signer`: S3 (obstore, SigV4 HMAC),
  GCS (obstore, V4 with an RSA-2048 key), Azure (the Azure SDK's SAS); beside boto3's
  ``generate_presigned_url`` for the same S3 objects in the same run. Goal: S3 at least
  20,000 URLs/s on this 2-core machine. No network: signing is local.
* **Listing + plan**: ``ferry run s3://bucket/photos/ --dry-run`` (list page by page, build the
  rows, plan them against an empty table) against moto's S3 server, beside a boto3
  ``list_objects_v2`` paginator over the same prefix of the same server, each a separate
  process, alternating, medians of 3. Goal: within 1.5x of the paginator. moto lists slowly
  (each page scans the whole bucket: a bucket of 20,000 objects takes it about 20 s), so the
  bucket holds 20,000 objects.
* **A million objects**: the same listing and plan over 1,000,000 objects of obstore's own
  in-memory store (the object_store crate's ``InMemory``: the same listing code path, without
  HTTP), in a child process: its peak RSS and time, beside the peak of the same process that
  only fills the store. Memory holds one page of the listing and the plan's partitions, never
  the whole bucket.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from benchmarks.common import WORK, loadavg, markdown_table, python_module, run_child

SIGN_COUNT = 20_000
GCS_SIGN_COUNT = 1_000
LIST_OBJECTS = 20_000
MILLION = 1_000_000
REPEATS = 3
GOAL_SIGN_RATE = 20_000
GOAL_LIST_RATIO = 1.5

_PAGINATOR = """
import sys, boto3
client = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench-secret")
count = 0
for page in client.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2], Prefix="photos/"):
    count += len(page.get("Contents", []))
print(count)
"""

#: Modes: "fill" fills obstore's in-memory store with N objects and stops; "list" also drains
#: the store's listing (no ferry); "plan" lists and plans the prefix with ferry; "csv" plans
#: the same N URIs from a CSV manifest (no store at all): the plan's usual memory.
_MILLION = """
import json, sys, time, tempfile, pathlib
from datetime import UTC, datetime
count, mode = int(sys.argv[1]), sys.argv[2]
keys = (f"photos/{i // 1000:05d}/img-{i:07d}.jpg" for i in range(count))
if mode != "csv":
    import obstore
    from obstore.store import MemoryStore
    memory = MemoryStore()
    for key in keys:
        obstore.put(memory, key, b"x")
from pipeline.manifest import open_manifest
from pipeline.manifest.options import ManifestOptions
from pipeline.plan.planner import ManifestNames, PlanOptions, make_plan
from pipeline.store import ResultStore
from pipeline.buckets.environment import StoreEnvironment
from pipeline.buckets.registry import Stores
from pipeline.buckets.uris import parse_store_uri
started, planned = time.perf_counter(), 0
folder = pathlib.Path(tempfile.mkdtemp())
if mode == "list":
    planned = sum(b.num_rows for b in obstore.list(memory, "photos", chunk_size=25_000,
                                                   return_arrow=True))
elif mode in ("plan", "csv"):
    stores = Stores(StoreEnvironment({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}))
    source = "s3://bench/photos/"
    if mode == "plan":
        stores._clients[parse_store_uri(source).store_id] = memory  # list the in-memory store
    else:
        source = folder / "m.csv"
        with open(source, "w") as out:
            out.write("url\\n" + "".join(f"s3://bench/{k}\\n" for k in keys))
    store = ResultStore(folder / "t.parquet")
    with (open_manifest(source, options=ManifestOptions(), stores=stores) as m,
          store.open_run(dry_run=True) as space):
        names = ManifestNames(m.label, "id", "file_name", None, hashed_ids=m.hashes_ids)
        plan = make_plan(m.batches(25_000), space.table_rows(), PlanOptions(now=datetime.now(UTC)),
                         base=space.base, scratch=space.scratch, chunks=None, names=names)
        planned = plan.counts["new"]
status = open("/proc/self/status").read().splitlines()
hwm = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - started, "planned": planned, "hwm_kib": hwm}))
"""


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure, and return the figures for ``results.json``."""
    load = loadavg()
    signing = _signing(SIGN_COUNT // 10 if quick else SIGN_COUNT)
    listing = _listing(LIST_OBJECTS // 10 if quick else LIST_OBJECTS, 1 if quick else REPEATS)
    million = _million(MILLION // 20 if quick else MILLION)
    return {
        "signing": signing,
        "listing": listing,
        "million": million,
        "load_before": load,
        "load_after": loadavg(),
    }


def _signing(count: int) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    import boto3
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from pipeline.buckets.environment import StoreEnvironment
    from pipeline.buckets.registry import Stores
    from pipeline.buckets.signing import Signer
    from pipeline.buckets.uris import parse_store_uri

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    folder = Path(tempfile.mkdtemp(dir=WORK if WORK.exists() else None))
    key_file = folder / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "private_key": pem,
                "private_key_id": "k",
                "client_email": "b@p.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    env = StoreEnvironment(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
            "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
        }
    )
    signer = Signer(Stores(env), 3600)
    keys = [f"photos/{i // 1000:04d}/img {i:07d}.jpg" for i in range(count)]

    def rate(scheme: str, n: int) -> float:
        uris = [parse_store_uri(f"{scheme}://bench/{k}") for k in keys[:n]]
        signer.sign(uris[0])  # type: ignore[arg-type]  # the client is made once, not timed
        started = time.perf_counter()
        for uri in uris:
            signer.sign(uri)  # type: ignore[arg-type]
        return n / (time.perf_counter() - started)

    figures = {
        "count": count,
        "s3": rate("s3", count),
        "gcs": rate("gs", min(count, GCS_SIGN_COUNT)),
        "azure": rate("az", count),
    }
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    )
    client.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": keys[0]})
    n = min(count, 5_000)
    started = time.perf_counter()
    for k in keys[:n]:
        client.generate_presigned_url(
            "get_object", Params={"Bucket": "bench", "Key": k}, ExpiresIn=3600
        )
    figures["boto3"] = n / (time.perf_counter() - started)
    print(
        f"stores: signing S3 {figures['s3']:,.0f}/s, boto3 {figures['boto3']:,.0f}/s, "
        f"GCS {figures['gcs']:,.0f}/s, Azure {figures['azure']:,.0f}/s",
        flush=True,
    )
    return figures


def _listing(objects: int, repeats: int) -> dict[str, Any]:
    import logging

    import boto3
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
        ).create_bucket(Bucket="bench")
        backend = s3_backends["123456789012"]["aws"]
        for i in range(objects):  # in-process: moto's HTTP puts would take minutes
            backend.put_object("bench", f"photos/{i // 1000:04d}/img-{i:07d}.jpg", b"x")
        env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }
        work = WORK / "stores"
        work.mkdir(parents=True, exist_ok=True)
        ferry, boto = [], []
        for _ in range(repeats):
            results = work / "photos.results.parquet"
            child = run_child(
                python_module(
                    "jobs",
                    "run",
                    "s3://bench/photos/",
                    "--dry-run",
                    "--json",
                    "--results",
                    str(results),
                ),
                env=env,
            )
            assert child.json()["new"] == objects, child.stdout
            ferry.append(child.wall_seconds)
            listed = run_child([sys.executable, "-c", _PAGINATOR, endpoint, "bench"], env=env)
            assert int(listed.stdout.strip()) == objects
            boto.append(listed.wall_seconds)
    finally:
        server.stop()
    figures = {
        "objects": objects,
        "ferry_seconds": ferry,
        "boto3_seconds": boto,
        "ratio": statistics.median(ferry) / statistics.median(boto),
    }
    print(
        f"stores: listing {objects:,} objects: ferry --dry-run {statistics.median(ferry):.1f} s,"
        f" boto3 paginator {statistics.median(boto):.1f} s ({figures['ratio']:.2f}x)",
        flush=True,
    )
    return figures


def _million(count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"objects": count}
    for mode in ("fill", "list", "plan", "csv"):
        child = run_child([sys.executable, "-c", _MILLION, str(count), mode])
        measured = json.loads(child.stdout)
        assert mode == "fill" or measured["planned"] == count, measured
        figures[f"{mode}_peak_mib"] = measured["hwm_kib"] / 1024
        figures[f"{mode}_seconds"] = measured["seconds"]
    print(
        f"stores: {count:,} objects listed and planned in {figures['plan_seconds']:.1f} s, "
        f"peak {figures['plan_peak_mib']:.0f} MiB (the store filled "
        f"{figures['fill_peak_mib']:.0f}, and listed {figures['list_peak_mib']:.0f}; the same "
        f"rows from a CSV {figures['csv_peak_mib']:.0f} MiB)",
        flush=True,
    )
    return figures


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    sign, listing, million = figures["signing"], figures["listing"], figures["million"]
    ferry = statistics.median(listing["ferry_seconds"])
    boto = statistics.median(listing["boto3_seconds"])
    lines = [
        "## Object stores: signing and listing",
        "",
        f"Load average {figures['load_before']} before, {figures['load_after']} after.",
        "",
        f"Signing, one URL at a time as ferry does it before each upload call "
        f"({sign['count']:,} URLs; GCS {min(sign['count'], GCS_SIGN_COUNT):,}):",
        "",
    ]
    lines += markdown_table(
        ["signer", "URLs/s", "goal"],
        [
            [
                "S3, obstore (ferry)",
                f"{sign['s3']:,.0f}",
                f"≥ {GOAL_SIGN_RATE:,}: {'met' if sign['s3'] >= GOAL_SIGN_RATE else 'NOT met'}",
            ],
            [
                "S3, boto3 generate_presigned_url",
                f"{sign['boto3']:,.0f}",
                f"obstore is {sign['s3'] / sign['boto3']:.1f}x",
            ],
            [
                "GCS, obstore (RSA-2048 per URL, in a worker thread in a run)",
                f"{sign['gcs']:,.0f}",
                "",
            ],
            ["Azure, Azure SDK SAS", f"{sign['azure']:,.0f}", ""],
        ],
    )
    lines += [
        "",
        f"Listing a prefix of {listing['objects']:,} objects on moto's S3 server, medians of "
        f"{len(listing['ferry_seconds'])}: `ferry run s3://bench/photos/ --dry-run` "
        f"{ferry:.1f} s, boto3's paginator {boto:.1f} s: **{listing['ratio']:.2f}x** "
        f"(goal ≤ {GOAL_LIST_RATIO}x: {'met' if listing['ratio'] <= GOAL_LIST_RATIO else 'NOT met'}"
        "). moto's pages dominate both (it scans the bucket for every page).",
        "",
        f"{million['objects']:,} objects in obstore's in-memory store, listed and planned by "
        f"ferry in {million['plan_seconds']:.1f} s, peak RSS {million['plan_peak_mib']:.0f} MiB. "
        f"The store alone peaks at {million['fill_peak_mib']:.0f} MiB filled and "
        f"{million['list_peak_mib']:.0f} MiB while its listing is drained (object_store's "
        "in-memory store collects a whole listing before it streams it; S3, GCS and Azure "
        "listings come a page at a time): ferry's listing and plan add "
        f"{million['plan_peak_mib'] - million['list_peak_mib']:.0f} MiB to that. The same "
        f"{million['objects']:,} bucket URIs planned from a CSV manifest (no store) peak at "
        f"{million['csv_peak_mib']:.0f} MiB.",
        "",
    ]
    return lines


def headline(figures: dict[str, Any]) -> str:
    """One line for the headline."""
    sign, listing = figures["signing"], figures["listing"]
    speedup = sign["s3"] / sign["boto3"]
    return (
        f"Object stores: {sign['s3']:,.0f} S3 URLs signed per second ({speedup:.0f}x "
        f"boto3); listing + `--dry-run` of {listing['objects']:,} objects "
        f"{listing['ratio']:.2f}x boto3's paginator on the same server; "
        f"{figures['million']['objects']:,} listed objects planned with "
        f"{figures['million']['plan_peak_mib'] - figures['million']['list_peak_mib']:.0f} MiB "
        "of peak RSS over listing them alone"
    )
