"""ferry's benchmarks: ``make bench`` (``python -m benchmarks``) writes ``benchmarks/RESULTS.md``.

Five benchmarks, each printing its figures and ratios as it goes:

=============  ================================================================================
``throughput``  rows/s against ``C / L`` beside a bare aiohttp loop, ``xargs curl`` and the
                spec's ``requests`` loop; a sweep over concurrency (:mod:`benchmarks.throughput`)
``overhead``    zero latency: rows/s and CPU seconds per 1,000 rows (:mod:`benchmarks.overhead`)
``memory``      peak RSS over 5,000, 50,000 and 200,000 rows; planning 1,000,000 rows
                (:mod:`benchmarks.memory`)
``server``      the File Upload API server: big stream, Base64 and URL uploads
                (:mod:`benchmarks.bench_server`)
``startup``     wall time and peak RSS of ``ferry --version`` and ``ferry status`` against
                ``python -c pass`` (:mod:`benchmarks.startup`)
=============  ================================================================================

Servers run in their own processes (:mod:`benchmarks.servers`), clients in theirs
(:mod:`benchmarks.clients`, and ``ferry run`` itself); :mod:`benchmarks.measure` times them.
"""
