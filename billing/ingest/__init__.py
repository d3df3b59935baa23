"""The FOCUS ingest engine: reader (parse), rules (attribute and flag), writer (bulk insert).

The service `billing.services.ingest.batch_ingest` puts them together.
"""
