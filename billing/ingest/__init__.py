"""The FOCUS ingest engine: reader (parse), rules (attribute and flag), writer (bulk insert).

`engine.ingest_rows` puts them together, the one entry point the service
`billing.services.ingest.batch_ingest` calls (it keeps the rules around an import).
"""
