"""Object stores: S3, GCS and Azure Blob Storage buckets as sources and as manifests.

Every store operation goes through obstore (bindings of Rust's ``object_store``): listing a
prefix page by page, reading an object for a relay, reading a remote manifest, and signing GET
URLs for S3 and GCS (Azure SAS URLs come from the Azure SDK: see :mod:`.signing`). Modules:

* ``uris``: bucket URIs (``s3://``, ``gs://``, ``az://``, Azure's ``https://`` form);
* ``environment``: the credentials, from the providers' usual variables (the one place that
  reads them) and the one line that says which are missing;
* ``registry``: one client per bucket; obstore's errors translated into ferry's;
* ``signing``: a fresh signed URL per upload call, and :func:`~.signing.redact`;
* ``relay``: an object's bytes streamed into a stream upload;
* ``listing``, ``inventory``, ``manifest``: a prefix, or an S3 Inventory report, as a manifest;
* ``reader``: a remote manifest in a bucket, as a byte stream;
* ``needs``: which stores a manifest's rows use, checked before any upload.

Light to import: nothing here imports obstore until a store is used.
"""
