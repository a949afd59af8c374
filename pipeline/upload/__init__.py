"""Uploading rows: the bounded fan-out and its adaptive limit, one row's retries and pacing, the
API client and its transport, where a stream upload's bytes come from, and the checksums on
their way."""
