"""Statement services: generation, PDF rendering and the email outbox."""
