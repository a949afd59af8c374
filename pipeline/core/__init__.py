"""The bottom of the library: errors, settings, schema, units, logs, file names and byte-bounded
batches, and what a run reports (summary, progress, metrics). ``fileapi`` and the CLI's start-up
import from here without polars or aiohttp."""
