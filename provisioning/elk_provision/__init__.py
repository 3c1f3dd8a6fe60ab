"""Idempotent provisioning of the bundle's Elasticsearch and Kibana assets."""
