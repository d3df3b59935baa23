"""Converters: usage the cluster and the storage system report, priced and written as FOCUS 1.2.

`billing.services.convert.usage_convert` runs them (behind `openchargeback convert`,
`openchargeback ingest --from` and the admin import page's file kinds).
"""
